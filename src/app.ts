import { App, HTTPReceiver, SocketModeReceiver, type Receiver } from '@slack/bolt';
import type { WebClientOptions } from '@slack/web-api';
import type { Config } from './config/load.js';
import { systemClock, type Clock } from './clock/clock.js';
import { createLogger, type Logger } from './logging/logger.js';
import { openDatabase, type Db } from './db/database.js';
import { Outbox } from './outbox/outbox.js';
import { OutboxDispatcher } from './outbox/dispatcher.js';
import { SlackSender, type MessageSender } from './outbox/slack-delivery.js';
import { AuditLog } from './audit/audit-log.js';
import { RoleResolver } from './auth/roles.js';
import { JobService } from './jobs/job-service.js';
import { JobRunRepository } from './jobs/job-runs.js';
import type { JobDefinition } from './jobs/types.js';
import { Metrics } from './http/metrics.js';
import { operationalRoutes } from './http/routes.js';
import { RoutesServer } from './http/routes-server.js';
import { registerCommandRouter } from './commands/router.js';
import type { Command } from './commands/types.js';
import { InflightWork } from './lifecycle/inflight.js';
import { boltLogger } from './slack/bolt-logger.js';
import { describeRun } from '../commands/jobs.js';
import { COMMANDS } from '../commands/index.js';
import { JOBS } from '../jobs/index.js';
import type { Services } from './services.js';
import { readVersion } from './version.js';
import { IncidentService } from './incidents/incident-service.js';
import { BusinessCalendar } from './incidents/business-calendar.js';
import { SlaTimer } from './incidents/sla-timer.js';
import { InboxProcessor } from './incidents/inbox-processor.js';
import { registerIncidentActions } from './incidents/slack-actions.js';
import { PagerDutyClient } from './pagerduty/client.js';
import { FromEmailResolver } from './pagerduty/from-email.js';
import { pagerDutyWebhookRoute } from './pagerduty/webhook-route.js';
import type { PagerDutyStatusPayload } from './outbox/types.js';
import { ExecaRunner, type ProcessRunner } from './runner/runner.js';
import { BackupService } from './backup/backup-service.js';
import { HealthService } from './health/health-service.js';
import { registerDigestActions } from './health/slack-actions.js';
import { ActionRouter } from './slack/action-router.js';

export interface WaygateOptions {
  config: Config;
  clock?: Clock;
  logger?: Logger;
  commands?: readonly Command[];
  jobs?: readonly JobDefinition[];
  /** Replaces the Slack sender (benchmarks measure the bot without network delivery). */
  sender?: MessageSender;
  /** Replaces the process runner (tests record argv instead of running maintenance commands). */
  runner?: ProcessRunner;
  /** The fetch used for service health checks. */
  fetchImpl?: typeof fetch;
}

export interface Waygate {
  app: App;
  services: Services;
  dispatcher: OutboxDispatcher;
  /** Work started after an ack (commands, buttons); shutdown and tests wait on it. */
  inflight: InflightWork;
  /** Applies accepted PagerDuty events; tests wait on it. */
  inboxProcessor: InboxProcessor;
  /** Starts listening (HTTP: on `port`, default from config) and the background loops. */
  start(port?: number): Promise<{ port: number }>;
  /** Graceful stop: no new requests, finish in-flight work and deliveries, close the database. */
  stop(): Promise<void>;
}

/** Hosts a response_url may use: Slack's, and the host of the configured Web API (a stand-in in tests). */
function responseHosts(apiUrl: string): string[] {
  return ['hooks.slack.com', new URL(apiUrl).host];
}

