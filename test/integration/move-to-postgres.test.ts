import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { ManualClock } from '../../src/clock/clock.js';
import { openDatabase } from '../../src/db/database.js';
import { DataLayer, all, run } from '../../src/db/data-layer.js';
import { openPostgres } from '../../src/db/postgres.js';
import { moveToPostgres } from '../../src/db/move-to-postgres.js';
import { Outbox } from '../../src/outbox/outbox.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { startTestBot, USERS } from '../helpers/bot.js';
import { startPostgres, type PostgresHandle } from '../support/postgres-cluster.js';

let server: PostgresHandle;
let dir: string;
beforeAll(async () => {
  server = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), 'waygate-move-'));
}, 60_000);
afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A database the way a team's would look after some real use on SQLite. */
async function usedDatabase(): Promise<string> {
  const clock = new ManualClock('2026-03-02T08:00:00.000Z');
  const bot = await startTestBot({ clock, pagerDuty: true, dir });
  try {
    bot.slack.addUser({ id: USERS.oncall, name: 'olga', email: 'olga@example.com' });
    const at = clock.now().toISOString();
    for (const [id, number] of [['PMOVE1', 7], ['PMOVE2', 8]] as const) {
      await bot.pdSigner.send(bot.pdSigner.incidentEvent('incident.triggered', { id, number, priority: 'P1', created_at: at }, { eventId: `EV${id}`, occurredAt: at }));
    }
    await bot.waygate.inboxProcessor.whenIdle();
    await bot.signer.slashCommand({ text: 'ack P1', userId: USERS.oncall, responseUrl: bot.slack.responseUrl('ack') });
    await bot.signer.slashCommand({ text: 'security Suspicious logins from an unknown network', userId: USERS.security, responseUrl: bot.slack.responseUrl('security') });
    await bot.settle();
  } finally {
    await bot.stop();
  }
  const file = join(dir, 'waygate.db');
  // Messages still waiting for Slack when the team moves.
  const db = openDatabase(file);
  const outbox = new Outbox(DataLayer.sqlite(db), clock);
  const data = DataLayer.sqlite(db);
  await data.transaction(async (tx) => {
    await outbox.enqueue(tx, { kind: 'post', payload: { channel: 'C0OPS', text: 'still waiting for Slack' }, messageKey: 'incident:PMOVE2' });
    await outbox.enqueue(tx, { kind: 'post', payload: { channel: 'C0OPS', text: 'a reply', threadKey: 'incident:PMOVE2' } });
  });
  db.close();
  return file;
}

describe('moving an existing SQLite database to PostgreSQL', () => {
  it('copies incidents, procedure runs, audit rows and outbox rows with a row-count check; the audit chain still verifies', async () => {
    const file = await usedDatabase();
    const source = openDatabase(file, undefined);
    const target = await openPostgres(server.url);
    try {
      const count = (table: string) => (source.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
      for (const table of ['incidents', 'sop_runs', 'audit_log', 'outbox']) expect(count(table), table).toBeGreaterThan(0);
      expect(source.prepare(`SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'`).get()).toEqual({ n: 2 });

      const report = await moveToPostgres(source, target);
      expect(report.ok).toBe(true);
      for (const table of ['incidents', 'incident_acks', 'sop_runs', 'audit_log', 'outbox', 'executions', 'deadlines', 'slack_messages']) {
        const row = report.tables.find((t) => t.table === table);
        expect(row, table).toEqual({ table, sqlite: count(table), postgres: count(table) });
      }

      // The chain is the same rows, byte for byte, and verifies where it now lives.
      const columns = 'id, at, actor, action, subject, details, prev_hash, hash';
      expect(await all(target.db, sql.raw(`SELECT ${columns} FROM audit_log ORDER BY id`))).toEqual(source.prepare(`SELECT ${columns} FROM audit_log ORDER BY id`).all());
      const sqliteChain = await new AuditLog(DataLayer.sqlite(source), new ManualClock()).verify();
      expect(sqliteChain).toMatchObject({ ok: true });
      expect(await new AuditLog(target, new ManualClock()).verify()).toEqual(sqliteChain);
      // The outbox's queue carried over: the pending rows, their lanes and counters, as SQLite had them.
      expect(await all(target.db, sql`SELECT lane, pending, top_priority FROM outbox_lanes WHERE pending > 0`)).toEqual(
        source.prepare(`SELECT lane, pending, top_priority FROM outbox_lanes WHERE pending > 0`).all(),
      );
      // New rows continue after the copied ids instead of colliding with them.
      const maxId = (source.prepare(`SELECT MAX(id) AS id FROM audit_log`).get() as { id: number }).id;
      const [next] = await all(
        target.db,
        sql<{ id: number }>`INSERT INTO audit_log (at, actor, action, details, prev_hash, hash) VALUES (0, 'x', 'x', '{}', '', '') RETURNING id`,
      );
      expect(next?.id).toBe(maxId + 1);

      // A second move into the same database is refused: it already holds the data.
      await run(target.db, sql`DELETE FROM audit_log WHERE id = ${maxId + 1}`);
      await expect(moveToPostgres(source, target)).rejects.toThrow("PostgreSQL's incidents already holds rows: the move needs an empty database");
    } finally {
      source.close();
      await target.close();
    }
  });
});
