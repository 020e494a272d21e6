import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics. One registry per app instance, so tests running several bots don't collide. */
export class Metrics {
  readonly registry = new Registry();
  readonly commands = new Counter({
    name: 'waygate_commands_total',
    help: 'Slash commands handled, by verb and outcome',
    labelNames: ['verb', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly actions = new Counter({
    name: 'waygate_actions_total',
    help: 'Interactive actions (buttons) handled, by action id and outcome',
    labelNames: ['action', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly slackReplays = new Counter({
    name: 'waygate_slack_replays_total',
    help: 'Signed Slack requests handled before (replays, Slack retries), answered without running them again, by payload type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly denials = new Counter({
    name: 'waygate_permission_denials_total',
    help: 'Commands, buttons and steps refused by the permission policy, by permission and rule',
    labelNames: ['permission', 'rule'] as const,
    registers: [this.registry],
  });
  readonly outboxDepth = new Gauge({
    name: 'waygate_outbox_pending',
    help: 'Messages waiting in the outbox',
    registers: [this.registry],
  });
  readonly outboxOldestAge = new Gauge({
    name: 'waygate_outbox_oldest_pending_age_seconds',
    help: 'Age of the oldest undelivered outbox message',
    registers: [this.registry],
  });
  readonly outboxFailed = new Gauge({
    name: 'waygate_outbox_failed',
    help: 'Outbox messages that could not be delivered and were given up',
    registers: [this.registry],
  });
  readonly outboxDelivered = new Counter({
    name: 'waygate_outbox_delivered_total',
    help: 'Outbox messages delivered, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly jobRuns = new Counter({
    name: 'waygate_job_runs_total',
    help: 'Job runs finished, by job and outcome',
    labelNames: ['job', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly jobFailures = new Counter({
    name: 'waygate_job_failures_total',
    help: 'Job runs that failed, by job',
    labelNames: ['job'] as const,
    registers: [this.registry],
  });
  readonly slackApiErrors = new Counter({
    name: 'waygate_slack_api_errors_total',
    help: 'Failed Slack deliveries, by kind (rate_limited, retryable, permanent)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly pagerDutyApiErrors = new Counter({
    name: 'waygate_pagerduty_api_errors_total',
    help: 'Failed PagerDuty REST calls, by kind (rate_limited, retryable, permanent)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly pagerDutyEventsApplied = new Counter({
    name: 'waygate_pagerduty_events_applied_total',
    help: 'Accepted PagerDuty events applied to incidents, by result (applied, stale, ignored, failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly webhooks = new Counter({
    name: 'waygate_pagerduty_webhooks_total',
    help: 'PagerDuty webhook deliveries, by result (accepted, duplicate, ping, rejected, error)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly leadershipChanges = new Counter({
    name: 'waygate_leadership_changes_total',
    help: 'This replica became leader (elected) or stopped leading (demoted)',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'waygate_leader',
    help: '1 while this replica leads (runs timers, jobs and deliveries), else 0',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'waygate_' });
  }
}
