/**
 * `npm run bench`: three benchmarks, each comparing Waygate with a minimal app doing the same job, in the same
 * run and under the same load; a fourth of the outbox alone with a large backlog (bench/outbox.ts); and a
 * fifth of `/waygate ack P1` with 10,000 open incidents against `/waygate help` on the same bot
 * (bench/bulk-ack.ts).
 *
 *  1. Ack latency of a signed `/waygate help` slash command: Waygate against a bare Bolt app that acks
 *     immediately. Every request is signed with its own trigger_id, as Slack does (a replayed one is answered
 *     without running). Target: Waygate's p99 ≤ 1.2× bare Bolt's.
 *  2. PagerDuty webhook ingest: distinct, individually signed `incident.triggered` deliveries to
 *     POST /pagerduty/webhook, Waygate (verify, validate, commit event + incident + outbox rows, then 200)
 *     against a bare node:http server that verifies the HMAC and inserts one SQLite row. Targets: Waygate
 *     ≥ 1,000 events/s and ≥ 0.5× the baseline's throughput. Afterwards each app's SQLite file must hold a
 *     row for every event it acknowledged.
 *
 *  3. PagerDuty webhook latency at a fixed rate: the same deliveries sent open loop at BENCH_RATE events/s
 *     (1,000) whatever the server is doing, Waygate (which applies the events to incidents meanwhile, in the
 *     same process) against the same baseline. Latency counts from when each request was due, so a stalled
 *     event loop shows in full. Targets: Waygate's p99 ≤ 2× the baseline's and under 50 ms.
 *
 * Every app runs as its own process (bench/servers.ts), fresh for each benchmark. Each is first checked to
 * answer one request correctly, then warmed up; then autocannon (closed loop, N keep-alive connections)
 * loads the pair in alternating slices (A, B, B, A, …) until each has had the full duration, so background
 * load on a shared machine falls on both alike. Latency is measured client-side from each request's write
 * to its response, at sub-millisecond resolution. Any non-2xx, socket error, timeout, unexpected body or
 * lost event makes the run invalid (exit code 1). Missing a target is reported, not failed: this is a
 * benchmark, not a test.
 *
 * Knobs (environment): BENCH_DURATION seconds of load per app (10), BENCH_CONNECTIONS (50),
 * BENCH_WARMUP seconds per app (2), BENCH_SLICE seconds per alternating slice (1), BENCH_ONLY
 * (`ack`, `webhook`, `webhook-rate`, `outbox` or `bulk-ack`: run one benchmark), BENCH_RATE events/s for benchmark 3 (1000),
 * BENCH_RATE_CONNECTIONS keep-alive connections it may open (32), BENCH_PROFILE a folder for the servers'
 * CPU profiles.
 */
