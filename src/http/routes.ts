import type { ServerResponse } from 'node:http';
import type { CustomRoute } from '@slack/bolt';
import type { Services } from '../services.js';
import { isDatabaseReachable } from '../db/database.js';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  version: string;
  uptimeSeconds: number;
  database: { reachable: boolean };
  slack: { mode: 'http' | 'socket' };
  pagerduty: {
    status: 'configured' | 'partly configured' | 'not configured';
    api: boolean;
    webhooks: boolean;
    /** Webhook events accepted but not yet applied to incidents (normally 0; grows briefly in a flood). */
    inboxPending: number;
  };
  outbox: { pending: number; oldestPendingAgeSeconds: number | null; failed: number };
  jobs: Record<
    string,
    {
      schedule: string | null;
      nextRunAt: string | null;
      lastRun: { startedAt: string; finishedAt: string | null; outcome: string; error: string | null } | null;
    }
  >;
}

/** A backlog older than this means Slack delivery is stuck, which the team should hear about. */
const STUCK_OUTBOX_SECONDS = 300;

function pagerDutyHealth(s: Services): HealthReport['pagerduty'] {
  const api = Boolean(s.config.env.PAGERDUTY_API_TOKEN);
  const webhooks = s.config.webhookSecrets.length > 0;
  return {
    status: api && webhooks ? 'configured' : api || webhooks ? 'partly configured' : 'not configured',
    api,
    webhooks,
    inboxPending: s.incidents.inbox.pendingCount(),
  };
}

export function healthReport(s: Services): HealthReport {
  const now = s.clock.nowMs();
  const reachable = isDatabaseReachable(s.db);
  const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());
  let outbox: HealthReport['outbox'] = { pending: 0, oldestPendingAgeSeconds: null, failed: 0 };
  const jobs: HealthReport['jobs'] = {};
  if (reachable) {
    const stats = s.outbox.stats();
    outbox = {
      pending: stats.pending,
      oldestPendingAgeSeconds: stats.oldestPendingAt == null ? null : Math.round((now - stats.oldestPendingAt) / 1000),
      failed: stats.failed,
    };
    for (const job of s.jobs.list()) {
      const run = job.lastRun;
      jobs[job.name] = {
        schedule: job.schedule,
        nextRunAt: job.nextRunAt?.toISOString() ?? null,
        lastRun: run
          ? { startedAt: iso(run.started_at) ?? '', finishedAt: iso(run.finished_at), outcome: run.outcome, error: run.error }
          : null,
      };
    }
  }
  const stuck = (outbox.oldestPendingAgeSeconds ?? 0) > STUCK_OUTBOX_SECONDS;
  return {
    status: !reachable ? 'down' : stuck || outbox.failed > 0 ? 'degraded' : 'ok',
    version: s.version,
    uptimeSeconds: Math.round((now - s.startedAt) / 1000),
    database: { reachable },
    slack: { mode: s.config.mode },
    pagerduty: pagerDutyHealth(s),
    outbox,
    jobs,
  };
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

/** GET /health and GET /metrics, served by the same HTTP server Bolt listens on. */
export function operationalRoutes(services: () => Services): CustomRoute[] {
  return [
    {
      path: '/health',
      method: ['GET'],
      handler: (_req, res) => {
        const report = healthReport(services());
        send(res, report.status === 'down' ? 503 : 200, 'application/json', JSON.stringify(report));
      },
    },
    {
      path: '/metrics',
      method: ['GET'],
      handler: (_req, res) => {
        const s = services();
        const { metrics } = s;
        if (isDatabaseReachable(s.db)) {
          const stats = s.outbox.stats();
          metrics.outboxDepth.set(stats.pending);
          metrics.outboxFailed.set(stats.failed);
          metrics.outboxOldestAge.set(stats.oldestPendingAt == null ? 0 : (s.clock.nowMs() - stats.oldestPendingAt) / 1000);
        }
        metrics.registry
          .metrics()
          .then((text) => send(res, 200, metrics.registry.contentType, text))
          .catch((err: unknown) => {
            s.logger.error({ err }, 'metrics failed');
            send(res, 500, 'text/plain', 'metrics unavailable\n');
          });
      },
    },
  ];
}
