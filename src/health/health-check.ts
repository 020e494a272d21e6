/**
 * SOP-MAINT-001 step 1, `curl http://localhost:8000/health`, as a bounded HTTP request, and the
 * up/down bookkeeping of the 5-minute samples.
 */
import { performance } from 'node:perf_hooks';
import type { Clock } from '../clock/clock.js';
import { formatDuration, oneLine, redactCredentials, truncate } from '../core/text.js';
import type { Executor } from '../db/data-layer.js';
import type { HealthStore } from './health-store.js';

export interface HealthCheckResult {
  /** True for a 2xx answer within the timeout. */
  ok: boolean;
  /** Null when there was no HTTP answer (refused, timed out, DNS failure). */
  httpStatus: number | null;
  /** Time to the complete body; null without an HTTP answer. */
  latencyMs: number | null;
  /** `status=healthy version=1.2` for JSON, the start of other bodies, or what went wrong. */
  summary: string;
}

/** Bodies beyond this are not read further: a health answer is small. */
const BODY_LIMIT_BYTES = 64 * 1024;
const TEXT_SUMMARY_CHARS = 100;
const JSON_SUMMARY_CHARS = 200;
const JSON_VALUE_CHARS = 40;
const JSON_FIELDS = 8;

/** "5 s", "200 ms", "2.5 s": a timeout is said as precisely as it was configured. */
export function formatTimeout(ms: number): string {
  return formatDuration(ms, { precise: true });
}

/**
 * `key=value` for the top-level scalar fields of a JSON object body (`status=healthy version=1.2`),
 * otherwise the first 100 characters of the body on one line. Empty for an empty body.
 */
export function summarizeBody(body: string): string {
  const trimmed = body.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed = JSON.parse(trimmed) as unknown;
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        const pairs = Object.entries(parsed as Record<string, unknown>)
          .filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v))
          .slice(0, JSON_FIELDS)
          .map(([k, v]) => `${oneLine(k)}=${truncate(oneLine(String(v)), JSON_VALUE_CHARS)}`);
        if (pairs.length > 0) return truncate(pairs.join(' '), JSON_SUMMARY_CHARS);
      }
    } catch {
      // Not JSON after all: summarised as text below.
    }
  }
  return truncate(oneLine(trimmed), TEXT_SUMMARY_CHARS);
}

/** Reads at most `limit` bytes of the body, then stops the download. */
async function readBody(res: Response, limit: number): Promise<string> {
  if (!res.body) return '';
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    if (size >= limit) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, limit));
}

const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found (DNS lookup failed)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed by the server',
};

function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timed out after ${formatTimeout(timeoutMs)}`;
  // undici puts the socket error in `cause`, sometimes wrapped once more (AggregateError for dual-stack hosts).
  const causes: unknown[] = [e, e.cause, (e.cause as { errors?: unknown[] } | undefined)?.errors?.[0]];
  for (const c of causes) {
    const code = (c as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string' && code in NETWORK_ERRORS) return NETWORK_ERRORS[code] ?? code;
  }
  const message = typeof e.message === 'string' ? e.message : String(err);
  const cause = e.cause instanceof Error && e.cause.message !== message ? ` (${e.cause.message})` : '';
  return truncate(oneLine(`${message}${cause}`), 200) || 'request failed';
}

/**
 * One GET of the health URL with a hard timeout covering headers and body. Never throws: every failure
 * becomes `ok: false` with a readable summary ("connection refused", "timed out after 5 s", "HTTP 503: …").
 */
export async function checkHealth(url: string, timeoutMs: number, fetchImpl: typeof fetch = fetch): Promise<HealthCheckResult> {
  const started = performance.now();
  try {
    const { target, authorization } = splitCredentials(url);
    const res = await fetchImpl(target, {
      method: 'GET',
      headers: { accept: 'application/json, text/plain;q=0.9, */*;q=0.5', ...(authorization ? { authorization } : {}) },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = await readBody(res, BODY_LIMIT_BYTES);
    const latencyMs = Math.round(performance.now() - started);
    const ok = res.status >= 200 && res.status < 300;
    const summary = summarizeBody(body);
    if (ok) return { ok, httpStatus: res.status, latencyMs, summary: summary || `HTTP ${res.status} (empty body)` };
    return { ok, httpStatus: res.status, latencyMs, summary: summary ? `HTTP ${res.status}: ${summary}` : `HTTP ${res.status}` };
  } catch (err) {
    // Error texts may quote the URL; the summary reaches Slack, the digest and PagerDuty.
    return { ok: false, httpStatus: null, latencyMs: null, summary: redactCredentials(describeFailure(err, timeoutMs)) };
  }
}

/**
 * `http://user:password@host/health` as curl reads it: the credentials go in a Basic Authorization header
 * (fetch refuses a URL that carries them), the request goes to the URL without them.
 */