// eslint-disable-next-line no-restricted-imports -- a benchmark needs each server in its own process (own event loop, heap and GC), and src/runner is for the bot's own jobs.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { machineTimes, processCpuMs } from './cpu.js';
import {
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
import { APPLIED_BODY, WebhookEventSource, checkDurability, verifyWebhook, waygateHealth, type Durability, type HealthSummary } from './webhook.js';
import { outboxBenchmark } from './outbox.js';
import { bulkAckBenchmark } from './bulk-ack.js';

const TARGET_P99_RATIO = 1.2;
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

/** Starts one app; with `dataDir` its SQLite file goes there and outlives the child (the caller removes it). */
function startServer(kind: ServerKind, dataDir?: string): Promise<ServerChild> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production' };
  delete env[DATA_DIR_ENV];
  if (dataDir !== undefined) env[DATA_DIR_ENV] = dataDir;
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
  /** Its CPU time while the other app was under load (background work such as outbox delivery), ms. */
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
 * Measures two apps (baseline first) in alternating slices (A B B A A B …) until each has had DURATION_S
 * of load, so whatever else the machine does during the run lands on both about equally.
 */
async function measure(apps: readonly [Prepared, Prepared]): Promise<{ results: [Measurement, Measurement]; background?: Background }> {
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
      idleCpuMs: 0,
      idleSeconds: 0,
      sliceRates: [],
      drainSeconds: 0,
    }),
  );
  const slices = Math.max(1, Math.round(DURATION_S / SLICE_S));
  const sliceS = DURATION_S / slices;
  const pids = [process.pid, ...apps.map((app) => app.server.ready.pid)];
  const ownCpu = (): number | undefined =>
    pids.map(processCpuMs).reduce<number | undefined>((sum, v) => (sum === undefined || v === undefined ? undefined : sum + v), 0);
  const machineBefore = machineTimes();
  const ownBefore = ownCpu();
  const wallStart = performance.now();
  for (let i = 0; i < slices; i++) {
    // ABBA ordering: neither app always goes first after the other one's load.
    const order = i % 2 === 0 ? [0, 1] : [1, 0];
    for (const index of order) {
      const app = apps[index]!;
      const t = totals[index]!;
      const idle = totals[1 - index]!;
      const idlePid = apps[1 - index]!.server.ready.pid;
      const samplesBefore = t.samples.length;
      const cpuBefore = processCpuMs(app.server.ready.pid);
      const idleBefore = processCpuMs(idlePid);
      const result = await burst(app, sliceS, t.samples);
      const cpuAfter = processCpuMs(app.server.ready.pid);
      const idleAfter = processCpuMs(idlePid);
      t.seconds += result.duration;
      t.non2xx += result.non2xx;
      t.errors += result.errors;
      t.timeouts += result.timeouts;
      t.mismatches += result.mismatches;
      t.serverCpuMs = addCpu(t.serverCpuMs, cpuBefore, cpuAfter);
      t.sliceRates.push((t.samples.length - samplesBefore) / result.duration);
      idle.idleCpuMs = addCpu(idle.idleCpuMs, idleBefore, idleAfter);
      idle.idleSeconds += result.duration;
      if (app.drain) {
        // Outside both apps' slices, so this app's catching up never lands on the other's measurement.
        const drainStart = performance.now();
        await app.drain();
        t.drainSeconds += (performance.now() - drainStart) / 1000;
      }
    }
  }
  const wallMs = performance.now() - wallStart;
  const machineAfter = machineTimes();
  const ownAfter = ownCpu();
  const results: [Measurement, Measurement] = [summarize(totals[0]!), summarize(totals[1]!)];
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
  const header = ['app', `${unit}/s`, 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', `CPU µs/${unit}`, unit === 'req' ? 'requests' : `${unit}s`, 'non-2xx', 'errors'];
  const body = rows.map((m) => [
    m.kind,
    m.requestsPerSec.toFixed(0),
    ms(m.p50),
    ms(m.p90),
    ms(m.p99),
    ms(m.max),
    m.cpuUsPerRequest === undefined ? '-' : m.cpuUsPerRequest.toFixed(0),
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
  if (idle.length > 0) console.log(`CPU each app used while the other was under load (background work), cores: ${idle.join(', ')}`);
}

/** Prints the problems that make a measurement invalid; true when there were none. */
function reportValidity(results: readonly Measurement[], extra: string[] = []): boolean {
  const invalid = [...results.flatMap((m) => problemsOf(m).map((p) => `${m.kind}: ${p}`)), ...extra];
  if (invalid.length === 0) return true;
  console.log(`INVALID RUN (errors during measurement):\n  ${invalid.join('\n  ')}`);
  return false;
}

/** The checked-out commit, read from .git without spawning git (uncommitted changes are not visible here). */
function commit(): string {
  try {
    const head = readFileSync(join(REPO_ROOT, '.git', 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return head.slice(0, 12);
    const ref = head.slice('ref: '.length);
    return `${readFileSync(join(REPO_ROOT, '.git', ref), 'utf8').trim().slice(0, 12)} (${ref.replace('refs/heads/', '')})`;
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
async function ackBenchmark(): Promise<boolean> {
  console.log('== 1. Ack latency: signed `/waygate help` → POST /slack/events, Waygate vs bare Bolt ==');
  console.log(`${loadLine()}\n`);
  const servers: ServerChild[] = [];
  try {
    for (const kind of ['bare', 'waygate'] as const) servers.push(await startServer(kind));
    const [bare, waygate] = await Promise.all(servers.map(prepareAck));
    const apps = [bare!, waygate!] as const;
    for (const app of apps) await warmUp(app);
    const { results, background } = await measure(apps);
    const [b, w] = results;

    console.log(table(results));
    printBackground(results, background);
    const ratio = w.p99 / b.p99;
    const meets = ratio <= TARGET_P99_RATIO;
    console.log(
      `\np99 Waygate/bare: ${ratio.toFixed(3)}x — target ≤ ${TARGET_P99_RATIO}x: ${meets ? 'MET' : 'MISSED'}` +
        `   (p50 ${(w.p50 / b.p50).toFixed(2)}x, throughput ${(w.requestsPerSec / b.requestsPerSec).toFixed(2)}x` +
        (w.cpuUsPerRequest !== undefined && b.cpuUsPerRequest !== undefined
          ? `, server CPU per request ${(w.cpuUsPerRequest / b.cpuUsPerRequest).toFixed(2)}x)`
          : ')'),
    );
    return reportValidity(results);
  } finally {
    await Promise.all(servers.map(stopServer));
  }
}

// ---- benchmark 2: PagerDuty webhook ingest ----

async function prepareWebhook(server: ServerChild, source: WebhookEventSource): Promise<Prepared> {
  await verifyWebhook(server.kind, server.url, source);
  return {
    server,
    path: WEBHOOK_PATH,
    request: { requests: source.autocannonRequests(), verifyBody: (body) => body === APPLIED_BODY },
    // Waygate applies accepted events to incidents after the 200: wait for that before the baseline's
    // slice, so its catching up is timed here and never slows the baseline.
    ...(server.kind === 'waygate' ? { drain: () => waitForInboxDrained(server.url) } : {}),
  };
}

async function waitForInboxDrained(baseUrl: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    const res = await fetch(`${baseUrl}/health`, { headers: HEALTH_DETAILS_HEADERS });
    const body = (await res.json()) as { pagerduty?: { inboxPending?: number } };
    if ((body.pagerduty?.inboxPending ?? 0) === 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('Waygate did not apply its accepted webhook events within 30 s');
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

/** Returns whether the run was valid. */
async function webhookBenchmark(): Promise<boolean> {
  console.log('== 2. PagerDuty webhook ingest: distinct signed incident.triggered → POST /pagerduty/webhook, Waygate vs node:http + SQLite ==');
  console.log(`${loadLine()}\n`);
  const dataRoot = mkdtempSync(join(os.tmpdir(), 'waygate-bench-webhook-'));
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
    const apps = [
      await prepareWebhook(baselineServer, sources['webhook-baseline']),
      await prepareWebhook(waygateServer, sources.waygate),
    ] as const;
    for (const app of apps) await warmUp(app);
    const { results, background } = await measure(apps);
    const [b, w] = results;
    let healthAfter: HealthSummary | string;
    try {
      healthAfter = await waygateHealth(waygateServer.url);
    } catch (err) {
      healthAfter = (err as Error).message;
    }

    // Stop first: what counts is what is in the file once the app has gone.
    await Promise.all(servers.map(stopServer));
    stopped = true;
    const durability = {
      baseline: checkDurability(baselineServer.ready.dbPath, sources['webhook-baseline'], false),
      waygate: checkDurability(waygateServer.ready.dbPath, sources.waygate, true),
    };

    console.log(table(results, 'event'));
    printBackground(results, background);
    for (const m of results) console.log(`${m.kind} events/s per slice: ${m.sliceRates.map((r) => r.toFixed(0)).join(' ')}`);
    console.log(
      typeof healthAfter === 'string'
        ? `Waygate GET /health after the load: failed (${healthAfter})`
        : `Waygate GET /health after the load: ${healthAfter.status}, outbox ${healthAfter.outboxPending} pending, ${healthAfter.outboxFailed} failed`,
    );
    console.log('Durability (SQLite files read after the apps stopped):');
    console.log(durabilityLine(b.kind, durability.baseline));
    console.log(durabilityLine(w.kind, durability.waygate));

    const appliedRate = w.requests / (w.seconds + w.drainSeconds);
    console.log(
      `Waygate applied every accepted event to incidents within ${w.drainSeconds.toFixed(2)} s after its slices: ` +
        `${appliedRate.toFixed(0)} events/s end to end (accepted, stored, applied, alerts queued).`,
    );
    const ratio = w.requestsPerSec / b.requestsPerSec;
    const verdict = (ok: boolean): string => (ok ? 'MET' : 'MISSED');
    console.log(
      `\n${alignedTable(
        ['target', 'measured', 'result'],
        [
          [`Waygate throughput ≥ ${TARGET_WEBHOOK_EVENTS_PER_S.toLocaleString('en-US')} events/s`, `${w.requestsPerSec.toFixed(0)} events/s`, verdict(w.requestsPerSec >= TARGET_WEBHOOK_EVENTS_PER_S)],
          [`Waygate/baseline throughput ≥ ${TARGET_WEBHOOK_THROUGHPUT_RATIO}x`, `${ratio.toFixed(2)}x`, verdict(ratio >= TARGET_WEBHOOK_THROUGHPUT_RATIO)],
        ],
      )}`,
    );
    console.log(
      `(p50 ${(w.p50 / b.p50).toFixed(2)}x, p99 ${(w.p99 / b.p99).toFixed(2)}x` +
        (w.cpuUsPerRequest !== undefined && b.cpuUsPerRequest !== undefined ? `, server CPU per event ${(w.cpuUsPerRequest / b.cpuUsPerRequest).toFixed(2)}x)` : ')'),
    );
    return reportValidity(results, [...durabilityProblems(b.kind, durability.baseline), ...durabilityProblems(w.kind, durability.waygate)]);
  } finally {
    if (!stopped) await Promise.all(servers.map(stopServer));
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
      baseline: checkDurability(baselineServer.ready.dbPath, sources['webhook-baseline'], false),
      waygate: checkDurability(waygateServer.ready.dbPath, sources.waygate, true),
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
  console.log(`Load average before the run: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  let valid = true;
  if (ONLY === undefined || ONLY === 'ack') valid = (await ackBenchmark()) && valid;
  if (ONLY === undefined) console.log('');
  if (ONLY === undefined || ONLY === 'webhook') valid = (await webhookBenchmark()) && valid;
  if (ONLY === undefined) console.log('');
  if (ONLY === undefined || ONLY === 'webhook-rate') valid = (await webhookRateBenchmark()) && valid;
  if (ONLY === undefined) console.log('');
  if (ONLY === undefined || ONLY === 'outbox') valid = (await outboxBenchmark()) && valid;
  if (ONLY === undefined) console.log('');
  if (ONLY === undefined || ONLY === 'bulk-ack') valid = (await bulkAckBenchmark()) && valid;
  if (!valid) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
  for (const child of liveChildren) child.kill('SIGTERM');
});
