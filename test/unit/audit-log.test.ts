import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { ManualClock } from '../../src/clock/clock.js';
import { openDatabase, type Db } from '../../src/db/database.js';
import { DataLayer } from '../../src/db/data-layer.js';

interface RawRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  subject: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

describe('AuditLog', () => {
  let dir: string;
  let dbPath: string;
  let db: Db;
  let clock: ManualClock;
  let audit: AuditLog;
  let data: DataLayer;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-audit-'));
    dbPath = join(dir, 'nested', 'waygate.db');
    db = openDatabase(dbPath);
    clock = new ManualClock('2026-03-02T09:00:00Z');
    audit = new AuditLog(DataLayer.sqlite(db), clock);
    data = DataLayer.sqlite(db);
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const rows = (): RawRow[] => db.prepare('SELECT * FROM audit_log ORDER BY id').all() as RawRow[];

  async function recordThree(): Promise<void> {
    await audit.record(data.db, { actor: 'U0ALICE', action: 'job.run', subject: 'housekeeping', details: { manual: true } });
    clock.advance(60_000);
    await audit.record(data.db, { actor: 'U0BOB', action: 'digest.posted', subject: 'high-cpu', details: { for: '1h' } });
    clock.advance(60_000);
    await audit.record(data.db, { actor: 'system', action: 'backup.run' });
  }

  it('verifies an empty log as ok with zero entries', async () => {
    expect(await audit.verify()).toEqual({ ok: true, entries: 0, head: null, keying: { keyed: false } });
  });

  it('stores what was recorded, with the clock time', async () => {
    await recordThree();
    const [first, , third] = rows();
    expect(first).toMatchObject({
      at: Date.parse('2026-03-02T09:00:00Z'),
      actor: 'U0ALICE',
      action: 'job.run',
      subject: 'housekeeping',
    });
    expect(JSON.parse(first!.details)).toEqual({ manual: true });
    expect(third).toMatchObject({ at: Date.parse('2026-03-02T09:02:00Z'), subject: null, details: '{}' });
  });

  it('chains each entry to the one before it, starting from an all-zero genesis hash', async () => {
    await recordThree();
    const list = rows();
    expect(list).toHaveLength(3);
    expect(list[0]!.prev_hash).toBe('0'.repeat(64));
    expect(list[1]!.prev_hash).toBe(list[0]!.hash);
    expect(list[2]!.prev_hash).toBe(list[1]!.hash);
    for (const row of list) expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(list.map((r) => r.hash)).size).toBe(3);
  });

  it('verifies an untouched log as ok and counts its entries', async () => {
    await recordThree();
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 3, head: (await audit.recent(1))[0]?.hash });
  });

  it('keeps chaining across a reopen of the database file', async () => {
    await recordThree();
    db.close();
    db = openDatabase(dbPath);
    audit = new AuditLog(DataLayer.sqlite(db), clock);
    await audit.record(DataLayer.sqlite(db).db, { actor: 'U0CAROL', action: 'job.run' });
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 4 });
  });

  it('detects an edited details column at the edited row', async () => {
    await recordThree();
    const target = rows()[1]!;
    db.prepare('UPDATE audit_log SET details = ? WHERE id = ?').run(JSON.stringify({ for: '1m' }), target.id);
    expect(await audit.verify()).toEqual({
      ok: false,
      brokenAt: target.id,
      reason: 'content does not match hash',
      entry: { id: target.id, at: target.at, actor: target.actor, action: target.action, subject: target.subject },
    });
  });

  it('detects an edited actor at the edited row', async () => {
    await recordThree();
    const target = rows()[0]!;
    db.prepare('UPDATE audit_log SET actor = ? WHERE id = ?').run('U0MALLORY', target.id);
    // The row as it is now: the verifier names the edited content, which is what a reader finds in the table.
    expect(await audit.verify()).toEqual({
      ok: false,
      brokenAt: target.id,
      reason: 'content does not match hash',
      entry: { id: target.id, at: target.at, actor: 'U0MALLORY', action: target.action, subject: target.subject },
    });
  });

  it('detects a deleted middle row at the row that followed it', async () => {
    await recordThree();
    const [, middle, last] = rows();
    db.prepare('DELETE FROM audit_log WHERE id = ?').run(middle!.id);
    expect(await audit.verify()).toMatchObject({ ok: false, brokenAt: last!.id, reason: 'previous-hash link broken', entry: { id: last!.id, action: last!.action } });
  });

  it('detects a deleted first row', async () => {
    await recordThree();
    const [first, second] = rows();
    db.prepare('DELETE FROM audit_log WHERE id = ?').run(first!.id);
    expect(await audit.verify()).toMatchObject({ ok: false, brokenAt: second!.id, reason: 'previous-hash link broken', entry: { id: second!.id } });
  });

  it('returns recent entries newest first, limited to the count asked for', async () => {
    await recordThree();
    const recent = await audit.recent(2);
    expect(recent.map((r) => r.action)).toEqual(['backup.run', 'digest.posted']);
    expect((await audit.recent(10)).map((r) => r.actor)).toEqual(['system', 'U0BOB', 'U0ALICE']);
  });
});
