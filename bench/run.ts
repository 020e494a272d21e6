/**
 * `npm run bench`: three benchmarks, each comparing Waygate with a minimal app doing the same job, in the same
 * run and under the same load; a fourth of the outbox alone with a large backlog (bench/outbox.ts); and a
 * fifth of `/waygate ack P1` with 10,000 open incidents against `/waygate help` on the same bot
 * (bench/bulk-ack.ts).
 *
 *  1. Ack latency of a signed `/waygate help` slash command: Waygate on SQLite and Waygate on PostgreSQL
 *     against a bare Bolt app that acks immediately. Every request is signed with its own trigger_id, as
 *     Slack does (a replayed one is answered without running). Targets: Waygate's p99 ≤ 1.2× bare Bolt's
 *     on SQLite, ≤ 1.3× on PostgreSQL.
 *  2. PagerDuty webhook ingest: distinct, individually signed `incident.triggered` deliveries to
 *     POST /pagerduty/webhook, Waygate on SQLite and on PostgreSQL (verify, validate, commit the event to
 *     the inbox, then 200) against a bare node:http server that verifies the HMAC and inserts one SQLite
 *     row. Targets: Waygate ≥ 1,000 events/s on both databases, and on SQLite ≥ 0.5× the baseline's
 *     throughput. Afterwards each app's database must hold a row for every event it acknowledged.
 *
 *  3. PagerDuty webhook latency at a fixed rate: the same deliveries sent open loop at BENCH_RATE events/s
 *     (1,000) whatever the server is doing, Waygate (which applies the events to incidents meanwhile, in the
 *     same process) against the same baseline. Latency counts from when each request was due, so a stalled
 *     event loop shows in full. Targets: Waygate's p99 ≤ 2× the baseline's and under 50 ms.
 *
 * Every app runs as its own process (bench/servers.ts), fresh for each benchmark; the PostgreSQL apps run on
 * a throwaway cluster the driver starts and removes (bench/postgres.ts), a fresh database each. Each app is
 * first checked to answer one request correctly, then warmed up; then autocannon (closed loop, N keep-alive
 * connections) loads the apps in alternating slices (A, B, C, C, B, A, …) until each has had the full
 * duration, so background load on a shared machine falls on all alike. Latency is measured client-side from
 * each request's write to its response, at sub-millisecond resolution. Any non-2xx, socket error, timeout, unexpected body or
 * lost event makes the run invalid (exit code 1). Missing a target is reported, not failed: this is a
 * benchmark, not a test.
 *
 * Knobs (environment): BENCH_DURATION seconds of load per app (10), BENCH_CONNECTIONS (50),
 * BENCH_WARMUP seconds per app (2), BENCH_SLICE seconds per alternating slice (1), BENCH_ONLY
 * (`ack`, `webhook`, `webhook-rate`, `outbox` or `bulk-ack`: run one benchmark), BENCH_RATE events/s for benchmark 3 (1000),
 * BENCH_RATE_CONNECTIONS keep-alive connections it may open (32), BENCH_PROFILE a folder for the servers'
 * CPU profiles, BENCH_POSTGRES (`0` leaves the PostgreSQL apps out), WAYGATE_BENCH_DATABASE_URL (an
 * existing PostgreSQL server to create the apps' databases on, instead of a throwaway cluster).
 */
// eslint-disable-next-line no-restricted-imports -- a benchmark needs each server in its own process (own event loop, heap and GC), and src/runner is for the bot's own jobs.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { machineTimes, processCpuMs } from './cpu.js';
import {
  DATABASE_URL_ENV,
  DATA_DIR_ENV,
  EVENTS_PATH,
  HEALTH_DETAILS_HEADERS,
  WEBHOOK_PATH,
  isServerKind,
  signedHelpCommand,
  type ReadyLine,
  type ServerKind,
  type SignedRequest,
} from './fixtures.js';
import { fixedRate } from './fixed-rate.js';
import {
  APPLIED_BODY,
  WebhookEventSource,
  checkDurability,
  readSqlite,
  verifyWebhook,
  waygateHealth,
  type Durability,
  type HealthSummary,
} from './webhook.js';
import { readPostgres, startBenchPostgres, type BenchPostgres } from './postgres.js';
import { outboxBenchmark } from './outbox.js';
import { bulkAckBenchmark } from './bulk-ack.js';

const TARGET_P99_RATIO = 1.2;
const TARGET_PG_P99_RATIO = 1.3;
const TARGET_WEBHOOK_EVENTS_PER_S = 1000;
const TARGET_WEBHOOK_THROUGHPUT_RATIO = 0.5;
const TARGET_RATE_P99_RATIO = 2;
const TARGET_RATE_P99_MS = 50;
const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = dirname(BENCH_DIR);
const SERVER_ENTRY = join(BENCH_DIR, 'servers.ts');
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

function envNumber(name: string, fallback: number, integer: boolean): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'} (got ${JSON.stringify(raw)})`);
  }
  return value;
}

const DURATION_S = envNumber('BENCH_DURATION', 10, false);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 50, true);
const WARMUP_S = envNumber('BENCH_WARMUP', 2, false);
const SLICE_S = envNumber('BENCH_SLICE', 1, false);
const RATE = envNumber('BENCH_RATE', 1000, false);
const RATE_CONNECTIONS = envNumber('BENCH_RATE_CONNECTIONS', 32, true);
const BENCHMARKS = ['ack', 'webhook', 'webhook-rate', 'outbox', 'bulk-ack'] as const;
type BenchmarkName = (typeof BENCHMARKS)[number];
const WITH_POSTGRES = ((): boolean => {
  const raw = process.env.BENCH_POSTGRES;
  if (raw === undefined || raw === '' || raw === '1') return true;
  if (raw === '0') return false;
  throw new Error(`BENCH_POSTGRES must be 0 or 1 (got ${JSON.stringify(raw)})`);
})();
const ONLY = ((): BenchmarkName | undefined => {
  const raw = process.env.BENCH_ONLY;
  if (raw === undefined || raw === '') return undefined;
  if (!(BENCHMARKS as readonly string[]).includes(raw)) throw new Error(`BENCH_ONLY must be one of ${BENCHMARKS.join(', ')} (got ${JSON.stringify(raw)})`);
  return raw as BenchmarkName;
})();

