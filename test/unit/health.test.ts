import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { openDatabase, type Db } from '../../src/db/database.js';
import { DataLayer, type Executor } from '../../src/db/data-layer.js';
import {
  checkHealth,
  formatTimeout,
  HEALTH_STATE_KEY,
  HealthMonitor,
  type HealthObservation,
  summarizeBody,
  type HealthCheckResult,
} from '../../src/health/health-check.js';
import { HealthStore, nearestRank } from '../../src/health/health-store.js';
import { systemdState, SYSTEMD_NOT_AVAILABLE, SYSTEMD_NOT_CONFIGURED } from '../../src/health/systemd.js';
import { RecordingRunner } from '../support/recording-runner.js';

const MIN5 = 5 * 60_000;

describe('HealthStore', () => {
  let db: Db;
  let store: HealthStore;
  let ex: Executor;
  beforeEach(() => {
    db = openDatabase(':memory:');
    store = new HealthStore(DataLayer.sqlite(db));
    ex = DataLayer.sqlite(db).db;
  });
  afterEach(() => db.close());

  it('computes uptime and nearest-rank p50/p95 over the samples that got an HTTP answer', async () => {
    const t0 = Date.parse('2026-01-05T00:00:00Z');
    let at = t0;
    // 20 HTTP answers with latencies 10, 20, …, 200 ms; the 190 and 200 ms ones are 503s.
    for (let i = 1; i <= 20; i++) {
      const ok = i <= 18;
      await store.record(ex, { at, ok, httpStatus: ok ? 200 : 503, latencyMs: i * 10, summary: ok ? 'status=healthy' : 'HTTP 503' });
      at += MIN5;
    }
    // 5 samples without an HTTP answer: they count against uptime but have no latency.
    for (let i = 0; i < 5; i++) {
      await store.record(ex, { at, ok: false, httpStatus: null, latencyMs: null, summary: 'connection refused' });
      at += MIN5;
    }
    expect(await store.stats(ex, t0)).toEqual({ samples: 25, okSamples: 18, uptimePct: 72, p50Ms: 100, p95Ms: 190 });
  });

  it('only counts samples at or after the given instant', async () => {
    const t0 = Date.parse('2026-01-05T00:00:00Z');
    await store.record(ex, { at: t0 - 1, ok: false, httpStatus: 500, latencyMs: 9_999, summary: 'HTTP 500' });
    await store.record(ex, { at: t0, ok: true, httpStatus: 200, latencyMs: 120, summary: 'ok' });
    await store.record(ex, { at: t0 + MIN5, ok: true, httpStatus: 200, latencyMs: 80, summary: 'ok' });
    expect(await store.stats(ex, t0)).toEqual({ samples: 2, okSamples: 2, uptimePct: 100, p50Ms: 80, p95Ms: 120 });
    expect((await store.samplesSince(ex, t0)).map((s) => s.latencyMs)).toEqual([120, 80]);
  });

  it('returns nulls without data, and null percentiles when nothing answered', async () => {
    expect(await store.stats(ex, 0)).toEqual({ samples: 0, okSamples: 0, uptimePct: null, p50Ms: null, p95Ms: null });
    await store.record(ex, { at: 1, ok: false, httpStatus: null, latencyMs: null, summary: 'timed out after 5 s' });
    expect(await store.stats(ex, 0)).toEqual({ samples: 1, okSamples: 0, uptimePct: 0, p50Ms: null, p95Ms: null });
  });

  it('nearest rank picks the smallest value covering p % of the data', () => {
    expect(nearestRank([], 50)).toBeNull();
    expect(nearestRank([7], 95)).toBe(7);
    expect(nearestRank([1, 2, 3, 4], 50)).toBe(2);
    expect(nearestRank([1, 2, 3, 4], 95)).toBe(4);
    expect(nearestRank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(nearestRank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
  });

  it('round-trips samples, rounding latency to whole milliseconds', async () => {
    const id = await store.record(ex, { at: 42, ok: true, httpStatus: 204, latencyMs: 12.6, summary: 'HTTP 204 (empty body)' });
    expect(await store.samplesSince(ex, 0)).toEqual([
      { id, at: 42, ok: true, httpStatus: 204, latencyMs: 13, summary: 'HTTP 204 (empty body)' },
    ]);
  });

  it('keeps service_state values and overwrites them', async () => {
    expect(await store.get(ex, 'log.offset')).toBeNull();
    await store.set(ex, 'log.offset', '100');
    await store.set(ex, 'log.offset', '250');
    expect(await store.get(ex, 'log.offset')).toBe('250');
  });

  it('prunes samples older than the cut-off', async () => {
    for (const at of [100, 200, 300]) await store.record(ex, { at, ok: true, httpStatus: 200, latencyMs: 1, summary: 'ok' });
    expect(await store.prune(ex, 200)).toBe(1);
    expect((await store.samplesSince(ex, 0)).map((s) => s.at)).toEqual([200, 300]);
  });
});

describe('checkHealth against a real HTTP server', () => {
  let server: http.Server;
  let base: string;

  beforeEach(async () => {
    server = http.createServer((req, res) => {
      switch (req.url) {
        case '/health':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ status: 'healthy', version: '1.2', uptime: 3600, checks: { db: 'ok' }, tags: ['a'] }));
          return;
        case '/down':
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end('Service Unavailable: database   migration\nin progress');
          return;
        case '/long':
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end(`<html>${'x'.repeat(500)}</html>`);
          return;
        case '/empty':
          res.writeHead(204);
          res.end();
          return;
        case '/hang':
          return; // never answers
        default:
          res.writeHead(404);
          res.end('{"detail":"Not Found"}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('summarises a healthy JSON answer as key=value pairs of its scalar fields', async () => {
    const r = await checkHealth(`${base}/health`, 2_000);
    expect(r).toMatchObject({ ok: true, httpStatus: 200, summary: 'status=healthy version=1.2 uptime=3600' });
    expect(r.latencyMs).toEqual(expect.any(Number));
    expect(r.latencyMs).toBeGreaterThanOrEqual(0);
    expect(r.latencyMs).toBeLessThan(2_000);
  });

  it('reports a 503 with its status and the start of the body', async () => {
    const r = await checkHealth(`${base}/down`, 2_000);
    expect(r).toMatchObject({
      ok: false,
      httpStatus: 503,
      summary: 'HTTP 503: Service Unavailable: database migration in progress',
    });
    expect(r.latencyMs).toEqual(expect.any(Number));
  });

  it('treats only 2xx as healthy and summarises JSON error bodies too', async () => {
    expect(await checkHealth(`${base}/nope`, 2_000)).toMatchObject({ ok: false, httpStatus: 404, summary: 'HTTP 404: detail=Not Found' });
    expect(await checkHealth(`${base}/empty`, 2_000)).toMatchObject({ ok: true, httpStatus: 204, summary: 'HTTP 204 (empty body)' });
  });

  it('keeps the first 100 characters of a non-JSON body', async () => {
    const r = await checkHealth(`${base}/long`, 2_000);
    expect(r.ok).toBe(true);
    expect([...r.summary]).toHaveLength(100);
    expect(r.summary.startsWith('<html>xxx')).toBe(true);
    expect(r.summary.endsWith('…')).toBe(true);
  });

  it('gives up after the timeout when the server hangs', async () => {
    const started = performance.now();
    const r = await checkHealth(`${base}/hang`, 200);
    const took = performance.now() - started;
    expect(r).toEqual({ ok: false, httpStatus: null, latencyMs: null, summary: 'timed out after 200 ms' });
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(5_000);
  });

  it('says "connection refused" for a port nobody listens on', async () => {
    const spare = http.createServer();
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
    const port = (spare.address() as AddressInfo).port;
    await new Promise<void>((resolve) => spare.close(() => resolve()));
    const r = await checkHealth(`http://127.0.0.1:${port}/health`, 2_000);
    expect(r).toEqual({ ok: false, httpStatus: null, latencyMs: null, summary: 'connection refused' });
  });

  it('never throws, whatever fetch does', async () => {
    const throwing = (() => {
      throw new TypeError('boom');
    }) as unknown as typeof fetch;
    expect(await checkHealth('http://example.invalid/', 1_000, throwing)).toEqual({
      ok: false,
      httpStatus: null,
      latencyMs: null,
      summary: 'boom',
    });
    expect((await checkHealth('not a url', 1_000)).ok).toBe(false);
  });
});

describe('summaries and durations', () => {
  it('formats whole-second timeouts the way the SOP says them', () => {
    expect(formatTimeout(5_000)).toBe('5 s');
    expect(formatTimeout(200)).toBe('200 ms');
    expect(formatTimeout(2_500)).toBe('2.5 s');
  });

  it('falls back to text for JSON without scalar fields and for invalid JSON', () => {
    expect(summarizeBody('{"checks":{"db":"ok"}}')).toBe('{"checks":{"db":"ok"}}');
    expect(summarizeBody('{not json')).toBe('{not json');
    expect(summarizeBody('  ')).toBe('');
    expect(summarizeBody('{"ok":true,"note":null}')).toBe('ok=true note=null');
  });
});

const good: HealthCheckResult = { ok: true, httpStatus: 200, latencyMs: 50, summary: 'status=healthy' };
const bad: HealthCheckResult = { ok: false, httpStatus: null, latencyMs: null, summary: 'connection refused' };

describe('HealthMonitor', () => {
  let dir: string;
  let dbPath: string;
  let db: Db;
  let clock: ManualClock;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-health-'));
    dbPath = join(dir, 'waygate.db');
    db = openDatabase(dbPath);
    clock = new ManualClock('2026-01-05T08:00:00Z');
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function monitor(n = 3): HealthMonitor {
    return new HealthMonitor({ store: new HealthStore(DataLayer.sqlite(db)), clock, failuresBeforeDown: n });
  }

  /** The root of the current handle's data layer (the handle changes at a restart). */
  const ex = (): Executor => DataLayer.sqlite(db).db;

  async function sample(m: HealthMonitor, r: HealthCheckResult) {
    clock.advance(MIN5);
    return m.observe(ex(), r);
  }

  it('a good first sample after boot moves unknown → up without a transition', async () => {
    const m = monitor();
    expect(await m.current(ex())).toEqual({ state: 'unknown', since: null, consecutiveFailures: 0 });
    const o = await sample(m, good);
    expect(o).toEqual({ transition: null, state: 'up', since: clock.nowMs(), consecutiveFailures: 0 });
    expect((await sample(m, good)).transition).toBeNull();
  });

  it('goes down exactly once after N consecutive failures, however many more fail', async () => {
    const m = monitor(3);
    await sample(m, good);
    const first = await sample(m, bad);
    const firstAt = clock.nowMs();
    expect(first).toEqual({ transition: null, state: 'up', since: expect.any(Number), consecutiveFailures: 1 });
    expect((await sample(m, bad)).transition).toBeNull();
    const down = await sample(m, bad);
    expect(down).toEqual({ transition: 'down', state: 'down', since: firstAt, consecutiveFailures: 3 });
    const later: HealthObservation[] = [];
    for (let i = 0; i < 10; i++) later.push(await sample(m, bad));
    expect(later.map((o) => o.transition)).toEqual(Array(10).fill(null));
    expect(later.at(-1)).toEqual({ transition: null, state: 'down', since: firstAt, consecutiveFailures: 13 });
  });

  it('one good sample ends the outage with exactly one up', async () => {
    const m = monitor(2);
    await sample(m, good);
    await sample(m, bad);
    expect((await sample(m, bad)).transition).toBe('down');
    const up = await sample(m, good);
    expect(up).toEqual({ transition: 'up', state: 'up', since: clock.nowMs(), consecutiveFailures: 0 });
    expect((await sample(m, good)).transition).toBeNull();
    // A fresh outage gets its own down.
    await sample(m, bad);
    expect((await sample(m, bad)).transition).toBe('down');
  });

  it('failures short of N followed by a good sample change nothing', async () => {
    const m = monitor(3);
    await sample(m, good);
    const transitions: Array<HealthObservation['transition']> = [];
    for (const r of [bad, bad, good, bad, bad, good]) transitions.push((await sample(m, r)).transition);
    expect(transitions).toEqual([null, null, null, null, null, null]);
    expect(await m.current(ex())).toMatchObject({ state: 'up', consecutiveFailures: 0 });
  });

  it('failures right after boot count toward down', async () => {
    const m = monitor(2);
    expect(await sample(m, bad)).toMatchObject({ transition: null, state: 'unknown', consecutiveFailures: 1 });
    expect(await sample(m, bad)).toMatchObject({ transition: 'down', state: 'down', consecutiveFailures: 2 });
  });

  it('N = 1 goes down on the first failure', async () => {
    const m = monitor(1);
    await sample(m, good);
    expect((await sample(m, bad)).transition).toBe('down');
    expect((await sample(m, bad)).transition).toBeNull();
  });

  it('records every observed sample in the store', async () => {
    const m = monitor(2);
    for (const r of [good, bad, { ...bad, httpStatus: 503, latencyMs: 30, summary: 'HTTP 503' }]) await sample(m, r);
    const samples = await new HealthStore(DataLayer.sqlite(db)).samplesSince(ex(), 0);
    expect(samples.map((s) => [s.ok, s.httpStatus, s.summary])).toEqual([
      [true, 200, 'status=healthy'],
      [false, null, 'connection refused'],
      [false, 503, 'HTTP 503'],
    ]);
    expect(samples.map((s) => s.at)).toEqual([0, 1, 2].map((i) => Date.parse('2026-01-05T08:05:00Z') + i * MIN5));
  });

  it('survives a restart: no second down, and the recovery is still announced', async () => {
    const m1 = monitor(2);
    await sample(m1, good);
    await sample(m1, bad);
    const down = await sample(m1, bad);
    expect(down.transition).toBe('down');
    db.close();

    db = openDatabase(dbPath);
    const m2 = monitor(2);
    expect(await m2.current(ex())).toEqual({ state: 'down', since: down.since, consecutiveFailures: 2 });
    expect(await sample(m2, bad)).toEqual({ transition: null, state: 'down', since: down.since, consecutiveFailures: 3 });
    expect((await sample(m2, good)).transition).toBe('up');
  });

  it('survives a restart mid-streak: the failures before it still count', async () => {
    const m1 = monitor(3);
    await sample(m1, good);
    await sample(m1, bad);
    await sample(m1, bad);
    const m2 = monitor(3);
    expect((await sample(m2, bad)).transition).toBe('down');
  });

  it('records in the caller\'s transaction: a rollback takes the sample and the state with it', async () => {
    const m = monitor(1);
    await sample(m, good);
    clock.advance(MIN5);
    await expect(
      DataLayer.sqlite(db).transaction(async (tx) => {
        expect((await m.observe(tx, bad)).transition).toBe('down');
        throw new Error('the announcement failed');
      }),
    ).rejects.toThrow('the announcement failed');
    expect(await m.current(ex())).toMatchObject({ state: 'up', consecutiveFailures: 0 });
    expect(await new HealthStore(DataLayer.sqlite(db)).samplesSince(ex(), 0)).toHaveLength(1);
    expect((await sample(m, bad)).transition).toBe('down');
  });

  it('treats unreadable persisted state as unknown', async () => {
    await new HealthStore(DataLayer.sqlite(db)).set(ex(), HEALTH_STATE_KEY, '{garbage');
    expect(await monitor().current(ex())).toEqual({ state: 'unknown', since: null, consecutiveFailures: 0 });
  });

  it('rejects a threshold below 1', () => {
    expect(() => monitor(0)).toThrow(RangeError);
    expect(() => monitor(1.5)).toThrow(RangeError);
  });
});

describe('systemdState', () => {
  it('runs exactly `systemctl is-active <unit>` with a 5 s timeout and returns the state', async () => {
    const runner = new RecordingRunner(() => ({ exitCode: 0, output: 'active\n' }));
    expect(await systemdState('waygate-mcp', runner)).toBe('active');
    expect(runner.calls).toHaveLength(1);
    expect(runner.calls[0]!.argv).toEqual(['systemctl', 'is-active', 'waygate-mcp']);
    expect(runner.calls[0]!.timeoutMs).toBe(5_000);
  });

  it('returns inactive / failed although is-active exits non-zero for them', async () => {
    expect(await systemdState('waygate-mcp', new RecordingRunner(() => ({ exitCode: 3, output: 'inactive\n' })))).toBe('inactive');
    expect(await systemdState('waygate-mcp', new RecordingRunner(() => ({ exitCode: 3, output: 'failed\n' })))).toBe('failed');
  });

  it('does not run anything without a unit', async () => {
    const runner = new RecordingRunner();
    expect(await systemdState(null, runner)).toBe(SYSTEMD_NOT_CONFIGURED);
    expect(await systemdState(null, runner)).toBe('not checked (no unit configured)');
    expect(runner.calls).toHaveLength(0);
  });

  it('says so when systemctl is missing', async () => {
    const runner = new RecordingRunner(() => ({ failedToStart: 'command not found: systemctl' }));
    expect(await systemdState('waygate-mcp', runner)).toBe(SYSTEMD_NOT_AVAILABLE);
    expect(SYSTEMD_NOT_AVAILABLE).toBe('not available (no systemctl)');
  });

  it('explains other start failures, timeouts and hosts without systemd', async () => {
    expect(await systemdState('u', new RecordingRunner(() => ({ failedToStart: 'permission denied: systemctl' })))).toBe(
      'not available (permission denied: systemctl)',
    );
    expect(await systemdState('u', new RecordingRunner(() => ({ timedOut: true, exitCode: null })))).toBe(
      'unknown (systemctl timed out after 5 s)',
    );
    const noSystemd = new RecordingRunner(() => ({
      exitCode: 1,
      output: 'System has not been booted with systemd as init system (PID 1). Can\'t operate.\nFailed to connect to bus: Host is down\n',
    }));
    expect(await systemdState('u', noSystemd)).toBe('not available (systemd not running)');
    expect(await systemdState('u', new RecordingRunner(() => ({ exitCode: 4, output: '' })))).toBe(
      'unknown (systemctl exited 4 with no output)',
    );
  });

  it('refuses a unit name systemctl would read as an option', async () => {
    const runner = new RecordingRunner();
    expect(await systemdState('--help', runner)).toMatch(/^not checked \(invalid unit name/);
    expect(runner.calls).toHaveLength(0);
  });
});
