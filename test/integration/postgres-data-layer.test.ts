import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { openDatabase, type Db } from '../../src/db/database.js';
import { DataLayer, afterCommit, all, first, run, type Executor } from '../../src/db/data-layer.js';
import { openPostgres, postgresMigrations, redact } from '../../src/db/postgres.js';
import { MIGRATIONS } from '../../src/db/migrations.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { ManualClock } from '../../src/clock/clock.js';
import { Deadlines } from '../../src/core/deadlines.js';
import { pino } from 'pino';
import { startPostgres, type PostgresHandle } from '../support/postgres-cluster.js';

let server: PostgresHandle;
let postgres: DataLayer;
let dir: string;
let sqliteHandle: Db;
let sqlite: DataLayer;

beforeAll(async () => {
  server = await startPostgres();
  postgres = await openPostgres(server.url);
  dir = mkdtempSync(join(tmpdir(), 'waygate-pg-parity-'));
  sqliteHandle = openDatabase(join(dir, 'waygate.db'));
  sqlite = DataLayer.sqlite(sqliteHandle);
}, 60_000);

afterAll(async () => {
  await postgres?.close();
  await server?.stop();
  sqliteHandle?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the data layer on PostgreSQL', () => {
  it('creates the schema SQLite reaches with its migrations, once, and a second start applies nothing', async () => {
    const tables = async (data: DataLayer, query: ReturnType<typeof sql<{ name: string }>>) => (await all(data.db, query)).map((r) => r.name).sort();
    const inPostgres = await tables(postgres, sql<{ name: string }>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`);
    const inSqlite = await tables(sqlite, sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`);
    // audit_counter stands in for SQLite's own sqlite_sequence (see postgres-schema.ts).
    expect(inPostgres).toEqual([...inSqlite, 'audit_counter'].sort());
    const versions = await all(postgres.db, sql<{ version: number }>`SELECT version FROM schema_migrations`);
    // The baseline (SQLite's first 15 at once), then each later migration.
    expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual(postgresMigrations().map((m) => m.version));
    expect(Math.max(...versions.map((v) => v.version))).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
    const again = await openPostgres(server.url);
    await again.close();
    expect(await all(postgres.db, sql`SELECT version FROM schema_migrations`)).toHaveLength(postgresMigrations().length);
  });

  it('refuses a database written by a newer Waygate, naming the migration and keeping its password out of the message', async () => {
    await run(postgres.db, sql`INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')`);
    try {
      const withPassword = server.url.replace('://', '://waygate:s3cret@');
      await expect(openPostgres(withPassword)).rejects.toThrow(/^database postgres:\/\/waygate:\*\*\*@.* has migrations this version of Waygate does not know: 999 \(from the future\)/);
    } finally {
      await run(postgres.db, sql`DELETE FROM schema_migrations WHERE version = 999`);
    }
    expect(redact('postgres://u:p@h/db')).toBe('postgres://u:***@h/db');
  });

  it('needs a PostgreSQL text for every migration after the baseline', () => {
    const next = Math.max(...MIGRATIONS.map((m) => m.version)) + 1;
    expect(() => postgresMigrations([...MIGRATIONS, { version: next, name: 'sqlite only', sql: 'SELECT 1' }])).toThrow(`migration ${next} (sqlite only) has no PostgreSQL text`);
  });

  it('reads ids, epoch milliseconds and counts back as numbers, as SQLite does', async () => {
    const at = Date.parse('2026-12-01T09:00:00Z');
    const row = await first(
      postgres.db,
      sql<{ id: number }>`INSERT INTO log_error_counts (counted_at, error_lines) VALUES (${at}, ${3}) RETURNING id`,
    );
    const read = await first(
      postgres.db,
      sql<{ at: number; n: number; lines: number }>`SELECT MAX(counted_at) AS at, COUNT(*) AS n, SUM(error_lines) AS lines FROM log_error_counts`,
    );
    expect(typeof row?.id).toBe('number');
    expect(read).toEqual({ at, n: 1, lines: 3 });
  });

  it('commits a transaction whole or not at all, and runs commit hooks only after a commit', async () => {
    const hooks: string[] = [];
    await expect(
      postgres.transaction(async (tx) => {
        await run(tx, sql`INSERT INTO service_state (key, value) VALUES ('lost', 'x')`);
        afterCommit(tx, () => hooks.push('lost'));
        throw new Error('failed half-way');
      }),
    ).rejects.toThrow('failed half-way');
    await postgres.transaction(async (tx) => {
      await postgres.within(tx, (inner) => run(inner, sql`INSERT INTO service_state (key, value) VALUES ('kept', 'x')`));
      afterCommit(tx, () => hooks.push('kept'));
    });
    expect(hooks).toEqual(['kept']);
    expect(await all(postgres.db, sql`SELECT key FROM service_state ORDER BY key`)).toEqual([{ key: 'kept' }]);
  });

  it('reads and sets a field of a JSON text column like SQLite', async () => {
    for (const data of [postgres, sqlite]) {
      await run(data.db, sql`INSERT INTO service_state (key, value) VALUES ('json', ${JSON.stringify({ renderKey: 'storm:1', n: 1 })})`);
      await run(data.db, sql`UPDATE service_state SET value = ${data.jsonWith('value', 'progress', JSON.stringify({ fileId: 'F1' }))} WHERE key = 'json'`);
      const row = await first(data.db, sql<{ field: string | null; value: string }>`SELECT ${data.jsonText('value', 'renderKey')} AS field, value FROM service_state WHERE key = 'json'`);
      expect(row?.field, data.dialect).toBe('storm:1');
      expect(JSON.parse(row?.value ?? '{}'), data.dialect).toEqual({ renderKey: 'storm:1', n: 1, progress: { fileId: 'F1' } });
      await run(data.db, sql`DELETE FROM service_state WHERE key = 'json'`);
    }
  });

  it("keeps the outbox's lane and count bookkeeping exactly as SQLite's triggers do", async () => {
    // The same inserts, deliveries, failures, retries, requeues and deletions on both databases, in an order a
    // busy day could produce; afterwards the bookkeeping tables must match row for row.
    const script = async (ex: Executor) => {
      const insert = async (lane: string, priority: number, kind = 'post') =>
        (await first(
          ex,
          sql<{ id: number }>`INSERT INTO outbox (lane, kind, payload, priority, next_attempt_at, created_at) VALUES (${lane}, ${kind}, '{}', ${priority}, 0, 0) RETURNING id`,
        ))!.id;
      const status = (id: number, to: string) => run(ex, sql`UPDATE outbox SET status = ${to} WHERE id = ${id}`);
      const a1 = await insert('channel:A', 1);
      const a2 = await insert('channel:A', 2);
      const a3 = await insert('channel:A', 0, 'update');
      const b1 = await insert('channel:B', 0, 'update');
      const c1 = await insert('response:C', 1);
      await run(ex, sql`UPDATE outbox_lanes SET paced_until = 500, ready_at = 500 WHERE lane = 'channel:A'`);
      await status(a2, 'delivered'); // the most urgent row leaves: the lane's priority drops to the next one
      await run(ex, sql`UPDATE outbox_lanes SET ready_at = 900, waiting_priority = 1 WHERE lane = 'channel:A'`); // a backoff holds it
      const a4 = await insert('channel:A', 2); // more urgent than the one waiting: the lane may go again
      await status(a1, 'failed');
      await status(a1, 'pending'); // retried by hand
      await status(b1, 'delivered'); // the lane empties
      await status(c1, 'failed');
      await run(ex, sql`DELETE FROM outbox WHERE id = ${a3}`); // superseded, never sent
      await run(ex, sql`DELETE FROM outbox WHERE id = ${c1}`);
      await status(a4, 'delivered');
      await insert('channel:B', 1);
    };
    const snapshot = async (data: DataLayer) => ({
      lanes: await all(data.db, sql`SELECT lane, pending, top_priority, paced_until, ready_at, waiting_priority FROM outbox_lanes ORDER BY lane`),
      counts: await all(data.db, sql`SELECT status, n FROM outbox_counts ORDER BY status`),
    });
    await postgres.transaction(script);
    await sqlite.transaction(script);
    const expected = await snapshot(sqlite);
    expect(expected.counts).toEqual([
      { status: 'failed', n: 0 },
      { status: 'pending', n: 2 },
    ]);
    expect(await snapshot(postgres)).toEqual(expected);
  });

  it('keeps the audit chain verifiable across a rolled-back append and appends made at the same time', async () => {
    const audit = new AuditLog(postgres, new ManualClock('2026-12-01T09:00:00Z'));
    await audit.init();
    await expect(
      postgres.transaction(async (tx) => {
        await audit.record(tx, { actor: 'U1', action: 'job.run', subject: 'rolled back' });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    // Appends from many transactions at once must still form one chain, in id order.
    await Promise.all(Array.from({ length: 20 }, (_, i) => postgres.transaction((tx) => audit.record(tx, { actor: `U${i}`, action: 'job.run' }))));
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 20 });
  });

  it('fires a deadline once when two firings overlap (the timer and start-up), as on SQLite', async () => {
    const clock = new ManualClock('2026-12-01T09:00:00Z');
    const deadlines = new Deadlines(postgres, clock, pino({ level: 'silent' }));
    const fired: string[] = [];
    deadlines.on('overlap', async (due, _now, tx) => {
      // A handler's own statements take time on a real connection; the other firing runs meanwhile.
      await run(tx, sql`SELECT pg_sleep(0.05)`);
      fired.push(...due.map((d) => d.key));
    });
    await deadlines.schedule(postgres.db, 'overlap', 'k1', clock.nowMs() - 1);
    await Promise.all([deadlines.start(), deadlines.fire(), deadlines.fire()]);
    await deadlines.stop();
    expect(fired).toEqual(['k1']);
  });

  it('lets two replicas start at once: one migrates, the other waits and finds nothing to do', async () => {
    const name = `waygate_race_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Pool({ connectionString: server.url, max: 1 });
    await admin.query(`CREATE DATABASE ${name}`);
    try {
      const url = new URL(server.url);
      url.pathname = `/${name}`;
      const both = await Promise.all([openPostgres(url.toString()), openPostgres(url.toString())]);
      expect(await all(both[0].db, sql`SELECT version FROM schema_migrations`)).toHaveLength(postgresMigrations().length);
      await Promise.all(both.map((d) => d.close()));
    } finally {
      await admin.query(`DROP DATABASE ${name}`);
      await admin.end();
    }
  });
});
