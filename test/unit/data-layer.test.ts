import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openDatabase, type Db } from '../../src/db/database.js';
import { DataLayer, afterCommit, all, first, isUniqueViolation, run } from '../../src/db/data-layer.js';
import { Outbox } from '../../src/outbox/outbox.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { Deadlines } from '../../src/core/deadlines.js';
import { ManualClock } from '../../src/clock/clock.js';
import { createLogger } from '../../src/logging/logger.js';

describe('the async data layer on SQLite', () => {
  let dir: string;
  let db: Db;
  let data: DataLayer;
  const clock = new ManualClock(Date.parse('2026-12-01T09:00:00Z'));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-data-'));
    db = openDatabase(join(dir, 'waygate.db'));
    data = DataLayer.sqlite(db);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const states = async () => all(data.db, sql<{ key: string; value: string }>`SELECT key, value FROM service_state ORDER BY key`);

  it('is one per database handle, so its transactions queue on the one connection', async () => {
    expect(DataLayer.sqlite(db)).toBe(data);
    const both = await Promise.all([
      data.transaction(async (tx) => run(tx, sql`INSERT INTO service_state (key, value) VALUES ('a', '1')`)),
      data.transaction(async (tx) => run(tx, sql`INSERT INTO service_state (key, value) VALUES ('b', '2')`)),
    ]);
    expect(both).toEqual([1, 1]);
    expect(await states()).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: '2' },
    ]);
  });

  it('rolls back everything written in a failed transaction, also what synchronous code wrote on the same handle', async () => {
    const nudged: string[] = [];
    await expect(
      data.transaction(async (tx) => {
        await run(tx, sql`INSERT INTO service_state (key, value) VALUES ('kept', 'no')`);
        db.prepare(`INSERT INTO service_state (key, value) VALUES ('sync', 'no')`).run();
        afterCommit(tx, () => nudged.push('rolled back'));
        throw new Error('the change failed half-way');
      }),
    ).rejects.toThrow('the change failed half-way');
    expect(await states()).toEqual([]);
    expect(nudged).toEqual([]);
  });

  it('runs commit hooks only once the transaction has committed', async () => {
    const seenByHook: number[] = [];
    await data.transaction(async (tx) => {
      await run(tx, sql`INSERT INTO service_state (key, value) VALUES ('x', '1')`);
      afterCommit(tx, () => {
        seenByHook.push(db.inTransaction ? -1 : (db.prepare(`SELECT COUNT(*) AS n FROM service_state`).get() as { n: number }).n);
      });
      expect(seenByHook).toEqual([]);
    });
    expect(seenByHook).toEqual([1]);
  });

  it('within() joins an open transaction instead of opening a second one', async () => {
    await expect(
      data.transaction(async (tx) => {
        await data.within(tx, async (inner) => run(inner, sql`INSERT INTO service_state (key, value) VALUES ('inner', '1')`));
        throw new Error('outer failed');
      }),
    ).rejects.toThrow('outer failed');
    expect(await states()).toEqual([]);
    await data.within(data.db, async (tx) => run(tx, sql`INSERT INTO service_state (key, value) VALUES ('own', '1')`));
    expect(await states()).toEqual([{ key: 'own', value: '1' }]);
  });

  it('reads a JSON text field', async () => {
    await run(data.db, sql`INSERT INTO service_state (key, value) VALUES ('j', ${JSON.stringify({ renderKey: 'card:P1' })})`);
    const row = await first(data.db, sql<{ field: string | null }>`SELECT ${data.jsonText('value', 'renderKey')} AS field FROM service_state`);
    expect(row?.field).toBe('card:P1');
  });

  it('queues outbox rows, audit entries and deadlines in the caller\'s transaction, as the synchronous forms did', async () => {
    const outbox = new Outbox(DataLayer.sqlite(db), clock);
    const audit = new AuditLog(DataLayer.sqlite(db), clock);
    const deadlines = new Deadlines(DataLayer.sqlite(db), clock, createLogger({ level: 'silent', secrets: [] }));
    let woken = 0;
    outbox.onEnqueue(() => woken++);
    await expect(
      data.transaction(async (tx) => {
        await outbox.enqueue(tx, { kind: 'post', payload: { channel: 'C1', text: 'lost' } });
        await audit.record(tx, { actor: 'U1', action: 'job.run' });
        await deadlines.schedule(tx, 'test', 'lost', clock.nowMs() + 60_000);
        throw new Error('failed');
      }),
    ).rejects.toThrow('failed');
    await new Promise((resolve) => setImmediate(resolve));
    expect(woken).toBe(0);

    await data.transaction(async (tx) => {
      await outbox.enqueue(tx, { kind: 'post', payload: { channel: 'C1', text: 'first' }, messageKey: 'incident:k1' });
      await outbox.enqueue(tx, { kind: 'post', payload: { channel: 'C1', text: 'reply', threadKey: 'incident:k1' }, urgent: true });
      await audit.record(tx, { actor: 'U1', action: 'job.run' });
      await audit.record(tx, { actor: 'U1', action: 'digest.posted' });
      await deadlines.schedule(tx, 'test', 'kept', clock.nowMs() + 60_000);
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(woken).toBe(1);
    // The urgent reply is held to its parent's priority, so it cannot overtake it.
    expect(db.prepare(`SELECT kind, priority, json_extract(payload, '$.text') AS text FROM outbox ORDER BY id`).all()).toEqual([
      { kind: 'post', priority: 1, text: 'first' },
      { kind: 'post', priority: 1, text: 'reply' },
    ]);
    expect(db.prepare(`SELECT key FROM deadlines`).all()).toEqual([{ key: 'kept' }]);
    expect((await audit.recent(10)).map((e) => e.action)).toEqual(['digest.posted', 'job.run']);
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 2 });
  });
  it('recognises a unique-index violation on SQLite and by PostgreSQL\'s code, and nothing else', async () => {
    await run(data.db, sql`INSERT INTO service_state (key, value) VALUES ('once', '1')`);
    const err = await run(data.db, sql`INSERT INTO service_state (key, value) VALUES ('once', '2')`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isUniqueViolation(err)).toBe(true);
    expect(isUniqueViolation(Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' }))).toBe(true);
    expect(isUniqueViolation(Object.assign(new Error('not null'), { code: 'SQLITE_CONSTRAINT_NOTNULL' }))).toBe(false);
    expect(isUniqueViolation(new Error('no code'))).toBe(false);
    expect(isUniqueViolation(undefined)).toBe(false);
  });

});
