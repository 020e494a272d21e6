import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CustomRoute } from '@slack/bolt';
import { sql } from 'kysely';
import { first, type DataLayer } from '../db/data-layer.js';
import type { CoreServices } from '../context.js';
import type { HealthContribution } from '../core/module.js';
import type { Deadlines } from '../core/deadlines.js';
import type { DispatcherStatus } from '../outbox/dispatcher.js';
import type { Leadership, LeadershipStatus } from '../cluster/leadership.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export type ComponentState = 'ok' | 'degraded' | 'down';

/** What GET /health tells anyone who asks (a load balancer, a status page): no errors, paths or counts. */
export interface PublicHealth {
  status: 'ok' | 'degraded' | 'down';
  version: string;
  /** database, outbox, deadlines and each module's section (inbox, pagerduty, jobs, …). */
  components: Record<string, ComponentState>;
}

/** The details, for an operator who presents HEALTH_DETAILS_TOKEN. */
export interface HealthReport extends PublicHealth {
  uptimeSeconds: number;
  database: { reachable: boolean };
  slack: { mode: 'http' | 'socket' };
  /**
   * `lastError`: the dispatcher could not read or record its rows (the database refused), so nothing moves.
   * `error`: the counts could not be read; they are null then.
   */
  outbox: {
    pending: number | null;
    oldestPendingAgeSeconds: number | null;
    failed: number | null;
    lastError: string | null;
    lastErrorAt: string | null;
    error?: string;
  };
  deadlines: { nextDueAt: string | null; lastError: string | null };
  /**
   * Who does the work that must happen once: `single` (SQLite, this process) or `replicas` (PostgreSQL), this
   * replica's role and name, the lease holder, how long it has led and how long its lease still runs.
   */
  leadership: LeadershipStatus | { error: string };
  /** Sections contributed by modules: `pagerduty`, `jobs`, … */
  [section: string]: unknown;
}

/** A backlog older than this means Slack delivery is stuck, which the team should hear about. */
const STUCK_OUTBOX_SECONDS = 300;

export interface HealthSources {
  core: CoreServices & { data: DataLayer; deadlines: Deadlines; leadership: Leadership };
  dispatcher: { status(): DispatcherStatus };
  /** Each module's sections, by module name (a section that cannot be read is reported under that name). */
  contributions: ReadonlyArray<{ module: string; health: () => Record<string, HealthContribution> | Promise<Record<string, HealthContribution>> }>;
}

export async function healthReport({ core, dispatcher, contributions }: HealthSources): Promise<HealthReport> {
  const now = core.clock.nowMs();
  const reachable = await isReachable(core.data);
  const { lastError, lastErrorAt } = dispatcher.status();
  let outbox: HealthReport['outbox'] = { pending: null, oldestPendingAgeSeconds: null, failed: null, lastError, lastErrorAt: iso(lastErrorAt) };
  const sections: Record<string, unknown> = {};
  const components: Record<string, ComponentState> = { database: reachable ? 'ok' : 'down' };
  // A damaged page answers `SELECT 1` but fails the queries behind a section: that section says so, the rest
  // of the report stands, and /health never fails for it.
  if (reachable) {
    try {
      const stats = await core.outbox.stats();
      outbox = {
        ...outbox,
        pending: stats.pending,
        oldestPendingAgeSeconds: stats.oldestPendingAt == null ? null : Math.round((now - stats.oldestPendingAt) / 1000),
        failed: stats.failed,
      };
    } catch (err) {
      outbox.error = (err as Error).message;
    }
    for (const { module, health } of contributions) {
      try {
        for (const [name, part] of Object.entries(await health())) {
          sections[name] = part.value;
          components[name] = part.degraded === true ? 'degraded' : 'ok';
        }
      } catch (err) {
        sections[module] = { error: (err as Error).message };
        components[module] = 'degraded';
      }
    }
  }
  let leadership: HealthReport['leadership'];
  try {
    leadership = await core.leadership.status();
  } catch (err) {
    leadership = { error: (err as Error).message };
  }
  // Nobody leads (the lease ran out and no replica took it): alerts, deadlines and deliveries are stalled.
  const leaderless = 'error' in leadership || leadership.holder === null || (leadership.expiresInSeconds ?? 1) < 0;
  components.leadership = !reachable ? 'down' : leaderless ? 'degraded' : 'ok';
  const deadlines = core.deadlines.status();
  const stuck = (outbox.oldestPendingAgeSeconds ?? 0) > STUCK_OUTBOX_SECONDS;
  const outboxTrouble = stuck || (outbox.failed ?? 0) > 0 || outbox.lastError !== null || outbox.error !== undefined;
  components.outbox = !reachable ? 'down' : outboxTrouble ? 'degraded' : 'ok';
  components.deadlines = deadlines.lastError !== null ? 'degraded' : 'ok';
  return {
    status: !reachable ? 'down' : Object.values(components).some((c) => c !== 'ok') ? 'degraded' : 'ok',
    version: core.version,
    components,
    uptimeSeconds: Math.round((now - core.startedAt) / 1000),
    database: { reachable },
    slack: { mode: core.config.mode },
    ...sections,
    outbox,
    deadlines: { nextDueAt: deadlines.nextDueAt === null ? null : new Date(deadlines.nextDueAt).toISOString(), lastError: deadlines.lastError },
    leadership,
  };
}