// ---- server children ----

interface ServerChild {
  kind: ServerKind;
  child: ChildProcess;
  ready: ReadyLine;
  url: string;
  /** waygate-pg: the database it runs on (read after it stopped, then dropped). */
  database?: { url: string; drop(): Promise<void> };
  /** waygate-pg: the PostgreSQL server's CPU time so far, ms, when it is ours to watch. */
  dbCpuMs?: () => number | undefined;
}

const liveChildren = new Set<ChildProcess>();
/** Directories holding the children's SQLite files; removed at the latest when the driver exits. */
const dataRoots = new Set<string>();
process.on('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
  for (const dir of dataRoots) rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // Let the children stop cleanly (they remove their temp dirs); the 'exit' hook kills stragglers.
    const exits = [...liveChildren].map((child) => new Promise((resolve) => child.once('exit', resolve)));
    for (const child of liveChildren) child.kill('SIGTERM');
    const deadline = new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS));
    void Promise.race([Promise.all(exits), deadline]).then(() => process.exit(130));
  });
}

/**
 * Starts one app; with `dataDir` its SQLite file goes there and outlives the child (the caller removes it).
 * A `waygate-pg` app runs on `databaseUrl`.
 */
function startServer(kind: ServerKind, dataDir?: string, databaseUrl?: string): Promise<ServerChild> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production' };
  delete env[DATA_DIR_ENV];
  delete env[DATABASE_URL_ENV];
  if (dataDir !== undefined) env[DATA_DIR_ENV] = dataDir;
  if (databaseUrl !== undefined) env[DATABASE_URL_ENV] = databaseUrl;
  // BENCH_PROFILE=<dir>: each server writes a V8 CPU profile there when it stops (open it in Chrome's DevTools).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', SERVER_ENTRY, kind], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return new Promise<ServerChild>((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${kind} server: ${why}`));
    };
    const timer = setTimeout(() => fail(`not ready within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    child.once('exit', (code, signal) => fail(`exited before it was ready (code ${code}, signal ${signal})`));
    child.once('error', (err) => fail(err.message));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        return; // not the ready line
      }
      const ready = parsed as Partial<ReadyLine>;
      if (!isServerKind(ready.kind) || typeof ready.port !== 'number' || typeof ready.responseUrl !== 'string' || typeof ready.dbPath !== 'string') {
        return;
      }
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.once('exit', () => liveChildren.delete(child));
      lines.close();
      child.stdout.resume(); // keep draining, so a chatty child can never block on a full pipe
      resolve({ kind, child, ready: ready as ReadyLine, url: `http://127.0.0.1:${ready.port}` });
    });
  });
}

async function stopServer(server: ServerChild): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    process.stderr.write(`${server.kind} server did not stop within ${STOP_TIMEOUT_MS} ms; killing it\n`);
    child.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  const code = await exited;
  clearTimeout(timer);
  if (code !== 0) process.stderr.write(`${server.kind} server exited with code ${code}\n`);
}

/** Starts Waygate on a fresh PostgreSQL database, dropped again if it does not start. */
async function startWaygatePg(postgres: BenchPostgres, dataDir?: string): Promise<ServerChild> {
  const database = await postgres.freshDatabase();
  try {
    const server = await startServer('waygate-pg', dataDir, database.url);
    return { ...server, database, dbCpuMs: () => postgres.cpuMs() };
  } catch (err) {
    await database.drop();
    throw err;
  }
}

/** Stops the apps, then drops the PostgreSQL databases of those that had one. */
async function stopServers(servers: readonly ServerChild[]): Promise<void> {
  await Promise.all(servers.map(stopServer));
  for (const server of servers) await server.database?.drop();
}

// ---- ack benchmark: verification ----

/** Sends the signed request once and checks the answer; returns the exact body every later reply must match. */
async function verifyAck(server: ServerChild, request: SignedRequest): Promise<string> {
  const res = await fetch(`${server.url}${EVENTS_PATH}`, { method: 'POST', headers: request.headers, body: request.body });
  const text = await res.text();
  const problem = (why: string): Error => new Error(`${server.kind} verification failed: ${why}; body: ${text.slice(0, 300)}`);
  if (res.status !== 200) throw problem(`HTTP ${res.status}`);
  if (!(res.headers.get('content-type') ?? '').includes('application/json')) {
    throw problem(`content-type ${res.headers.get('content-type')}`);
  }
  const json = JSON.parse(text) as { text?: unknown; response_type?: unknown };
  if (json.response_type !== 'ephemeral') throw problem(`response_type ${String(json.response_type)}`);
  if (server.kind === 'bare') {
    if (json.text !== 'ok') throw problem('expected text "ok"');
  } else {
    const reply = typeof json.text === 'string' ? json.text : '';
    const verbs = ['/waygate help', '/waygate jobs'];
    if (!reply.startsWith('Waygate commands you can use') || !verbs.every((v) => reply.includes(v))) {
      throw problem(`expected the verb list (${verbs.join(', ')})`);
    }
  }
  return text;
}

// ---- load ----

/** The request half of autocannon's options for one app: a replayed request, or a per-request builder. */
type RequestSpec = Pick<autocannon.Options, 'method' | 'headers' | 'body' | 'expectBody' | 'requests' | 'verifyBody'>;

