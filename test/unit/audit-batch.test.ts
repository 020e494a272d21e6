import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditBatch } from '../../src/audit/audit-batch.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { ManualClock } from '../../src/clock/clock.js';
import { openDatabase, type Db } from '../../src/db/database.js';
import { DataLayer } from '../../src/db/data-layer.js';

describe('AuditBatch: the record of each command, written a moment after its answer', () => {
  let dir: string;
  let db: Db;
  let audit: AuditLog;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-audit-batch-'));
    db = openDatabase(join(dir, 'waygate.db'));
    audit = new AuditLog(DataLayer.sqlite(db), new ManualClock('2026-03-02T09:00:00Z'));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const actions = () => db.prepare('SELECT actor, subject FROM audit_log ORDER BY id').all();

  it('writes the entries that arrived meanwhile together, in order, chained like any other entries', async () => {
    const due: Array<() => Promise<void>> = [];
    const data = DataLayer.sqlite(db);
    const batch = new AuditBatch(
      audit,
      data.db,
      (err) => {
        throw err;
      },
      (flush) => due.push(flush),
    );
    await audit.record(data.db, { actor: 'U0FIRST', action: 'job.run', subject: 'before' });
    batch.add({ actor: 'U0ANA', action: 'command.run', subject: 'help' });
    batch.add({ actor: 'U0BEN', action: 'command.run', subject: 'whoami' });
    expect(actions()).toHaveLength(1);
    expect(due).toHaveLength(1);
    await due[0]!();
    await batch.flush();
    expect(actions()).toEqual([
      { actor: 'U0FIRST', subject: 'before' },
      { actor: 'U0ANA', subject: 'help' },
      { actor: 'U0BEN', subject: 'whoami' },
    ]);
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 3 });
  });

  it('writes what is pending when flushed (the bot stopping), and reports a failed write instead of throwing', async () => {
    const failures: unknown[] = [];
    const batch = new AuditBatch(audit, DataLayer.sqlite(db).db, (err) => failures.push(err), () => undefined);
    batch.add({ actor: 'U0ANA', action: 'command.run', subject: 'health' });
    await batch.flush();
    expect(actions()).toEqual([{ actor: 'U0ANA', subject: 'health' }]);
    db.close();
    batch.add({ actor: 'U0ANA', action: 'command.run', subject: 'health' });
    await expect(batch.flush()).resolves.toBeUndefined();
    expect(failures).toHaveLength(1);
    db = openDatabase(join(dir, 'waygate.db'));
  });
});