/** The composition root: builds every service once and wires Slack, HTTP, jobs and the outbox together. */
export function createWaygate(opts: WaygateOptions): Waygate {
  const { config } = opts;
  const { env, file } = config;
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger({ level: env.LOG_LEVEL, secrets: config.secrets });
  const db: Db = openDatabase(env.WAYGATE_DB);
  const metrics = new Metrics();
  const outbox = new Outbox(db, clock);
  const audit = new AuditLog(db, clock);
  const inflight = new InflightWork();
  const startedAt = clock.nowMs();
  // Routes and jobs need the services bag, which needs them: resolve it late through this holder.
  const holder: { services?: Services } = {};
  const serverRef: { server?: RoutesServer } = {};
  const getServices = (): Services => {
    if (!holder.services) throw new Error('services used before construction');
    return holder.services;
  };

  // The outbox owns retries and pacing, so the WebClient must neither retry nor queue on 429.
  const clientOptions: WebClientOptions = {
    slackApiUrl: env.SLACK_API_URL,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 10_000,
  };
  const calendar = new BusinessCalendar(file.businessHours, file.timezone);
  const pagerDuty = env.PAGERDUTY_API_TOKEN
    ? new PagerDutyClient({
        token: env.PAGERDUTY_API_TOKEN,
        apiUrl: env.PAGERDUTY_API_URL,
        eventsUrl: env.PAGERDUTY_EVENTS_URL,
        ...(env.PAGERDUTY_FROM_EMAIL ? { defaultFrom: env.PAGERDUTY_FROM_EMAIL } : {}),
      })
    : undefined;
  const routes = [
    pagerDutyWebhookRoute({
      secrets: config.webhookSecrets,
      accept: (event) => getServices().incidents.accept(event),
      logger,
      onResult: (result) => metrics.webhooks.inc({ result }),
    }),
    ...operationalRoutes(getServices),
  ];
  const bLogger = boltLogger(logger);
  const receiver: Receiver =
    config.mode === 'socket'
      ? new SocketModeReceiver({
          appToken: env.SLACK_APP_TOKEN ?? '',
          // clientOptions reach the Socket Mode client's own WebClient (apps.connections.open).
          installerOptions: { port: env.PORT, clientOptions: { slackApiUrl: env.SLACK_API_URL } },
          logger: bLogger,
        })
      : new HTTPReceiver({
          signingSecret: env.SLACK_SIGNING_SECRET ?? '',
          logger: bLogger,
          processBeforeResponse: false,
        });
  // Our own server answers /pagerduty/webhook, /health and /metrics directly and hands everything else
  // (POST /slack/events) to Bolt's receiver. In Socket Mode it serves only our routes.
  const server = new RoutesServer(
    routes,
    receiver instanceof HTTPReceiver ? (req, res) => receiver.requestListener(req, res) : undefined,
  );
  serverRef.server = server;
  server.onIdle = () => inboxRef.processor?.nudge();
  // Deferred so auth.test runs inside start(), where a rejected token stops start-up with a clear error,
  // instead of in the constructor, where its rejection would float unhandled.
  // convoStore off: Waygate keeps no conversation state, and Bolt's default store costs every request an Error.
  const app = new App({
    token: env.SLACK_BOT_TOKEN,
    receiver,
    clientOptions,
    logger: bLogger,
    deferInitialization: true,
    convoStore: false,
  });
  app.error(async (err) => {
    logger.error({ err: { message: err.message, code: err.code } }, 'unhandled Slack listener error');
    return Promise.resolve();
  });

  const roles = new RoleResolver(
    file.roles,
    async (groupId) => (await app.client.usergroups.users.list({ usergroup: groupId })).users ?? [],
    clock,
    logger,
  );
  const runs = new JobRunRepository(db);
  const jobs = new JobService({
    definitions: opts.jobs ?? JOBS,
    schedules: file.schedules,
    timezone: file.timezone,
    clock,
    logger,
    runs,
    services: getServices,
    onRunFinished: (run, { failureReported }) => {
      metrics.jobRuns.inc({ job: run.job, outcome: run.outcome });
      if (run.outcome !== 'failed') return;
      metrics.jobFailures.inc({ job: run.job });
      // A scheduled job that fails silently is how a backup goes missing for a month: tell ops.
      if (run.trigger === 'schedule' && !failureReported && file.channels.ops) {
        outbox.enqueue({
          kind: 'post',
          payload: { channel: file.channels.ops, text: `Scheduled job \`${run.job}\` run #${run.id} ${describeRun(run)}` },
        });
      }
    },
  });
  for (const name of jobs.unknownScheduleNames()) {
    logger.warn({ job: name }, `schedules.${name} names no job in this version; it is ignored`);
  }

  const sender =
    opts.sender ?? new SlackSender({ client: app.client, allowedResponseHosts: responseHosts(env.SLACK_API_URL) });
  const slaTimerRef: { timer?: SlaTimer } = {};
  const inboxRef: { processor?: InboxProcessor } = {};
  const incidents = new IncidentService({
    db,
    clock,
    outbox,
    audit,
    roles,
    logger,
    alertsChannel: file.channels.alerts,
    sla: file.sla,
    calendar,
    urgencyPriority: file.incidents.urgencyPriority,
    stormThreshold: file.incidents.stormThreshold,
    syncToPagerDuty: pagerDuty !== undefined,
    onScheduleChange: () => slaTimerRef.timer?.rearm(),
    onAccepted: () => inboxRef.processor?.nudge(),
    onProcessed: (result) => metrics.pagerDutyEventsApplied.inc({ result: result.startsWith('failed') ? 'failed' : result }),
  });
  const inboxProcessor = new InboxProcessor(incidents, logger, clock, () => serverRef.server?.busy() ?? false);
  inboxRef.processor = inboxProcessor;
  const slaTimer = new SlaTimer(incidents, clock, logger);
  slaTimerRef.timer = slaTimer;

  const fromEmail = new FromEmailResolver(
    async (user) => (await app.client.users.info({ user })).user?.profile?.email,
    env.PAGERDUTY_FROM_EMAIL,
    clock,
  );
  const alertsLane = file.channels.alerts ? `channel:${file.channels.alerts}` : undefined;
  /** Tells the Slack user who made a change when PagerDuty did not take it (once per change, not per retry). */
  const pagerDutyTrouble = (payload: PagerDutyStatusPayload, text: string): void => {
    if (payload.responseUrl) outbox.enqueue({ kind: 'respond', payload: { responseUrl: payload.responseUrl, text } });
  };
  // The Events API needs no REST token (each event carries its routing key), so it works without one.
  const pagerDutyEvents =
    pagerDuty ?? new PagerDutyClient({ token: '', apiUrl: env.PAGERDUTY_API_URL, eventsUrl: env.PAGERDUTY_EVENTS_URL });
  const dispatcher = new OutboxDispatcher({
    db,
    outbox,
    sender,
    renderDeferred: (key) => incidents.renderDeferred(key),
    pagerDutyEvents: async (event) => {
      await pagerDutyEvents.enqueueEvent(event);
    },
    ...(pagerDuty
      ? {
          pagerDuty: async (p: PagerDutyStatusPayload) =>
            pagerDuty.setIncidentStatus(p.incidentId, p.status, await fromEmail.emailFor(p.slackUser)),
        }
      : {}),
    clock,
    logger,
    paceMs: file.outbox.pace,
    maxBackoffMs: file.outbox.maxBackoff,
    giveUpAfterMs: file.outbox.giveUpAfter,
    onDelivered: (row) => {
      metrics.outboxDelivered.inc({ kind: row.kind });
      if (row.kind === 'pd_status') incidents.pagerDutySynced((JSON.parse(row.payload) as PagerDutyStatusPayload).incidentId, true);
      if (row.lane === alertsLane) incidents.drainStorm();
    },
    onFailure: (row, failure, final) => {
      if (row.kind === 'pd_event') {
        metrics.pagerDutyApiErrors.inc({ kind: failure.kind });
        // A page that PagerDuty refused (say, a wrong routing key) must not vanish quietly.
        if (final && file.channels.ops) {
          outbox.enqueue({
            kind: 'post',
            payload: { channel: file.channels.ops, text: `⚠️ PagerDuty refused an Events API event (${failure.detail}); check \`service.pagerDutyRoutingKey\`.` },
          });
        }
        return;
      }
      if (row.kind !== 'pd_status') {
        metrics.slackApiErrors.inc({ kind: failure.kind });
        return;
      }
      metrics.pagerDutyApiErrors.inc({ kind: failure.kind });
      const payload = JSON.parse(row.payload) as PagerDutyStatusPayload;
      const what = payload.status === 'acknowledged' ? 'acknowledgement' : 'resolution';
      if (final) {
        incidents.pagerDutySynced(payload.incidentId, false);
        pagerDutyTrouble(payload, `⚠️ PagerDuty refused the ${what} of #${payload.number}: ${failure.detail}. It stands in Slack; please check the incident in PagerDuty.`);
      } else if (row.attempts === 0 && failure.kind === 'retryable') {
        pagerDutyTrouble(payload, `PagerDuty did not take the ${what} of #${payload.number} yet (${failure.detail}). It stands here, and I'll keep retrying until PagerDuty has it.`);
      }
    },
  });

  const runner = opts.runner ?? new ExecaRunner();
  const backups = new BackupService({
    config: file.backup,
    databasePath: file.service.database,
    timezone: file.timezone,
    clock,
    runner,
  });
  const health = new HealthService({
    db,
    clock,
    logger,
    outbox,
    audit,
    config: file,
    runner,
    backups,
    incidents,
    incidentsTracked: pagerDuty !== undefined || config.webhookSecrets.length > 0,
    ...(opts.fetchImpl ? { fetchImpl: opts.fetchImpl } : {}),
  });
  const services: Services = {
    config,
    clock,
    db,
    logger,
    outbox,
    audit,
    roles,
    jobs,
    metrics,
    incidents,
    runner,
    backups,
    health,
    version: readVersion(),
    startedAt,
  };
  holder.services = services;
  const commands = opts.commands ?? COMMANDS;
  registerCommandRouter(app, { services, commands, inflight });
  const actions = new ActionRouter();
  registerDigestActions(actions, services);
  registerIncidentActions(actions, { services, ackCommand: commands.find((c) => c.name === 'ack') ?? { name: 'ack', roles: ['oncall', 'lead', 'ops'] } });
  actions.register(app, { logger, inflight, metrics });

  let stopped = false;
  return {
    app,
    services,
    dispatcher,
    inflight,
    inboxProcessor,
    async start(port = env.PORT) {
      let bound = port;
      try {
        await app.init();
      } catch (err) {
        throw new Error(`Slack rejected SLACK_BOT_TOKEN or could not be reached (auth.test): ${(err as Error).message}`);
      }
      bound = await server.listen(port);
      if (config.mode === 'socket') {
        try {
          await app.start();
        } catch (err) {
          await server.close();
          await app.stop().catch(() => undefined);
          throw new Error(
            `Slack rejected SLACK_APP_TOKEN or could not be reached (apps.connections.open): ${(err as Error).message}`,
          );
        }
      }
      jobs.start();
      slaTimer.start();
      inboxProcessor.nudge(); // events accepted before a crash or restart
      dispatcher.start();
      logger.info({ port: bound, mode: config.mode, version: services.version }, 'Waygate is running');
      return { port: bound };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (config.mode === 'socket') {
        await app.stop().catch((err: unknown) => logger.warn({ err }, 'receiver did not stop cleanly'));
        // Bolt's stop() does not wait for the socket to close; an envelope in that gap would meet a closed db.
        await (receiver as unknown as { client: { disconnect(): Promise<void> } }).client.disconnect();
      }
      await server.close();
      await inflight.drain();
      await inboxProcessor.stop();
      slaTimer.stop();
      await jobs.stop();
      await dispatcher.stop();
      db.close();
      logger.info('Waygate stopped');
    },
  };
}