/** An app checked to answer correctly and ready for load. */
interface Prepared {
  server: ServerChild;
  path: string;
  request: RequestSpec;
  /** After each of this app's slices, waits until its background work is done (timed, not loaded). */
  drain?: () => Promise<void>;
}

interface Totals {
  kind: ServerKind;
  samples: number[];
  seconds: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  /** The server process's CPU time while it was under load, ms (undefined off Linux). */
  serverCpuMs: number | undefined;
  /** The PostgreSQL server's CPU time while this app was under load, ms (undefined when not on ours). */
  dbCpuMs: number | undefined;
  /** Its CPU time while the other apps were under load (background work such as outbox delivery), ms. */
  idleCpuMs: number | undefined;
  idleSeconds: number;
  /** 2xx responses per second in each slice, in order. */
  sliceRates: number[];
  /** Time spent after its slices waiting for the app's background work to finish (Prepared.drain). */
  drainSeconds: number;
}

interface Measurement {
  kind: ServerKind;
  seconds: number;
  requests: number;
  requestsPerSec: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Server CPU time per 2xx response, µs: the cost of the request path, unlike latency robust to neighbours. */
  cpuUsPerRequest: number | undefined;
  /** The PostgreSQL server's CPU time per 2xx response, µs (only for apps on PostgreSQL). */
  dbCpuUsPerRequest: number | undefined;
  /** Cores the server kept busy while the other app was loaded. */
  idleCores: number | undefined;
  sliceRates: number[];
  drainSeconds: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** One autocannon burst against one app; 2xx latencies go into `into`. */
function burst(app: Prepared, seconds: number, into: number[]): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${app.server.url}${app.path}`,
        ...app.request,
        connections: CONNECTIONS,
        pipelining: 1,
        duration: seconds,
      },
      (err: unknown, result: autocannon.Result) => {
        if (err) reject(err instanceof Error ? err : new Error(`autocannon failed: ${JSON.stringify(err)}`));
        else resolve(result);
      },
    );
    // autocannon's own histogram keeps whole milliseconds; the raw per-response times are finer.
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) into.push(responseTime);
    });
  });
}

function problemsOf(t: Pick<Totals, 'non2xx' | 'errors' | 'timeouts' | 'mismatches'> & { requests: number }): string[] {
  const problems: string[] = [];
  if (t.requests === 0) problems.push('no successful responses');
  if (t.non2xx > 0) problems.push(`${t.non2xx} non-2xx`);
  if (t.errors > 0) problems.push(`${t.errors} errors`);
  if (t.timeouts > 0) problems.push(`${t.timeouts} timeouts`);
  if (t.mismatches > 0) problems.push(`${t.mismatches} bodies differing from the verified reply`);
  return problems;
}

function summarize(t: Totals): Measurement {
  const sorted = Float64Array.from(t.samples).sort();
  return {
    kind: t.kind,
    seconds: t.seconds,
    requests: sorted.length,
    requestsPerSec: sorted.length / t.seconds,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
    cpuUsPerRequest: t.serverCpuMs === undefined || sorted.length === 0 ? undefined : (t.serverCpuMs * 1000) / sorted.length,
    dbCpuUsPerRequest: t.dbCpuMs === undefined || sorted.length === 0 ? undefined : (t.dbCpuMs * 1000) / sorted.length,
    idleCores: t.idleCpuMs === undefined || t.idleSeconds === 0 ? undefined : t.idleCpuMs / (t.idleSeconds * 1000),
    sliceRates: t.sliceRates,
    drainSeconds: t.drainSeconds,
    non2xx: t.non2xx,
    errors: t.errors,
    timeouts: t.timeouts,
    mismatches: t.mismatches,
  };
}

async function warmUp(app: Prepared): Promise<void> {
  const result = await burst(app, WARMUP_S, []);
  const problems = problemsOf({ ...result, requests: result['2xx'] });
  if (problems.length > 0) throw new Error(`${app.server.kind} warm-up failed: ${problems.join(', ')}`);
}

interface Background {
  /** Average cores busy with anything other than the driver and the two servers. */
  otherCores: number;
  stealCores: number;
}

const addCpu = (sum: number | undefined, before: number | undefined, after: number | undefined): number | undefined =>
  sum === undefined || before === undefined || after === undefined ? undefined : sum + after - before;

/**
 * Measures the apps (baseline first) in alternating slices (A B C C B A A B C …) until each has had
 * DURATION_S of load, so whatever else the machine does during the run lands on all of them about equally.
 */
async function measure(apps: readonly Prepared[]): Promise<{ results: Measurement[]; background?: Background }> {
  const totals = apps.map(
    (app): Totals => ({
      kind: app.server.kind,
      samples: [],
      seconds: 0,
      non2xx: 0,
      errors: 0,
      timeouts: 0,
      mismatches: 0,
      serverCpuMs: 0,
      dbCpuMs: app.server.dbCpuMs?.() === undefined ? undefined : 0,
      idleCpuMs: 0,
      idleSeconds: 0,
      sliceRates: [],
      drainSeconds: 0,
    }),
  );
  const slices = Math.max(1, Math.round(DURATION_S / SLICE_S));
  const sliceS = DURATION_S / slices;
  const pids = [process.pid, ...apps.map((app) => app.server.ready.pid)];
  // The PostgreSQL server is part of the benchmark too, not other load on the machine (one reading, however many apps use it).
  const dbCpu = apps.find((app) => app.server.dbCpuMs)?.server.dbCpuMs;
  const ownCpu = (): number | undefined =>
    [...pids.map(processCpuMs), ...(dbCpu ? [dbCpu()] : [])].reduce<number | undefined>(
      (sum, v) => (sum === undefined || v === undefined ? undefined : sum + v),
      0,
    );
  const machineBefore = machineTimes();
  const ownBefore = ownCpu();
  const wallStart = performance.now();
  const forward = apps.map((_, i) => i);
  const backward = [...forward].reverse();
  for (let i = 0; i < slices; i++) {
    // Forward, then backward: neither app always goes first after another one's load.
    for (const index of i % 2 === 0 ? forward : backward) {
      const app = apps[index]!;
      const t = totals[index]!;
      const others = apps.flatMap((other, j) => (j === index ? [] : [{ pid: other.server.ready.pid, totals: totals[j]! }]));
      const samplesBefore = t.samples.length;
      const cpuBefore = processCpuMs(app.server.ready.pid);
      const dbBefore = app.server.dbCpuMs?.();
      const idleBefore = others.map((o) => processCpuMs(o.pid));
      const result = await burst(app, sliceS, t.samples);
      const cpuAfter = processCpuMs(app.server.ready.pid);
      const dbAfter = app.server.dbCpuMs?.();
      const idleAfter = others.map((o) => processCpuMs(o.pid));
      t.seconds += result.duration;
      t.non2xx += result.non2xx;
      t.errors += result.errors;
      t.timeouts += result.timeouts;
      t.mismatches += result.mismatches;
      t.serverCpuMs = addCpu(t.serverCpuMs, cpuBefore, cpuAfter);
      t.dbCpuMs = addCpu(t.dbCpuMs, dbBefore, dbAfter);
      t.sliceRates.push((t.samples.length - samplesBefore) / result.duration);
      others.forEach((o, j) => {
        o.totals.idleCpuMs = addCpu(o.totals.idleCpuMs, idleBefore[j], idleAfter[j]);
        o.totals.idleSeconds += result.duration;
      });
      if (app.drain) {
        // Outside every app's slice, so this app's catching up never lands on another's measurement.
        const drainStart = performance.now();
        await app.drain();
        t.drainSeconds += (performance.now() - drainStart) / 1000;
      }
    }
  }
  const wallMs = performance.now() - wallStart;
  const machineAfter = machineTimes();
  const ownAfter = ownCpu();
  const results = totals.map(summarize);
  if (!machineBefore || !machineAfter || ownBefore === undefined || ownAfter === undefined) return { results };
  const otherMs = machineAfter.busyMs - machineBefore.busyMs - (ownAfter - ownBefore);
  return {
    results,
    background: {
      otherCores: Math.max(0, otherMs) / wallMs,
      stealCores: (machineAfter.stealMs - machineBefore.stealMs) / wallMs,
    },
  };
}

// ---- report ----

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '-');

function alignedTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function table(rows: Measurement[], unit = 'req'): string {
  // The PostgreSQL server's CPU is a column of its own: an app on SQLite does that work in its own process.
  const withDb = rows.some((m) => m.dbCpuUsPerRequest !== undefined);
  const header = [
    'app',
    `${unit}/s`,
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    `CPU µs/${unit}`,
    ...(withDb ? [`+ PostgreSQL µs/${unit}`] : []),
    unit === 'req' ? 'requests' : `${unit}s`,
    'non-2xx',
    'errors',
  ];
  const body = rows.map((m) => [
    m.kind,
    m.requestsPerSec.toFixed(0),
    ms(m.p50),
    ms(m.p90),
    ms(m.p99),
    ms(m.max),
    m.cpuUsPerRequest === undefined ? '-' : m.cpuUsPerRequest.toFixed(0),
    ...(withDb ? [m.dbCpuUsPerRequest === undefined ? '-' : m.dbCpuUsPerRequest.toFixed(0)] : []),
    String(m.requests),
    String(m.non2xx),
    String(m.errors + m.timeouts + m.mismatches),
  ]);
  return alignedTable(header, body);
}

function printBackground(results: readonly Measurement[], background: Background | undefined): void {
  if (background) {
    console.log(
      `Other load on the machine during measurement: ${background.otherCores.toFixed(2)} cores busy outside the benchmark, ${background.stealCores.toFixed(2)} cores stolen by the hypervisor`,
    );
  }
  const idle = results.filter((m) => m.idleCores !== undefined).map((m) => `${m.kind} ${m.idleCores!.toFixed(2)}`);
  if (idle.length > 0) console.log(`CPU each app used while the ${results.length > 2 ? 'others were' : 'other was'} under load (background work), cores: ${idle.join(', ')}`);
}

/** Prints the problems that make a measurement invalid; true when there were none. */
function reportValidity(results: readonly Measurement[], extra: string[] = []): boolean {
  const invalid = [...results.flatMap((m) => problemsOf(m).map((p) => `${m.kind}: ${p}`)), ...extra];
  if (invalid.length === 0) return true;
  console.log(`INVALID RUN (errors during measurement):\n  ${invalid.join('\n  ')}`);
  return false;
}

/**
 * The checked-out commit, read from .git without spawning git (uncommitted changes are not visible here). In a
 * linked worktree .git is a file naming the worktree's own git directory, whose `commondir` holds the refs.
 */
function commit(): string {
  try {
    let gitDir = join(REPO_ROOT, '.git');
    const dotGit = readFileSync(gitDir, 'utf8');
    if (dotGit.startsWith('gitdir: ')) gitDir = resolve(REPO_ROOT, dotGit.slice('gitdir: '.length).trim());
    return commitIn(gitDir);
  } catch (err) {
    // .git is a directory in an ordinary checkout.
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') return commitIn(join(REPO_ROOT, '.git'));
    return 'unknown';
  }
}

function commitIn(gitDir: string): string {
  try {
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return head.slice(0, 12);
    const ref = head.slice('ref: '.length);
    let common = gitDir;
    try {
      common = resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim());
    } catch {
      // not a linked worktree
    }
    const branch = ref.replace('refs/heads/', '');
    for (const dir of [gitDir, common]) {
      try {
        return `${readFileSync(join(dir, ref), 'utf8').trim().slice(0, 12)} (${branch})`;
      } catch {
        // not a loose ref here
      }
    }
    const packed = readFileSync(join(common, 'packed-refs'), 'utf8')
      .split('\n')
      .find((line) => line.endsWith(` ${ref}`));
    return packed ? `${packed.slice(0, 12)} (${branch})` : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * A fingerprint of the app's source as it is on disk (src/, commands/, jobs/, package-lock.json), so a run
 * on uncommitted work can still be matched to the exact code it measured.
 */
function treeFingerprint(): string {
  const hash = createHash('sha256');
  let files = 0;
  try {
    for (const top of ['src', 'commands', 'jobs']) {
      const names = readdirSync(join(REPO_ROOT, top), { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
        .sort();
      for (const name of names) {
        hash.update(`${name.slice(REPO_ROOT.length)}\0`).update(readFileSync(name)).update('\0');
        files++;
      }
    }
    hash.update(readFileSync(join(REPO_ROOT, 'package-lock.json')));
  } catch {
    return 'unknown';
  }
  return `${hash.digest('hex').slice(0, 12)} (sha256 of ${files} files in src/, commands/, jobs/ and package-lock.json)`;
}

function machine(): string {
  const cpus = os.cpus();
  const gib = (os.totalmem() / 1024 ** 3).toFixed(1);
  return [
    `CPU:    ${cpus[0]?.model.trim() ?? 'unknown'} × ${cpus.length} logical cores`,
    `Memory: ${gib} GiB`,
    `OS:     ${os.type()} ${os.release()} (${os.arch()})`,
    `Node:   ${process.version}`,
    `Code:   commit ${commit()}; tree ${treeFingerprint()}`,
  ].join('\n');
}

function loadLine(): string {
  return `Load:   ${CONNECTIONS} connections, ${DURATION_S} s per app in alternating ${SLICE_S} s slices, after ${WARMUP_S} s warm-up each; latency measured client-side`;
}

/** `, server CPU per <unit> 1.23x (+ PostgreSQL 0.45x)`, or '' off Linux. */
function cpuRatio(w: Measurement, b: Measurement, unit: string): string {
  if (w.cpuUsPerRequest === undefined || b.cpuUsPerRequest === undefined) return '';
  const db = w.dbCpuUsPerRequest === undefined ? '' : ` (+ PostgreSQL ${(w.dbCpuUsPerRequest / b.cpuUsPerRequest).toFixed(2)}x)`;
  return `, server CPU per ${unit} ${(w.cpuUsPerRequest / b.cpuUsPerRequest).toFixed(2)}x${db}`;
}

// ---- benchmark 1: ack latency of /waygate help ----

async function prepareAck(server: ServerChild): Promise<Prepared> {
  // One timestamp for the run (Bolt accepts it for 5 minutes); a fresh trigger_id, so a fresh signature, per request.
  const timestampSec = Math.floor(Date.now() / 1000);
  let sequence = 0;
  const next = () => signedHelpCommand(timestampSec, server.ready.responseUrl, ++sequence);
  const expectBody = await verifyAck(server, next());
  const requests: autocannon.Request[] = [
    {
      method: 'POST',
      path: EVENTS_PATH,
      setupRequest: (request) => {
        const signed = next();
        return { ...request, method: 'POST', path: EVENTS_PATH, headers: signed.headers, body: signed.body };
      },
    },
  ];
  return { server, path: EVENTS_PATH, request: { requests, verifyBody: (body) => body === expectBody } };
}

/** Returns whether the run was valid. */
async function ackBenchmark(postgres: BenchPostgres | undefined): Promise<boolean> {
  console.log(`== 1. Ack latency: signed \`/waygate help\` → POST /slack/events, Waygate${postgres ? ' on SQLite and on PostgreSQL' : ''} vs bare Bolt ==`);
  console.log(`${loadLine()}\n`);
  const servers: ServerChild[] = [];
  try {
    for (const kind of ['bare', 'waygate'] as const) servers.push(await startServer(kind));
    if (postgres) servers.push(await startWaygatePg(postgres));
    const apps = await Promise.all(servers.map(prepareAck));
    for (const app of apps) await warmUp(app);
    const { results, background } = await measure(apps);
    const [b, ...waygates] = results as [Measurement, ...Measurement[]];

    console.log(table(results));
    printBackground(results, background);
    console.log('');
    for (const w of waygates) {
      const target = w.kind === 'waygate-pg' ? TARGET_PG_P99_RATIO : TARGET_P99_RATIO;
      const ratio = w.p99 / b.p99;
      const meets = ratio <= target;
      console.log(
        `p99 ${w.kind}/bare: ${ratio.toFixed(3)}x — target ≤ ${target}x: ${meets ? 'MET' : 'MISSED'}` +
          `   (p50 ${(w.p50 / b.p50).toFixed(2)}x, throughput ${(w.requestsPerSec / b.requestsPerSec).toFixed(2)}x${cpuRatio(w, b, 'request')})`,
      );
    }
    return reportValidity(results);
  } finally {
    await stopServers(servers);
  }
}