function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', ...headers });
  res.end(body);
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Who may see the details: 'public' without an Authorization header, 'details' with the configured bearer
 * token, otherwise the reason for a 401. Compared as SHA-256 digests with timingSafeEqual, so neither the
 * token's content nor its length shows in the response time.
 */
function healthAudience(req: IncomingMessage, detailsToken: string | undefined): 'public' | 'details' | { refused: string } {
  const header = req.headers.authorization;
  if (header === undefined) return 'public';
  if (detailsToken === undefined) return { refused: 'health details are not enabled: set HEALTH_DETAILS_TOKEN' };
  const presented = /^Bearer (.+)$/.exec(header)?.[1] ?? '';
  return timingSafeEqual(digest(presented), digest(detailsToken)) ? 'details' : { refused: 'invalid health details token' };
}

/** Whether the database answers a trivial query (a damaged SQLite page or a PostgreSQL that is down does not). */
async function isReachable(data: DataLayer): Promise<boolean> {
  try {
    return (await first(data.db, sql<{ one: number }>`SELECT 1 AS one`))?.one === 1;
  } catch {
    return false;
  }
}

/** Answers GET /health: the public summary, or the whole report for a caller with the details token. */
async function serveHealth(sources: HealthSources, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { core } = sources;
  const audience = healthAudience(req, core.config.env.HEALTH_DETAILS_TOKEN);
  if (typeof audience === 'object') {
    send(res, 401, 'application/json', JSON.stringify({ error: audience.refused }), { 'www-authenticate': 'Bearer' });
    return;
  }
  let report: HealthReport;
  try {
    report = await healthReport(sources);
  } catch (err) {
    core.logger.error({ err }, 'health report failed');
    send(res, 503, 'application/json', JSON.stringify({ status: 'down', version: core.version, components: {} }));
    return;
  }
  const { status, version, components } = report;
  const body: PublicHealth | HealthReport = audience === 'details' ? report : { status, version, components };
  send(res, status === 'down' ? 503 : 200, 'application/json', JSON.stringify(body));
}

/** Answers GET /metrics, with the outbox gauges read fresh. */
async function serveMetrics(core: HealthSources['core'], res: ServerResponse): Promise<void> {
  const { metrics } = core;
  if (await isReachable(core.data)) {
    try {
      const stats = await core.outbox.stats();
      metrics.outboxDepth.set(stats.pending);
      metrics.outboxFailed.set(stats.failed);
      metrics.outboxOldestAge.set(stats.oldestPendingAt == null ? 0 : (core.clock.nowMs() - stats.oldestPendingAt) / 1000);
    } catch (err) {
      // The gauges keep their last values; /health names the trouble.
      core.logger.warn({ err }, 'outbox gauges not updated');
    }
  }
  try {
    send(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
  } catch (err) {
    core.logger.error({ err }, 'metrics failed');
    send(res, 500, 'text/plain', 'metrics unavailable\n');
  }
}

/** GET /health and GET /metrics, served by the same HTTP server Bolt listens on. */
export function operationalRoutes(sources: HealthSources): CustomRoute[] {
  const { core } = sources;
  return [
    {
      path: '/health',
      method: ['GET'],
      handler: (req, res) => void serveHealth(sources, req, res),
    },
    {
      path: '/metrics',
      method: ['GET'],
      handler: (_req, res) => void serveMetrics(core, res),
    },
  ];
}
