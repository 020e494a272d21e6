import type { ServerResponse } from 'node:http';
import type { CustomRoute } from '@slack/bolt';
import { isDatabaseReachable, type Db } from '../db/database.js';
import type { CoreServices } from '../context.js';
import type { HealthContribution } from '../core/module.js';
import type { Deadlines } from '../core/deadlines.js';
import type { DispatcherStatus } from '../outbox/dispatcher.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  version: string;
  uptimeSeconds: number;
  database: { reachable: boolean };
  slack: { mode: 'http' | 'socket' };
  /** `lastError`: the dispatcher could not read or record its rows (the database refused), so nothing moves. */
  outbox: { pending: number; oldestPendingAgeSeconds: number | null; failed: number; lastError: string | null; lastErrorAt: string | null };
  deadlines: { nextDueAt: string | null; lastError: string | null };
  /** Sections contributed by modules: `pagerduty`, `jobs`, … */
  [section: string]: unknown;
}

/** A backlog older than this means Slack delivery is stuck, which the team should hear about. */
const STUCK_OUTBOX_SECONDS = 300;

export interface HealthSources {
  core: CoreServices & { db: Db; deadlines: Deadlines };
  dispatcher: { status(): DispatcherStatus };
  contributions: ReadonlyArray<() => Record<string, HealthContribution>>;
}

export function healthReport({ core, dispatcher, contributions }: HealthSources): HealthReport {
  const now = core.clock.nowMs();
  const reachable = isDatabaseReachable(core.db);
  const { lastError, lastErrorAt } = dispatcher.status();
  let outbox: HealthReport['outbox'] = { pending: 0, oldestPendingAgeSeconds: null, failed: 0, lastError, lastErrorAt: iso(lastErrorAt) };
  const sections: Record<string, unknown> = {};
  let degraded = false;
  if (reachable) {
    const stats = core.outbox.stats();
    outbox = {
      pending: stats.pending,
      oldestPendingAgeSeconds: stats.oldestPendingAt == null ? null : Math.round((now - stats.oldestPendingAt) / 1000),
      failed: stats.failed,
      lastError,
      lastErrorAt: iso(lastErrorAt),
    };
    for (const contribute of contributions) {
      for (const [name, part] of Object.entries(contribute())) {
        sections[name] = part.value;
        degraded ||= part.degraded === true;
      }
    }
  }
  const deadlines = core.deadlines.status();
  const stuck = (outbox.oldestPendingAgeSeconds ?? 0) > STUCK_OUTBOX_SECONDS;
  return {
    status: !reachable
      ? 'down'
      : stuck || outbox.failed > 0 || outbox.lastError !== null || degraded || deadlines.lastError !== null
        ? 'degraded'
        : 'ok',
    version: core.version,
    uptimeSeconds: Math.round((now - core.startedAt) / 1000),
    database: { reachable },
    slack: { mode: core.config.mode },
    ...sections,
    outbox,
    deadlines: { nextDueAt: deadlines.nextDueAt === null ? null : new Date(deadlines.nextDueAt).toISOString(), lastError: deadlines.lastError },
  };
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

/** GET /health and GET /metrics, served by the same HTTP server Bolt listens on. */
export function operationalRoutes(sources: HealthSources): CustomRoute[] {
  const { core } = sources;
  return [
    {
      path: '/health',
      method: ['GET'],
      handler: (_req, res) => {
        const report = healthReport(sources);
        send(res, report.status === 'down' ? 503 : 200, 'application/json', JSON.stringify(report));
      },
    },
    {
      path: '/metrics',
      method: ['GET'],
      handler: (_req, res) => {
        const { metrics } = core;
        if (isDatabaseReachable(core.db)) {
          const stats = core.outbox.stats();
          metrics.outboxDepth.set(stats.pending);
          metrics.outboxFailed.set(stats.failed);
          metrics.outboxOldestAge.set(stats.oldestPendingAt == null ? 0 : (core.clock.nowMs() - stats.oldestPendingAt) / 1000);
        }
        metrics.registry
          .metrics()
          .then((text) => send(res, 200, metrics.registry.contentType, text))
          .catch((err: unknown) => {
            core.logger.error({ err }, 'metrics failed');
            send(res, 500, 'text/plain', 'metrics unavailable\n');
          });
      },
    },
  ];
}
