import { describe, expect, it } from 'vitest';
import { offsiteOutcome, offsiteSuffix } from '../../src/backup/offsite-outcome.js';

describe("a backup run's offsite outcome in its summary", () => {
  const summary = (offsite: { ok: boolean; detail: string } | null) => `waygate_20260302.db (10 rows, integrity ok)${offsiteSuffix({ offsite })}`;

  it('reads back what the run wrote: ok, failed with the first line of why, or no offsite copy', () => {
    expect(offsiteOutcome(summary({ ok: true, detail: '' }))).toEqual({ ok: true });
    expect(offsiteOutcome(summary({ ok: false, detail: 'rsync: connection refused\nmore' }))).toEqual({ ok: false, detail: 'rsync: connection refused' });
    expect(offsiteOutcome(summary(null))).toBeNull();
  });

  it('says nothing for a summary written before runs recorded it', () => {
    expect(offsiteOutcome('waygate_20260302.db (10 rows, integrity ok)')).toBeUndefined();
    expect(offsiteOutcome(null)).toBeUndefined();
  });
});
