/**
 * Three Waygate processes on one PostgreSQL (issue 13, decision 021). Real processes, because the failures
 * under test are a process's: SIGKILL (the leader dies) and SIGSTOP/SIGCONT (the leader freezes longer than
 * its lease and wakes up believing it still leads). The lease is measured in real time by the database, so
 * this test runs in real time, with a short lease (3 s) instead of the default 10 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { SlackStandIn } from '../../standins/slack/index.js';
import { PagerDutyWebhookSigner } from '../../standins/pagerduty/index.js';
import { waitFor } from '../../standins/shared/wait-for.js';
import { BOT_TOKEN, DEFAULT_YAML, HEALTH_TOKEN, PD_WEBHOOK_SECRET, SIGNING_SECRET, writeConfig } from '../helpers/bot.js';
import { spawnBot, type BotProcess } from '../helpers/process.js';
import { startPostgres, type PostgresHandle } from '../support/postgres-cluster.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.js';

const LEASE_TTL_MS = 3_000;
const FAILOVER_LIMIT_MS = 15_000;
const SLA_MS = 10_000;

interface Replica {
  name: string;
  proc: BotProcess;
  proxy: RecordingProxy;
  url: string;
  signer: PagerDutyWebhookSigner;
}

interface Leadership {
  role: 'leader' | 'follower';
  replica: string;
  holder: string | null;
}

let server: PostgresHandle;
let dir: string;
let slack: SlackStandIn;
const replicas: Replica[] = [];

beforeAll(async () => {
  server = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), 'waygate-failover-'));
  slack = await SlackStandIn.start({ token: BOT_TOKEN });
}, 60_000);

afterAll(async () => {
  for (const r of replicas) {
    r.proc.child.kill('SIGCONT');
    r.proc.child.kill('SIGKILL');
    await r.proc.exited;
    await r.proxy.close();
  }
  await slack?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function startReplica(name: string, config: string): Promise<Replica> {
  const proxy = await startRecordingProxy(slack.apiUrl);
  const proc = spawnBot({
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: proxy.url,
    PAGERDUTY_WEBHOOK_SECRET: PD_WEBHOOK_SECRET,
    WAYGATE_DATABASE_URL: server.url,
    WAYGATE_DB: join(dir, `${name}.db`),
    WAYGATE_CONFIG: config,
    HEALTH_DETAILS_TOKEN: HEALTH_TOKEN,
    LOG_LEVEL: 'info',
    PORT: '0',
  });
  const port = await proc.ready;
  const url = `http://127.0.0.1:${port}`;
  const replica = { name, proc, proxy, url, signer: new PagerDutyWebhookSigner({ url, secret: PD_WEBHOOK_SECRET }) };
  replicas.push(replica);
  return replica;
}

async function leadershipOf(r: Replica): Promise<Leadership | undefined> {
  try {
    const res = await fetch(`${r.url}/health`, { headers: { authorization: `Bearer ${HEALTH_TOKEN}` }, signal: AbortSignal.timeout(500) });
    return ((await res.json()) as { leadership: Leadership }).leadership;
  } catch {
    return undefined; // killed or frozen
  }
}

async function healthOf(r: Replica): Promise<{ inbox: { pending: number } }> {
  const res = await fetch(`${r.url}/health`, { headers: { authorization: `Bearer ${HEALTH_TOKEN}` } });
  return (await res.json()) as { inbox: { pending: number } };
}

/** Resolves with the replica that reports itself leader, among `candidates`. */
function leaderAmong(candidates: readonly Replica[], timeoutMs: number): Promise<Replica> {
  return waitFor(async () => {
    for (const r of candidates) if ((await leadershipOf(r))?.role === 'leader') return r;
    return undefined;
  }, timeoutMs);
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('replicas on PostgreSQL', () => {
  it('fails over within 15 s of the leader dying, loses no answered webhook, runs the job and each escalation once, and fences a frozen leader out', async () => {
    // A job scheduled a few seconds after the moment the leader will be killed, in the gap before a follower takes over.
    const jobAt = new Date(Math.ceil((Date.now() + 25_000) / 1000) * 1000);
    const killAt = jobAt.getTime() - 2_000;
    const config = writeConfig(dir, {
      ...DEFAULT_YAML,
      timezone: 'UTC',
      schedules: { ...DEFAULT_YAML.schedules, housekeeping: `${jobAt.getUTCSeconds()} ${jobAt.getUTCMinutes()} ${jobAt.getUTCHours()} * * *` },
      // P1s escalate 10 s after they come in (then every 10 s); every alert gets a card of its own.
      sla: { P1: `${SLA_MS}ms` },
      incidents: { stormThreshold: 10_000 },
      outbox: { pace: '0ms' },
      cluster: { leaseTtl: `${LEASE_TTL_MS}ms`, renewEvery: '1s' },
    });
    const a = await startReplica('a', config);
    expect((await leadershipOf(a))?.role).toBe('leader');
    const [b, c] = await Promise.all([startReplica('b', config), startReplica('c', config)]);
    expect(await leadershipOf(b)).toMatchObject({ role: 'follower', holder: (await leadershipOf(a))?.replica });

    // A stream of signed webhooks, spread across the replicas, each a new P1.
    const answered: number[] = [];
    const createdAt = new Map<number, number>();
    const sends: Promise<void>[] = [];
    let streaming = true;
    const stream = (async () => {
      for (let n = 1; streaming; n++) {
        const target = replicas[n % replicas.length]!;
        const at = new Date().toISOString();
        createdAt.set(1000 + n, Date.parse(at));
        const body = target.signer.incidentEvent('incident.triggered', { id: `PFO${n}`, number: 1000 + n, priority: 'P1', title: `failover test ${n}`, created_at: at }, { eventId: `EVFO${n}`, occurredAt: at });
        sends.push(
          target.signer.send(body).then(
            (res) => void (res.status >= 200 && res.status < 300 && answered.push(1000 + n)),
            () => undefined, // a killed replica answers nothing: that event was never acknowledged
          ),
        );
        await pause(300);
      }
    })();

    // SIGKILL the leader; another replica leads within 15 s.
    await waitFor(() => answered.length >= 15, 30_000);
    await pause(Math.max(0, killAt - Date.now()));
    const killedAt = Date.now();
    a.proc.child.kill('SIGKILL');
    const second = await leaderAmong([b, c], FAILOVER_LIMIT_MS + 1_000);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(FAILOVER_LIMIT_MS);
    const third = second === b ? c : b;
    // The new leader runs the job that fell due while nobody led; it ends before the next failover.
    const jobRuns = async () => {
      const db = new pg.Client({ connectionString: server.url });
      await db.connect();
      try {
        return (await db.query<{ status: string }>("SELECT status FROM executions WHERE kind = 'job' AND name = 'housekeeping' AND trigger = 'schedule'")).rows;
      } finally {
        await db.end();
      }
    };
    await waitFor(async () => (await jobRuns()).some((r) => r.status !== 'running'), 15_000);

    // SIGSTOP the new leader for longer than its lease: the third takes over; then SIGCONT it.
    await pause(2_000);
    second.proc.child.kill('SIGSTOP');
    await leaderAmong([third], FAILOVER_LIMIT_MS);
    await pause(1_000);
    second.proc.child.kill('SIGCONT');
    const wokeAt = Date.now();
    await pause(2_000);
    streaming = false;
    await stream;
    await Promise.all(sends);

    // Every webhook answered 2xx reaches Slack as its alert card.
    const carded = () => new Set(slack.calls('chat.postMessage').flatMap((call) => /#(\d+)/.exec(String(call.params.text))?.[1] ?? []).map(Number));
    // (The outbox never quite empties here: unacknowledged P1s keep escalating every 10 s.)
    await waitFor(async () => (await healthOf(third)).inbox.pending === 0 && answered.every((n) => carded().has(n)), 60_000).catch(async () => {
      const missing = answered.filter((n) => !carded().has(n));
      throw new Error(`not every answered webhook reached Slack: missing ${missing.join(', ')}; health ${JSON.stringify(await healthOf(third))}`);
    });
    expect(answered.length).toBeGreaterThan(25);

    // The frozen leader sent nothing after it woke up, and now follows the third replica.
    const following = await waitFor(async () => {
      const l = await leadershipOf(second);
      return l?.role === 'follower' && l.holder !== null && l.holder !== l.replica ? l : undefined;
    }, 10_000);
    expect(following.holder).toBe((await leadershipOf(third))?.replica);
    expect(second.proxy.requests.filter((r) => r.at >= wokeAt)).toEqual([]);
    expect(second.proc.stdout.join('\n')).toContain('this replica no longer leads');

    // At most one repeated Slack message per failover.
    const posts = slack.calls('chat.postMessage').map((call) => `${String(call.params.channel)} ${String(call.params.text)}`);
    const repeated = posts.filter((p, i) => posts.indexOf(p) !== i);
    expect(repeated.length, repeated.join('\n')).toBeLessThanOrEqual(2);

    const db = new pg.Client({ connectionString: server.url });
    await db.connect();
    try {
      // The job scheduled into the gap ran once.
      expect(await jobRuns()).toEqual([{ status: 'ok' }]);
      // Each escalation (incident and level) fired once, across both failovers: every P1 older than its SLA
      // was escalated, none twice.
      const escalations = async () =>
        (await db.query<{ details: string }>("SELECT details FROM audit_log WHERE action = 'incident.escalated'")).rows.map((r) => {
          const d = JSON.parse(r.details) as { id: string; level: number };
          return `${d.id}@${d.level}`;
        });
      // Those that came in before the first failover fall due around the failovers.
      const due = answered.filter((n) => createdAt.get(n)! < killedAt);
      expect(due.length).toBeGreaterThan(10);
      await pause(Math.max(0, Math.max(...due.map((n) => createdAt.get(n)!)) + SLA_MS - Date.now()));
      await waitFor(async () => {
        const keys = await escalations();
        return due.every((n) => keys.includes(`PFO${n - 1000}@1`));
      }, 20_000);
      const keys = await escalations();
      expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
    } finally {
      await db.end();
    }
  }, 180_000);
});
