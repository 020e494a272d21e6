import { registerResponseMetrics } from './response-metrics.js';
import { linksLine } from '../core/text.js';
import type { OncallService } from '../oncall/oncall-service.js';
import type { Core } from '../core/core.js';
import type { Executor } from '../db/data-layer.js';
import type { WaygateModule } from '../core/module.js';
import { PERMISSIONS } from '../core/policy.js';
import { BusinessCalendar } from './business-calendar.js';
import { IncidentRepository } from './incident-repository.js';
import { IncidentLifecycle, type Change } from './lifecycle.js';
import { AlertPublisher } from './alert-publisher.js';
import { SlaEscalation } from './sla-escalation.js';
import { IncidentIngest } from './ingest.js';
import { InboxProcessor, POSTGRES_SLICE_BUDGET_MS, SLICE_BUDGET_MS } from './inbox-processor.js';
import { IncidentFacade } from './facade.js';
import { incidentActions, incidentMenu } from './slack-actions.js';
import { BulkChanges } from './bulk-change.js';

/** Events wait at most about a second to be applied; minutes mean the processor is stuck. */
const STUCK_INBOX_SECONDS = 300;

export interface IncidentsModule {
  module: WaygateModule;
  facade: IncidentFacade;
  /** Applies accepted PagerDuty events; tests wait on it. */
  processor: InboxProcessor;
  ingest: IncidentIngest;
}

/**
 * SOP-MON-001's incident domain: owns the incidents, incident_acks, webhook_inbox and storms tables and the
 * `incident-sla` deadlines. PagerDuty events come in through the facade's accept(); Slack changes through
 * acknowledge()/resolve(); everything leaves as outbox rows.
 */
export function incidentsModule(core: Core, opts: { syncToPagerDuty: boolean; oncall: OncallService; recentChanges?: (ex: Executor) => Promise<string> }): IncidentsModule {
  const { data, clock, logger, outbox, audit, deadlines, roles, metrics, config, executions } = core;
  const file = config.file;
  const repo = new IncidentRepository(data);
  const lifecycle = new IncidentLifecycle({
    repo,
    clock,
    audit,
    alertsChannel: file.channels.alerts,
    sla: file.sla,
    calendar: new BusinessCalendar(file.businessHours, file.timezone),
    urgencyPriority: file.incidents.urgencyPriority,
    syncToPagerDuty: opts.syncToPagerDuty,
    pagerDutyHost: file.incidents.pagerDutyHost,
  });
  registerResponseMetrics(metrics.registry, repo, data, clock);
  const publisher = new AlertPublisher({
    data,
    repo,
    clock,
    outbox,
    alertsChannel: file.channels.alerts,
    stormThreshold: file.incidents.stormThreshold,
    onCall: async (ex) => (await opts.oncall.at(undefined, ex))?.userId,
    links: linksLine(file.links),
    ...(opts.recentChanges ? { recentChanges: opts.recentChanges } : {}),
  });
  const sla = new SlaEscalation({
    repo,
    deadlines,
    audit,
    publisher,
    ladder: file.escalation,
    onCall: async (ex) => (await opts.oncall.at(undefined, ex))?.userId,
    mentionsFor: (names) => roles.mentionsFor(names),
    dm: async (tx, userId, text) => {
      await outbox.enqueue(tx, { kind: 'post', payload: { channel: userId, text }, urgent: true });
    },
  });
  const follow = async (tx: Executor, changes: readonly Change[], now: number): Promise<void> => {
    await publisher.publish(tx, changes, now);
    await sla.follow(tx, changes);
  };
  const ingest = new IncidentIngest({
    data,
    applyData: core.leaderData,
    clock,
    logger,
    lifecycle,
    follow,
    onProcessed: (result) => metrics.pagerDutyEventsApplied.inc({ result: result.startsWith('failed') ? 'failed' : result }),
  });
  const processor = new InboxProcessor(
    ingest,
    logger,
    clock,
    () => core.server.busy(),
    { wakeLeader: () => core.leadership.wake('inbox') },
    data.dialect === 'postgres' ? POSTGRES_SLICE_BUDGET_MS : SLICE_BUDGET_MS,
  );
  ingest.onAccepted(() => processor.nudge());
  core.server.onIdle(() => processor.nudge());
  const bulk = new BulkChanges({ data, clock, logger, executions, outbox, acknowledge: (ids, user, url) => facade.acknowledge(ids, user, url) });
  const facade: IncidentFacade = new IncidentFacade({ data, clock, repo, lifecycle, ingest, follow, bulk, sla, outbox, audit, routingKey: file.service.pagerDutyRoutingKey });
  const incidentGrant = ['oncall', 'lead', 'ops'] as const;
  const menu = incidentMenu(facade, async () => (await opts.oncall.at())?.userId);
  // Delivery hooks are still synchronous: the drain runs on its own, and its failure is logged. It is tracked
  // with the work started after an ack, so shutdown (and a test settling) waits for the alert it queues.
  const drain = (row: { lane: string }): void => {
    if (!publisher.isAlertsLane(row.lane)) return;
    void core.inflight.track(publisher.drainStorm().catch((err: unknown) => logger.error({ err }, 'posting the next alert of a storm failed')));
  };

  return {
    facade,
    processor,
    ingest,
    module: {
      name: 'incidents',
      permissions: {
        [PERMISSIONS.incidentAck]: incidentGrant,
        [PERMISSIONS.incidentResolve]: incidentGrant,
        [PERMISSIONS.incidentNote]: incidentGrant,
        [PERMISSIONS.incidentReassign]: incidentGrant,
        [PERMISSIONS.incidentPriority]: incidentGrant,
        [PERMISSIONS.incidentEscalate]: incidentGrant,
      },
      actions: [...incidentActions(facade), ...menu.actions],
      views: menu.views,
      renderers: { storm: (key) => publisher.renderStorm(key) },
      // A delivery in the alerts channel may let a storm post its next alert.
      delivery: { post: { delivered: drain }, update: { delivered: drain }, ephemeral: { delivered: drain } },
      // Answered deliveries that are not being applied must show, or PagerDuty's 200s hide a stuck pipeline.
      health: async () => {
        const { lastError, lastErrorAt } = processor.status();
        const oldest = await ingest.inbox.oldestPendingAt(data.db);
        const oldestPendingAgeSeconds = oldest === null ? null : Math.round((clock.nowMs() - oldest) / 1000);
        return {
          inbox: {
            value: {
              pending: await ingest.inbox.pendingCount(data.db),
              oldestPendingAgeSeconds,
              lastError,
              lastErrorAt: lastErrorAt === null ? null : new Date(lastErrorAt).toISOString(),
            },
            degraded: lastError !== null || (oldestPendingAgeSeconds ?? 0) > STUCK_INBOX_SECONDS,
          },
        };
      },
      leader: {
        start: async () => {
          await bulk.recover();
          processor.start(); // events accepted before a crash, a restart or a failover
        },
        stop: (final) => processor.stop(final),
      },
      wake: { inbox: () => processor.nudge() },
    },
  };
}