// ---- benchmark 2: PagerDuty webhook ingest ----

async function prepareWebhook(server: ServerChild, source: WebhookEventSource): Promise<Prepared> {
  await verifyWebhook(server.kind, server.url, source);
  return {
    server,
    path: WEBHOOK_PATH,
    request: { requests: source.autocannonRequests(), verifyBody: (body) => body === APPLIED_BODY },
    // Waygate applies accepted events to incidents after the 200: wait for that before the next app's
    // slice, so its catching up is timed here and never slows another app.
    ...(server.kind === 'webhook-baseline' ? {} : { drain: () => waitForInboxDrained(server.url) }),
  };
}

/** How long the inbox may go without shrinking before the driver gives up waiting for it. */
const DRAIN_STALL_MS = 30_000;

async function waitForInboxDrained(baseUrl: string): Promise<void> {
  // Applying runs at its own pace (slower on PostgreSQL, where each statement is a round trip): wait as long
  // as it makes progress, and give up only when the queue stops shrinking.
  let fewest = Number.POSITIVE_INFINITY;
  let progressAt = performance.now();
  for (;;) {
    const res = await fetch(`${baseUrl}/health`, { headers: HEALTH_DETAILS_HEADERS });
    const body = (await res.json()) as { pagerduty?: { inboxPending?: number } };
    const pending = body.pagerduty?.inboxPending ?? 0;
    if (pending === 0) return;
    if (pending < fewest) {
      fewest = pending;
      progressAt = performance.now();
    } else if (performance.now() - progressAt > DRAIN_STALL_MS) {
      throw new Error(`Waygate applied none of its ${pending} waiting webhook events within ${DRAIN_STALL_MS / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

function durabilityLine(kind: string, d: Durability): string {
  const extra = d.incidents === undefined ? '' : `; incidents ${d.incidents}; unapplied at stop ${d.unapplied ?? 0}`;
  const outbox = d.outbox ? `; outbox rows ${d.outbox.pending} pending, ${d.outbox.delivered} delivered, ${d.outbox.failed} failed` : '';
  return (
    `  ${kind}: ${d.rows} webhook_inbox rows = ${d.acked} acknowledged + ${d.committedUnanswered} cut off unanswered at slice ends` +
    ` (lost ${d.lost}, unknown ${d.unknown})${extra}${outbox}`
  );
}

function durabilityProblems(kind: string, d: Durability): string[] {
  const problems: string[] = [];
  if (d.lost > 0) problems.push(`${kind}: ${d.lost} acknowledged events have no webhook_inbox row`);
  if (d.unknown > 0) problems.push(`${kind}: ${d.unknown} webhook_inbox rows for events never sent`);
  // At most one request per connection is in flight when a burst (verification, warm-up, each slice) ends.
  const bursts = 1 + Math.max(1, Math.round(DURATION_S / SLICE_S));
  if (d.committedUnanswered > CONNECTIONS * bursts) problems.push(`${kind}: ${d.committedUnanswered} committed but unanswered events, more than were in flight`);
  if (d.incidents !== undefined && d.incidents !== d.rows) problems.push(`${kind}: ${d.incidents} incidents for ${d.rows} incident.triggered events`);
  return problems;
}

/** Reads a stopped app's database: its SQLite file, or its PostgreSQL database. */
function durabilityOf(server: ServerChild, source: WebhookEventSource): Promise<Durability> {
  const waygate = server.kind !== 'webhook-baseline';
  return server.database
    ? readPostgres(server.database.url, (query) => checkDurability(query, source, waygate))
    : readSqlite(server.ready.dbPath, (query) => checkDurability(query, source, waygate));
}

/** Returns whether the run was valid. */
async function webhookBenchmark(postgres: BenchPostgres | undefined): Promise<boolean> {
  console.log(
    `== 2. PagerDuty webhook ingest: distinct signed incident.triggered → POST /pagerduty/webhook, Waygate${postgres ? ' on SQLite and on PostgreSQL' : ''} vs node:http + SQLite ==`,
  );
  console.log(`${loadLine()}\n`);
  const dataRoot = mkdtempSync(join(os.tmpdir(), 'waygate-bench-webhook-'));
  dataRoots.add(dataRoot);
  const servers: ServerChild[] = [];
  const sources = new Map<ServerKind, WebhookEventSource>();
  let stopped = false;
  try {
    for (const kind of ['webhook-baseline', 'waygate', ...(postgres ? (['waygate-pg'] as const) : [])] as const) {
      const dir = join(dataRoot, kind);
      mkdirSync(dir);
      servers.push(kind === 'waygate-pg' ? await startWaygatePg(postgres!, dir) : await startServer(kind, dir));
      sources.set(kind, new WebhookEventSource(1));
    }
    const sourceOf = (server: ServerChild): WebhookEventSource => sources.get(server.kind)!;
    const waygates = servers.slice(1);
    for (const server of waygates) {
      const health = await waygateHealth(server.url);
      if (health.status !== 'ok') throw new Error(`${server.kind} GET /health is ${health.status} before any load`);
    }
    const apps: Prepared[] = [];
    for (const server of servers) apps.push(await prepareWebhook(server, sourceOf(server)));
    for (const app of apps) await warmUp(app);
    const { results, background } = await measure(apps);
    const [b, ...measured] = results as [Measurement, ...Measurement[]];
    const healthAfter = new Map<ServerKind, HealthSummary | string>();
    for (const server of waygates) {
      try {
        healthAfter.set(server.kind, await waygateHealth(server.url));
      } catch (err) {
        healthAfter.set(server.kind, (err as Error).message);
      }
    }

    // Stop first: what counts is what is in the database once the app has gone.
    await Promise.all(servers.map(stopServer));
    stopped = true;
    const durability = new Map<ServerKind, Durability>();
    for (const server of servers) durability.set(server.kind, await durabilityOf(server, sourceOf(server)));

    console.log(table(results, 'event'));
    printBackground(results, background);
    for (const m of results) console.log(`${m.kind} events/s per slice: ${m.sliceRates.map((r) => r.toFixed(0)).join(' ')}`);
    for (const [kind, health] of healthAfter) {
      console.log(
        typeof health === 'string'
          ? `${kind} GET /health after the load: failed (${health})`
          : `${kind} GET /health after the load: ${health.status}, outbox ${health.outboxPending} pending, ${health.outboxFailed} failed`,
      );
    }
    console.log(`Durability (${postgres ? 'SQLite files and PostgreSQL databases' : 'SQLite files'} read after the apps stopped):`);
    for (const m of results) console.log(durabilityLine(m.kind, durability.get(m.kind)!));

    for (const w of measured) {
      const appliedRate = w.requests / (w.seconds + w.drainSeconds);
      console.log(
        `${w.kind} applied every accepted event to incidents within ${w.drainSeconds.toFixed(2)} s after its slices: ` +
          `${appliedRate.toFixed(0)} events/s end to end (accepted, stored, applied, alerts queued).`,
      );
    }
    const verdict = (ok: boolean): string => (ok ? 'MET' : 'MISSED');
    const targets: string[][] = [];
    for (const w of measured) {
      targets.push([`${w.kind} throughput ≥ ${TARGET_WEBHOOK_EVENTS_PER_S.toLocaleString('en-US')} events/s`, `${w.requestsPerSec.toFixed(0)} events/s`, verdict(w.requestsPerSec >= TARGET_WEBHOOK_EVENTS_PER_S)]);
      if (w.kind === 'waygate') {
        const ratio = w.requestsPerSec / b.requestsPerSec;
        targets.push([`waygate/baseline throughput ≥ ${TARGET_WEBHOOK_THROUGHPUT_RATIO}x`, `${ratio.toFixed(2)}x`, verdict(ratio >= TARGET_WEBHOOK_THROUGHPUT_RATIO)]);
      }
    }
    console.log(`\n${alignedTable(['target', 'measured', 'result'], targets)}`);
    for (const w of measured) {
      console.log(
        `(${w.kind}/baseline: throughput ${(w.requestsPerSec / b.requestsPerSec).toFixed(2)}x, p50 ${(w.p50 / b.p50).toFixed(2)}x, p99 ${(w.p99 / b.p99).toFixed(2)}x${cpuRatio(w, b, 'event')})`,
      );
    }
    return reportValidity(
      results,
      results.flatMap((m) => durabilityProblems(m.kind, durability.get(m.kind)!)),
    );
  } finally {
    if (!stopped) await Promise.all(servers.map(stopServer));
    for (const server of servers) await server.database?.drop();
    rmSync(dataRoot, { recursive: true, force: true });
    dataRoots.delete(dataRoot);
  }
}

// ---- benchmark 3: PagerDuty webhook latency at a fixed rate ----

/** One open-loop slice against one app; its answers count as acknowledged for the durability check. */
async function rateSlice(server: ServerChild, source: WebhookEventSource, seconds: number, into: Totals | undefined): Promise<void> {
  const ids = new WeakMap<object, string>();
  const cpuBefore = processCpuMs(server.ready.pid);
  const result = await fixedRate({
    url: server.url,
    rate: RATE,
    seconds,
    connections: RATE_CONNECTIONS,
    next: () => {
      const delivery = source.next();
      const request = { path: WEBHOOK_PATH, headers: delivery.headers, body: delivery.body };
      ids.set(request, delivery.eventId);
      return request;
    },
    check: (_status, body, request) => {
      const ok = body === APPLIED_BODY;
      const id = ids.get(request);
      if (ok && id !== undefined) source.acked.add(id);
      return ok;
    },
  });
  if (!into) {
    const problems = problemsOf({ ...result, requests: result.samples.length });
    if (problems.length > 0) throw new Error(`${server.kind} warm-up failed: ${problems.join(', ')}`);
    return;
  }
  const cpuAfter = processCpuMs(server.ready.pid);
  for (const v of result.samples) into.samples.push(v);
  into.seconds += result.seconds;
  into.non2xx += result.non2xx;
  into.errors += result.errors;
  into.timeouts += result.timeouts;
  into.mismatches += result.mismatches;
  into.serverCpuMs = addCpu(into.serverCpuMs, cpuBefore, cpuAfter);
  into.sliceRates.push(result.samples.length / result.seconds);
  if (result.maxSendLagMs > 20) console.log(`  (the load generator fell ${result.maxSendLagMs.toFixed(0)} ms behind its schedule in a ${server.kind} slice)`);
}

/** Returns whether the run was valid. */
async function webhookRateBenchmark(): Promise<boolean> {
  console.log(`== 3. PagerDuty webhook latency at a fixed ${RATE.toLocaleString('en-US')} events/s: signed incident.triggered → POST /pagerduty/webhook, Waygate vs node:http + SQLite ==`);
  console.log(
    `Load:   ${RATE} events/s open loop (evenly spaced) over up to ${RATE_CONNECTIONS} keep-alive connections, ${DURATION_S} s per app in alternating ${SLICE_S} s slices, ` +
      `after ${WARMUP_S} s warm-up each; latency from when each request was due to its answer\n`,
  );
  const dataRoot = mkdtempSync(join(os.tmpdir(), 'waygate-bench-rate-'));
  dataRoots.add(dataRoot);
  const servers: ServerChild[] = [];
  const sources = { 'webhook-baseline': new WebhookEventSource(1), waygate: new WebhookEventSource(1) };
  let stopped = false;
  try {
    for (const kind of ['webhook-baseline', 'waygate'] as const) {
      const dir = join(dataRoot, kind);
      mkdirSync(dir);
      servers.push(await startServer(kind, dir));
    }
    const [baselineServer, waygateServer] = servers as [ServerChild, ServerChild];
    const healthBefore = await waygateHealth(waygateServer.url);
    if (healthBefore.status !== 'ok') throw new Error(`waygate GET /health is ${healthBefore.status} before any load`);
    for (const [server, source] of [[baselineServer, sources['webhook-baseline']], [waygateServer, sources.waygate]] as const) {
      await verifyWebhook(server.kind, server.url, source);
      await rateSlice(server, source, WARMUP_S, undefined);
    }
    await waitForInboxDrained(waygateServer.url);

    const apps = [
      { server: baselineServer, source: sources['webhook-baseline'] },
      { server: waygateServer, source: sources.waygate },
    ] as const;
    const totals = apps.map(
      ({ server }): Totals => ({
        kind: server.kind,
        samples: [],
        seconds: 0,
        non2xx: 0,
        errors: 0,
        timeouts: 0,
        mismatches: 0,
        serverCpuMs: 0,
        dbCpuMs: undefined,
        idleCpuMs: undefined,
        idleSeconds: 0,
        sliceRates: [],
        drainSeconds: 0,
      }),
    );
    const slices = Math.max(1, Math.round(DURATION_S / SLICE_S));
    const pids = [process.pid, baselineServer.ready.pid, waygateServer.ready.pid];
    const ownCpu = (): number | undefined =>
      pids.map(processCpuMs).reduce<number | undefined>((sum, v) => (sum === undefined || v === undefined ? undefined : sum + v), 0);
    const machineBefore = machineTimes();
    const ownBefore = ownCpu();
    const wallStart = performance.now();
    for (let i = 0; i < slices; i++) {
      for (const index of i % 2 === 0 ? [0, 1] : [1, 0]) {
        const app = apps[index]!;
        const t = totals[index]!;
        await rateSlice(app.server, app.source, DURATION_S / slices, t);
        if (app.server.kind === 'waygate') {
          const drainStart = performance.now();
          await waitForInboxDrained(app.server.url);
          t.drainSeconds += (performance.now() - drainStart) / 1000;
        }
      }
    }
    const wallMs = performance.now() - wallStart;
    const machineAfter = machineTimes();
    const ownAfter = ownCpu();
    const results: [Measurement, Measurement] = [summarize(totals[0]!), summarize(totals[1]!)];
    const [b, w] = results;

    await Promise.all(servers.map(stopServer));
    stopped = true;
    const durability = {
      baseline: await durabilityOf(baselineServer, sources['webhook-baseline']),
      waygate: await durabilityOf(waygateServer, sources.waygate),
    };

    console.log(table(results, 'event'));
    const background =
      machineBefore && machineAfter && ownBefore !== undefined && ownAfter !== undefined
        ? {
            otherCores: Math.max(0, machineAfter.busyMs - machineBefore.busyMs - (ownAfter - ownBefore)) / wallMs,
            stealCores: (machineAfter.stealMs - machineBefore.stealMs) / wallMs,
          }
        : undefined;
    printBackground(results, background);
    for (const m of results) console.log(`${m.kind} events/s per slice: ${m.sliceRates.map((r) => r.toFixed(0)).join(' ')}`);
    console.log('Durability (SQLite files read after the apps stopped):');
    console.log(durabilityLine(b.kind, durability.baseline));
    console.log(durabilityLine(w.kind, durability.waygate));
    console.log(`Waygate applied the events to incidents while they arrived; ${w.drainSeconds.toFixed(2)} s of catching up after its slices in all.`);
    const ratio = w.p99 / b.p99;
    const verdict = (ok: boolean): string => (ok ? 'MET' : 'MISSED');
    console.log(
      `\n${alignedTable(
        ['target', 'measured', 'result'],
        [
          [`Waygate p99 ≤ ${TARGET_RATE_P99_RATIO}x the baseline's`, `${ratio.toFixed(2)}x (${ms(w.p99)} vs ${ms(b.p99)} ms)`, verdict(ratio <= TARGET_RATE_P99_RATIO)],
          [`Waygate p99 < ${TARGET_RATE_P99_MS} ms`, `${ms(w.p99)} ms`, verdict(w.p99 < TARGET_RATE_P99_MS)],
        ],
      )}`,
    );
    // Every delivery is answered in this benchmark (nothing is cut off at a slice's end), so none may be unanswered.
    const unanswered = (kind: string, d: Durability): string[] => (d.committedUnanswered > 0 ? [`${kind}: ${d.committedUnanswered} committed events were never answered`] : []);
    return reportValidity(results, [
      ...durabilityProblems(b.kind, durability.baseline),
      ...durabilityProblems(w.kind, durability.waygate),
      ...unanswered(b.kind, durability.baseline),
      ...unanswered(w.kind, durability.waygate),
    ]);
  } finally {
    if (!stopped) await Promise.all(servers.map(stopServer));
    rmSync(dataRoot, { recursive: true, force: true });
    dataRoots.delete(dataRoot);
  }
}

async function main(): Promise<void> {
  console.log('Waygate benchmarks');
  console.log(machine());
  // Benchmarks 1 and 2 measure Waygate on PostgreSQL too, beside SQLite.
  const postgres = WITH_POSTGRES && (ONLY === undefined || ONLY === 'ack' || ONLY === 'webhook') ? await startBenchPostgres() : undefined;
  try {
    if (postgres) console.log(`DB:     ${postgres.description}`);
    console.log(`Load average before the run: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
    let valid = true;
    if (ONLY === undefined || ONLY === 'ack') valid = (await ackBenchmark(postgres)) && valid;
    if (ONLY === undefined) console.log('');
    if (ONLY === undefined || ONLY === 'webhook') valid = (await webhookBenchmark(postgres)) && valid;
    await postgres?.stop();
    if (ONLY === undefined) console.log('');
    if (ONLY === undefined || ONLY === 'webhook-rate') valid = (await webhookRateBenchmark()) && valid;
    if (ONLY === undefined) console.log('');
    if (ONLY === undefined || ONLY === 'outbox') valid = (await outboxBenchmark()) && valid;
    if (ONLY === undefined) console.log('');
    if (ONLY === undefined || ONLY === 'bulk-ack') valid = (await bulkAckBenchmark()) && valid;
    if (!valid) process.exitCode = 1;
  } finally {
    // Stopping twice is safe; a benchmark that threw leaves the server to this.
    await postgres?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
  for (const child of liveChildren) child.kill('SIGTERM');
});
