import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { ManualClock } from '../../src/clock/clock.js';
import { all } from '../../src/db/data-layer.js';
import type { ProcessRunner, RunResult } from '../../src/runner/runner.js';
import { openPostgres } from '../../src/db/postgres.js';
import { BOT_TOKEN, DEFAULT_YAML, fetchHealthDetails, healthDetails, PD_TOKEN, startTestBot, USERS, type TestBot } from '../helpers/bot.js';
import { startHealthServer } from '../helpers/health-server.js';
import { PagerDutyStandIn } from '../../standins/pagerduty/index.js';
import { SlackStandIn } from '../../standins/slack/index.js';
import { startPostgres, type PostgresHandle } from '../support/postgres-cluster.js';

let server: PostgresHandle;
let dir: string;
beforeAll(async () => {
  server = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), 'waygate-pg-bot-'));
}, 60_000);
afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Waygate on PostgreSQL (WAYGATE_DATABASE_URL)', () => {
  it('migrates at start, turns a PagerDuty alert into a card, acknowledges it from Slack, and keeps it all across a restart', async () => {
    const clock = new ManualClock('2026-03-02T08:00:00.000Z');
    const pd = await PagerDutyStandIn.start({ token: PD_TOKEN });
    const start = () => startTestBot({ clock, pagerDuty: pd, dir, env: { WAYGATE_DATABASE_URL: server.url } });
    let bot: TestBot | undefined = await start();
    try {
      bot.slack.addUser({ id: USERS.oncall, name: 'olga', email: 'olga@example.com' });
      const at = clock.now().toISOString();
      const webhook = () => bot!.pdSigner.send(bot!.pdSigner.incidentEvent('incident.triggered', { id: 'PPG0001', number: 501, priority: 'P1', title: 'database replica lag', created_at: at }, { eventId: 'EVPG0001', occurredAt: at }));
      expect((await webhook()).status).toBe(200);
      // PagerDuty's redelivery of the same event is answered and changes nothing.
      expect((await webhook()).status).toBe(200);
      await bot.waygate.inboxProcessor.whenIdle();
      pd.addIncident({ id: 'PPG0001', number: 501, status: 'triggered', title: 'database replica lag' });
      await bot.settle();
      const cards = bot.slack.messages('C0ALERTS');
      expect(cards).toHaveLength(1);
      expect(cards[0]!.text).toContain('#501');

      const res = await bot.signer.slashCommand({ text: 'ack P1', userId: USERS.oncall, responseUrl: bot.slack.responseUrl('ack') });
      expect(res.json.text).toContain('Acknowledged 1 P1 incident(s)');
      await bot.settle();
      expect(pd.calls('rest').filter((c) => c.method === 'PUT')).toEqual([
        expect.objectContaining({ path: '/incidents/PPG0001', body: { incident: { type: 'incident_reference', status: 'acknowledged' } }, headers: expect.objectContaining({ from: 'olga@example.com' }) }),
      ]);
      expect(JSON.stringify(bot.slack.messages('C0ALERTS')[0]!.blocks)).toContain('Acknowledged');
      expect(await healthDetails(bot.url)).toMatchObject({ status: 'ok', database: { reachable: true }, outbox: { pending: 0, failed: 0 } });
      // On PostgreSQL there is no SQLite file: the bot says so instead of handing out a handle.
      expect(() => bot!.waygate.services.db).toThrow('this Waygate runs on PostgreSQL');

      // A second Waygate on the same database is a follower: it answers PagerDuty and Slack, and the leader
      // (woken by it) applies the event and posts the card.
      const leaderHealth = await healthDetails<{ leadership: { role: string; replica: string; holder: string } }>(bot.url);
      expect(leaderHealth.leadership).toMatchObject({ mode: 'replicas', role: 'leader' });
      expect(leaderHealth.leadership.holder).toBe(leaderHealth.leadership.replica);
      const followerDir = mkdtempSync(join(tmpdir(), 'waygate-pg-follower-'));
      const follower = await startTestBot({ clock, slack: bot.slack, pagerDuty: pd, dir: followerDir, env: { WAYGATE_DATABASE_URL: server.url } });
      try {
        expect(await healthDetails(follower.url)).toMatchObject({ leadership: { mode: 'replicas', role: 'follower', holder: leaderHealth.leadership.replica } });
        const sent = await follower.pdSigner.send(
          follower.pdSigner.incidentEvent('incident.triggered', { id: 'PPG0002', number: 502, priority: 'P2', title: 'disk filling', created_at: at }, { eventId: 'EVPG0002', occurredAt: at }),
        );
        expect(sent.status).toBe(200);
        // A request Slack sends again (a retry, or a replay of its bytes) is recognised on another replica too.
        const first = await bot.signer.slashCommand({ text: 'help', userId: USERS.oncall, responseUrl: bot.slack.responseUrl('help'), triggerId: 'TRIG-REPLICAS-1' });
        expect(first.json.text).not.toContain('already reached Waygate');
        const again = await follower.signer.slashCommand({ text: 'help', userId: USERS.oncall, responseUrl: bot.slack.responseUrl('help'), triggerId: 'TRIG-REPLICAS-1' }, { retryNum: 1 });
        expect(again.json.text).toBe('That request already reached Waygate, so it was not run again. Type the command again if you meant to repeat it.');
        // Applied by the leader without the test telling it to: the follower woke it.
        await bot.slack.waitFor(async () => (await healthDetails<{ inbox: { pending: number } }>(bot!.url)).inbox.pending === 0);
        await bot.settle();
        expect(bot.slack.messages('C0ALERTS').map((m) => m.text).filter((t) => t.includes('#502'))).toHaveLength(1);
      } finally {
        await follower.stop();
        // A folder the test brings stays with the test (startTestBot keeps it): it goes here.
        rmSync(followerDir, { recursive: true, force: true });
      }
      await bot.waygate.inboxProcessor.whenIdle();
      await bot.settle();

      await bot.stop();
      bot = await start();
      const listed = await bot.signer.slashCommand({ text: 'incidents', userId: USERS.oncall, responseUrl: bot.slack.responseUrl('incidents') });
      expect(listed.json.text).toBe('2 open incident(s)');
      expect(JSON.stringify(listed.json.blocks)).toContain('#501');
      expect(await bot.waygate.services.audit.verify()).toMatchObject({ ok: true });
    } finally {
      await bot?.stop();
      await pd.close();
    }
    // Everything lives in PostgreSQL: the incident, its acknowledgement and the audit trail.
    const data = await openPostgres(server.url);
    try {
      expect(await all(data.db, sql`SELECT id, status, acknowledged_by FROM incidents ORDER BY id`)).toEqual([
        { id: 'PPG0001', status: 'acknowledged', acknowledged_by: USERS.oncall },
        { id: 'PPG0002', status: 'triggered', acknowledged_by: null },
      ]);
      expect(await all(data.db, sql`SELECT event_id FROM webhook_inbox ORDER BY event_id`)).toEqual([{ event_id: 'EVPG0001' }, { event_id: 'EVPG0002' }]);
      const actions = (await all(data.db, sql<{ action: string }>`SELECT action FROM audit_log ORDER BY id`)).map((r) => r.action);
      expect(actions).toEqual(expect.arrayContaining(['incident.opened', 'incident.acknowledged', 'command.run']));
    } finally {
      await data.close();
    }
  });

  it('announces an outage once, although the schedule and the re-check sample at the same moments', async () => {
    // On SQLite samples took turns on the one connection; on PostgreSQL two could read "up" and both post.
    const service = await startHealthServer();
    const clock = new ManualClock('2026-03-02T08:01:00Z');
    const own = mkdtempSync(join(tmpdir(), 'waygate-pg-health-'));
    const bot = await startTestBot({
      clock,
      dir: own,
      pagerDuty: true,
      env: { WAYGATE_DATABASE_URL: server.url },
      yaml: {
        ...DEFAULT_YAML,
        schedules: { ...DEFAULT_YAML.schedules, 'health-check': '*/5 * * * *' },
        service: { healthUrl: service.url, systemdUnit: null, timeout: '1s', failuresBeforeDown: 2, pagerDutyRoutingKey: 'R0UTINGKEY0123456789abcdef012345' },
      },
    });
    try {
      await bot.advanceTo('2026-03-02T08:15:00Z');
      service.status = 503;
      await bot.advanceTo('2026-03-02T08:45:00Z');
      await bot.settle();
      const down = bot.slack.messages('C0ALERTS').filter((m) => m.text.includes('Waygate MCP is down'));
      expect(down).toHaveLength(1);
    } finally {
      await bot.stop();
      await service.close();
      rmSync(own, { recursive: true, force: true });
    }
  });
  it("leaves a script a live replica is running to it when another replica takes over, and marks a gone replica's script interrupted", async () => {
    // Scripts run on the replica whose button was pressed; before, a new leader marked every running script interrupted.
    const db = await startPostgres({ env: { WAYGATE_TEST_DATABASE_URL: server.url } });
    const own = mkdtempSync(join(tmpdir(), 'waygate-pg-scripts-'));
    for (const sub of ['sops', 'a', 'b']) mkdirSync(join(own, sub));
    writeFileSync(
      join(own, 'sops', 'replica-script.yml'),
      'id: replica-script\ntitle: Replica script\nowner: ops\nchannel: ops\npermissions: { start: [ops] }\nsteps:\n  - { id: go, kind: script, title: Go, script: go }\n',
    );
    const clock = new ManualClock('2026-03-02T08:00:00.000Z');
    const yaml = { ...DEFAULT_YAML, scripts: { go: { run: ['/bin/echo', 'go'], timeout: '10m' } } };
    let finish: (r: RunResult) => void = () => undefined;
    let started = 0;
    const held: ProcessRunner = {
      run: (spec) => {
        started++;
        return new Promise<RunResult>((resolve) => {
          finish = resolve;
          spec.signal?.addEventListener('abort', () => resolve({ argv: spec.argv, ok: false, exitCode: null, signal: 'SIGTERM', timedOut: false, cancelled: true, failedToStart: null, durationMs: 1, output: '' }));
        });
      },
    };
    const env = { WAYGATE_DATABASE_URL: db.url };
    const slack = await SlackStandIn.start({ token: BOT_TOKEN });
    const leaderIn = (dir: string) => startTestBot({ clock, dir, env, yaml, slack, overrides: { sopsDir: join(own, 'sops') } });
    let leader = await leaderIn(join(own, 'a'));
    // The follower renews rarely, so the replica started next, not it, takes over.
    const follower = await startTestBot({
      clock,
      slack,
      dir: join(own, 'b'),
      env,
      yaml: { ...yaml, cluster: { leaseTtl: '10m', renewEvery: '5m' } },
      overrides: { sopsDir: join(own, 'sops'), scriptRunner: held },
    });
    const statuses = async () => {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        return (await client.query<{ status: string }>("SELECT status FROM executions WHERE kind = 'sop-script' ORDER BY id")).rows.map((r) => r.status);
      } finally {
        await client.end();
      }
    };
    try {
      const run = await follower.signer.slashCommand({ text: 'sop run replica-script', userId: USERS.ops, responseUrl: follower.slack.responseUrl() });
      expect(run.json.text).toContain('Started *Replica script* run #1');
      await follower.slack.waitFor(() => started === 1);

      await leader.stop();
      leader = await leaderIn(join(own, 'a'));
      expect(await healthDetails(leader.url)).toMatchObject({ leadership: { role: 'leader' } });
      expect(await statuses()).toEqual(['running']);

      finish({ argv: ['/bin/echo', 'go'], ok: true, exitCode: 0, signal: null, timedOut: false, failedToStart: null, durationMs: 5, output: 'go\n' });
      await follower.waygate.sops.whenIdle();
      expect(await statuses()).toEqual(['ok']);

      // A script whose replica is gone is shown interrupted by the next leader.
      expect((await follower.signer.slashCommand({ text: 'sop run replica-script', userId: USERS.ops, responseUrl: follower.slack.responseUrl() })).json.text).toContain('run #2');
      await follower.slack.waitFor(() => started === 2);
      await follower.stop();
      await leader.stop();
      leader = await leaderIn(join(own, 'a'));
      expect(await statuses()).toEqual(['ok', 'interrupted']);
    } finally {
      await leader.stop();
      await follower.stop();
      await slack.close();
      await db.stop();
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('keeps answering while its database cannot be reached: /health says so, PagerDuty redelivers, and everything resumes once it is back', async () => {
    // PostgreSQL's counterpart of SQLite's read-only or damaged file (sqlite-database-safety.test.ts): the server
    // takes no sessions for the database, and those the pool had are gone (a restart, a failover, a network cut).
    const own = mkdtempSync(join(tmpdir(), 'waygate-pg-outage-'));
    const database = await startPostgres({ env: { WAYGATE_TEST_DATABASE_URL: server.url } });
    const name = new URL(database.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    const bot = await startTestBot({ clock: new ManualClock('2026-03-02T08:00:00.000Z'), dir: own, pagerDuty: true, env: { WAYGATE_DATABASE_URL: database.url } });
    try {
      const at = bot.clock.now().toISOString();
      const webhook = () => bot.pdSigner.send(bot.pdSigner.incidentEvent('incident.triggered', { id: 'PPGOUT1', number: 601, priority: 'P1', title: 'replica gone', created_at: at }, { eventId: 'EVPGOUT1', occurredAt: at }));

      // The name is a hex string this test made: safe to quote as an identifier.
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
      // Every session the bot had is gone, its leader lease's too: it stops leading until it can renew again.
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
      const refused = await webhook();
      expect(refused.status).toBe(500);
      expect(refused.json).toEqual({ error: 'internal error; PagerDuty will redeliver' });
      const down = await fetchHealthDetails(bot.url);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ status: 'down', components: { database: 'down' }, database: { reachable: false } });
      const command = await bot.signer.slashCommand({ text: 'help', userId: USERS.nobody, responseUrl: bot.slack.responseUrl() });
      expect(command.status).toBe(200);

      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      // It leads again at its next attempt (a lease round, a few seconds of real time).
      await bot.slack.waitFor(async () => (await healthDetails<{ leadership: { role: string } }>(bot.url)).leadership.role === 'leader', 10_000);
      // PagerDuty's redelivery of the refused event.
      expect((await webhook()).status).toBe(200);
      await bot.waygate.inboxProcessor.whenIdle();
      await bot.settle();
      expect(bot.slack.messages('C0ALERTS').map((m) => m.text)).toEqual([expect.stringContaining('#601 replica gone')]);
      expect(await healthDetails(bot.url)).toMatchObject({ status: 'ok', database: { reachable: true }, outbox: { pending: 0, failed: 0 } });
    } finally {
      await bot.stop();
      await admin.end();
      await database.stop();
      rmSync(own, { recursive: true, force: true });
    }
  });
});