function splitCredentials(url: string): { target: string; authorization: string | null } {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return { target: url, authorization: null };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { target: parsed.href, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

export type ServiceState = 'up' | 'down' | 'unknown';

export interface HealthObservation {
  /** 'down' once per outage, 'up' once per recovery; null otherwise (also for the first good sample after boot). */
  transition: 'down' | 'up' | null;
  state: ServiceState;
  /** Down: when the first failed sample of the outage was taken. Up: when the good sample that made it up was. */
  since: number | null;
  consecutiveFailures: number;
}

export interface HealthMonitorOptions {
  store: HealthStore;
  clock: Clock;
  /** Consecutive failed samples before the service counts as down (ServiceConfig.failuresBeforeDown). */
  failuresBeforeDown: number;
}

interface PersistedState {
  state: ServiceState;
  since: number | null;
  consecutiveFailures: number;
  /** When the current run of failures began; null while the last sample was good. */
  failingSince: number | null;
}

/** service_state key holding the monitor's state as JSON. */
export const HEALTH_STATE_KEY = 'health.monitor';

const INITIAL: PersistedState = { state: 'unknown', since: null, consecutiveFailures: 0, failingSince: null };

function parseState(text: string | null): PersistedState {
  if (text === null) return { ...INITIAL };
  try {
    const v = JSON.parse(text) as Partial<PersistedState>;
    const state = v.state === 'up' || v.state === 'down' ? v.state : 'unknown';
    const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
    return {
      state,
      since: num(v.since),
      consecutiveFailures: Math.max(0, Math.trunc(num(v.consecutiveFailures) ?? 0)),
      failingSince: num(v.failingSince),
    };
  } catch {
    return { ...INITIAL };
  }
}

/**
 * Turns the stream of samples into up/down transitions:
 * - the service goes **down** after `failuresBeforeDown` consecutive failed samples — one 'down' per outage,
 *   however many more failures follow;
 * - **one good sample ends an outage** ('up'): a service that answers 2xx again is back, and waiting for more
 *   good samples would only delay the all-clear by another 5-minute interval per sample;
 * - at first start the state is 'unknown': a good sample moves it to 'up' silently (no "recovered" message on
 *   boot) and failures count toward 'down' as usual.
 * The state is kept in `service_state`, written in the same transaction as the sample, so a restart neither
 * repeats a 'down' already announced nor forgets an outage still open.
 */
export class HealthMonitor {
  private readonly store: HealthStore;
  private readonly clock: Clock;
  private readonly failuresBeforeDown: number;

  constructor(opts: HealthMonitorOptions) {
    if (!Number.isInteger(opts.failuresBeforeDown) || opts.failuresBeforeDown < 1) {
      throw new RangeError(`failuresBeforeDown must be a whole number of at least 1 (got ${opts.failuresBeforeDown})`);
    }
    this.store = opts.store;
    this.clock = opts.clock;
    this.failuresBeforeDown = opts.failuresBeforeDown;
  }

  /** Where things stand without taking a sample. */
  async current(ex: Executor): Promise<Omit<HealthObservation, 'transition'>> {
    const s = parseState(await this.store.get(ex, HEALTH_STATE_KEY));
    return { state: s.state, since: s.since, consecutiveFailures: s.consecutiveFailures };
  }

  /**
   * Records the sample (taken now, by the clock) and returns the resulting state and any transition, in the
   * caller's transaction `ex` (in one of its own when `ex` is not a transaction).
   */
  async observe(ex: Executor, result: HealthCheckResult): Promise<HealthObservation> {
    const at = this.clock.nowMs();
    return this.store.within(ex, async (tx) => {
      await this.store.record(tx, { at, ok: result.ok, httpStatus: result.httpStatus, latencyMs: result.latencyMs, summary: result.summary });
      const prev = parseState(await this.store.get(tx, HEALTH_STATE_KEY));
      const next: PersistedState = { ...prev };
      let transition: HealthObservation['transition'] = null;
      if (result.ok) {
        next.consecutiveFailures = 0;
        next.failingSince = null;
        if (prev.state !== 'up') {
          if (prev.state === 'down') transition = 'up';
          next.state = 'up';
          next.since = at;
        }
      } else {
        next.consecutiveFailures = prev.consecutiveFailures + 1;
        next.failingSince = prev.consecutiveFailures === 0 || prev.failingSince === null ? at : prev.failingSince;
        if (prev.state !== 'down' && next.consecutiveFailures >= this.failuresBeforeDown) {
          transition = 'down';
          next.state = 'down';
          next.since = next.failingSince;
        }
      }
      await this.store.set(tx, HEALTH_STATE_KEY, JSON.stringify(next));
      return { transition, state: next.state, since: next.since, consecutiveFailures: next.consecutiveFailures };
    });
  }
}
