/**
 * Benchmark 4: the outbox with a large backlog, in process (no HTTP): what a long Slack outage leaves behind.
 *
 * 300,000 pending rows: 100,000 alerts and 100,000 card refreshes in the alerts channel, 90,000 reports in
 * the ops channel, 5,000 response_url replies and 5,000 PagerDuty status changes (one lane each; PagerDuty
 * is still down and answers 429 Retry-After: 1 h, so those lanes keep waiting). Then Slack comes back: the
 * dispatcher runs with the clock moved one pacing interval at a time, and every pump's synchronous time is
 * measured, as is `stats()` (what /health and /metrics call) and the storm check a new alert makes.
 *
 * The same rows are also written, with raw INSERTs, into a database at the schema before migration 5, where
 * the lane-head query and stats() of that version are timed for comparison.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openDatabase, type Db } from '../src/db/database.js';
import { MIGRATIONS } from '../src/db/migrations.js';
import { Outbox } from '../src/outbox/outbox.js';
import { OutboxDispatcher } from '../src/outbox/dispatcher.js';
import { ManualClock } from '../src/clock/clock.js';
import { lanes } from '../src/core/keys.js';
import type { MessageSender } from '../src/outbox/slack-delivery.js';
import { DeliveryError, type OutboxItem } from '../src/outbox/types.js';
import { DataLayer } from '../src/db/data-layer.js';

const ROWS = { alerts: 100_000, refreshes: 100_000, ops: 90_000, responses: 5_000, pagerDuty: 5_000 };
const TOTAL = Object.values(ROWS).reduce((a, b) => a + b, 0);
/** Pacing intervals the dispatcher is run for once Slack is back. */
const SECONDS = 120;

function* backlog(): Generator<OutboxItem> {
  for (let i = 0; i < ROWS.alerts; i++) {
    yield { kind: 'post', payload: { channel: 'CALERTS', text: `P1 #${i} disk full` }, messageKey: `incident:P${i}`, urgent: true };
  }
  // Cards posted before the outage, each refreshed once (a second refresh of a card replaces the first).
  for (let i = 0; i < ROWS.refreshes; i++) {
    yield { kind: 'update', payload: { channel: 'CALERTS', messageKey: `incident:Q${i}`, text: `P3 #${i} acknowledged` } };
  }
  for (let i = 0; i < ROWS.ops; i++) yield { kind: 'post', payload: { channel: 'COPS', text: `job report ${i}` } };
  for (let i = 0; i < ROWS.responses; i++) {
    yield { kind: 'respond', payload: { responseUrl: `https://hooks.slack.com/actions/T0/${i}/x`, text: 'done' } };
  }
  for (let i = 0; i < ROWS.pagerDuty; i++) {
    yield { kind: 'pd_status', payload: { incidentId: `PD${i}`, number: i, status: 'acknowledged', slackUser: 'U0ONCALL' } };
  }
}

interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

function summarise(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN };
}

const fmt = (s: Summary): string => `${s.n} calls: p50 ${s.p50.toFixed(3)} ms, p99 ${s.p99.toFixed(3)} ms, max ${s.max.toFixed(3)} ms`;

interface Timed {
  wallMs: number;
  cpuMs: number;
}

/** Wall time, and the process's CPU time, which a busy machine's other processes do not inflate. */
function timed(fn: () => unknown): Timed {
  const cpu = process.cpuUsage();
  const started = performance.now();
  fn();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000 };
}

const perRow = (t: Timed): string =>
  `${(t.wallMs / 1000).toFixed(2)} s wall, ${(t.cpuMs / 1000).toFixed(2)} s CPU (${((t.cpuMs * 1000) / TOTAL).toFixed(1)} µs CPU per row)`;

/** Calls `fn` repeatedly; each call's wall time and CPU time. */
function sample(fn: () => unknown, times: number): { wall: Summary; cpu: Summary } {
  const runs = Array.from({ length: times }, () => timed(fn));
  return { wall: summarise(runs.map((r) => r.wallMs)), cpu: summarise(runs.map((r) => r.cpuMs)) };
}

/** timed() for work behind the async data layer: until its promise settles. */
async function timedAsync(fn: () => Promise<unknown>): Promise<Timed> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await fn();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000 };
}

/** sample() for a query behind the async data layer: each run is timed until its promise settles. */
async function sampleAsync(fn: () => Promise<unknown>, times: number): Promise<{ wall: Summary; cpu: Summary }> {
  const runs: Timed[] = [];
  for (let i = 0; i < times; i++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    await fn();
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    runs.push({ wallMs, cpuMs: (used.user + used.system) / 1000 });
  }
  return { wall: summarise(runs.map((r) => r.wallMs)), cpu: summarise(runs.map((r) => r.cpuMs)) };
}

const both = (s: { wall: Summary; cpu: Summary }): string => `${fmt(s.wall)}; in CPU time p50 ${s.cpu.p50.toFixed(3)} ms, max ${s.cpu.max.toFixed(3)} ms`;

/** Lets deliveries started by a pump finish (the stand-in senders answer at once). */
async function settleTurns(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

/** The schema and queries before migration 5, timed on the same rows. */
function previousVersion(dir: string): { fill: Timed; laneHeads: ReturnType<typeof sample>; stats: ReturnType<typeof sample> } {
  const db: Db = openDatabase(join(dir, 'before.db'), MIGRATIONS.filter((m) => m.version < 5));
  const insert = db.prepare(`INSERT INTO outbox (lane, kind, payload, message_key, next_attempt_at, created_at) VALUES (?, ?, ?, ?, 0, 0)`);
  const fill = timed(() => db.transaction(() => {
    for (const item of backlog()) {
      const lane =
        item.kind === 'respond' ? lanes.response(item.payload.responseUrl) : item.kind === 'pd_status' ? lanes.pagerDutyIncident(item.payload.incidentId) : lanes.channel((item.payload as { channel: string }).channel);
      const key = item.kind === 'post' ? (item.messageKey ?? null) : item.kind === 'update' ? item.payload.messageKey : null;
      insert.run(lane, item.kind, JSON.stringify(item.payload), key);
    }
  })());
  const heads = db.prepare(
    `SELECT o.id, o.lane, o.kind, o.payload, o.message_key, o.attempts, o.next_attempt_at, o.created_at
     FROM outbox o JOIN (SELECT lane, MIN(id) AS id FROM outbox WHERE status = 'pending' GROUP BY lane) h ON h.id = o.id`,
  );
  const stats = db.prepare(
    `SELECT (SELECT COUNT(*) FROM outbox WHERE status = 'pending') AS pending,
            (SELECT MIN(created_at) FROM outbox WHERE status = 'pending') AS oldest,
            (SELECT COUNT(*) FROM outbox WHERE status = 'failed') AS failed`,
  );
  const result = { fill, laneHeads: sample(() => heads.all(), 10), stats: sample(() => stats.get(), 10) };
  db.close();
  return result;
}

/** Returns whether the run was valid. */
export async function outboxBenchmark(): Promise<boolean> {
  console.log(`== 4. Outbox with a backlog: ${TOTAL.toLocaleString('en-US')} pending rows, per-pump and stats() time ==`);
  const dir = mkdtempSync(join(os.tmpdir(), 'waygate-bench-outbox-'));
  const problems: string[] = [];
  try {
    const clock = new ManualClock('2026-03-02T08:00:00Z');
    const db = openDatabase(join(dir, 'waygate.db'));
    const outbox = new Outbox(DataLayer.sqlite(db), clock);
    const data = DataLayer.sqlite(db);
    const fill = await timedAsync(() =>
      data.transaction(async (tx) => {
        for (const item of backlog()) await outbox.enqueue(tx, item);
      }),
    );
    console.log(`Filled through Outbox.enqueue (priorities, coalescing, bookkeeping triggers): ${perRow(fill)}`);

    const sent = { alerts: 0, ops: 0, responses: 0, pagerDuty: 0 };
    const sender: MessageSender = {
      post: (p) => {
        if (p.channel === 'CALERTS') sent.alerts++;
        else sent.ops++;
        return Promise.resolve({ channel: p.channel, ts: `1.${sent.alerts + sent.ops}` });
      },
      update: () => (sent.alerts++, Promise.resolve()),
      ephemeral: () => Promise.resolve(),
      respond: () => (sent.responses++, Promise.resolve()),
    };
    const dispatcher = new OutboxDispatcher({
      data: DataLayer.sqlite(db),
      outbox,
      sender,
      pagerDuty: () => {
        sent.pagerDuty++;
        return Promise.reject(new DeliveryError({ kind: 'rate_limited', retryAfterMs: 3_600_000, detail: 'HTTP 429' }));
      },
      clock,
      logger: pino({ level: 'silent' }),
      paceMs: 1000,
      maxBackoffMs: 300_000,
      giveUpAfterMs: 86_400_000,
    });
    // Every pump, however triggered (a nudge after a delivery, the pacing timer), is timed: wall time, and
    // the process's CPU time, which a busy machine's other processes do not inflate.
    const pumps: number[] = [];
    const pumpsCpu: number[] = [];
    const target = dispatcher as unknown as { pump(): Promise<void> };
    const pump = target.pump.bind(dispatcher);
    target.pump = async () => {
      const cpu = process.cpuUsage();
      const started = performance.now();
      await pump();
      pumps.push(performance.now() - started);
      const used = process.cpuUsage(cpu);
      pumpsCpu.push((used.user + used.system) / 1000);
    };

    const statsBefore = await sampleAsync(() => outbox.stats(), 200);
    const stormCheck = await sampleAsync(() => outbox.urgentPendingInLane(lanes.channel('CALERTS'), 3), 200);
    const t = performance.now();
    await dispatcher.start();
    await settleTurns();
    const firstPass = performance.now() - t;
    const firstPumps = pumps.length;
    for (let second = 0; second < SECONDS; second++) {
      clock.advance(1000);
      await settleTurns();
    }
    await dispatcher.stop();
    const statsAfter = await sampleAsync(() => outbox.stats(), 200);
    const steady = summarise(pumps.slice(firstPumps));
    const steadyCpu = summarise(pumpsCpu.slice(firstPumps));
    const first = summarise(pumps.slice(0, firstPumps));

    const stats = (await outbox.stats());
    const counted = db.prepare(`SELECT COUNT(*) FROM outbox WHERE status = 'pending'`).pluck().get() as number;
    if (stats.pending !== counted) problems.push(`stats() says ${stats.pending} pending, the table holds ${counted}`);
    if (sent.pagerDuty !== ROWS.pagerDuty) problems.push(`${sent.pagerDuty} PagerDuty attempts, expected one per lane (${ROWS.pagerDuty})`);
    if (sent.responses !== ROWS.responses) problems.push(`${sent.responses} responses sent, expected ${ROWS.responses}`);
    // The alerts channel holds urgent rows: it is served first, so paced at one message a second from the start.
    if (sent.alerts !== SECONDS + 1) problems.push(`${sent.alerts} alerts channel deliveries, expected ${SECONDS + 1} (one a second)`);
    db.close();

    console.log(`First look after Slack came back (every lane once: ${ROWS.responses.toLocaleString('en-US')} responses sent, ${ROWS.pagerDuty.toLocaleString('en-US')} PagerDuty lanes set waiting): ${firstPass.toFixed(0)} ms over ${first.n} pumps, the longest ${first.max.toFixed(2)} ms`);
    console.log(`Per pump, the next ${SECONDS} s (two paced channels, ${ROWS.pagerDuty.toLocaleString('en-US')} lanes waiting): ${fmt(steady)}`);
    console.log(`  the same pumps in CPU time: ${fmt(steadyCpu)}`);
    console.log(`Delivered meanwhile: alerts channel ${sent.alerts}, ops channel ${sent.ops} (behind the responses that were ready before it)`);
    console.log(`stats() with the backlog: ${both(statsBefore)}`);
    console.log(`stats() after the ${SECONDS} s: ${both(statsAfter)}`);
    console.log(`Storm check of a new alert (urgent rows queued in the alerts channel): ${both(stormCheck)}`);

    const before = previousVersion(dir);
    console.log('The schema before migration 5, same rows:');
    console.log(`  lane-head query (run on every pump): ${both(before.laneHeads)}`);
    console.log(`  stats(): ${both(before.stats)}`);
    console.log(`  filled with plain INSERTs: ${perRow(before.fill)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const p of problems) console.log(`INVALID: ${p}`);
  return problems.length === 0;
}
