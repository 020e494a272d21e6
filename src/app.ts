import type { Db } from './db/database.js';
import type { DataLayer, Executor } from './db/data-layer.js';
import type { Deadlines } from './core/deadlines.js';
import type { Config } from './config/load.js';
import type { Clock } from './clock/clock.js';
import type { Logger } from './logging/logger.js';
import type { MessageSender } from './outbox/slack-delivery.js';
import type { OutboxDispatcher } from './outbox/dispatcher.js';
import { ExecaRunner, type ProcessRunner } from './runner/runner.js';
import type { Command } from './commands/types.js';
import type { JobDefinition } from './jobs/types.js';
import type { JobService } from './jobs/job-service.js';
import type { JobContext } from './context.js';
import type { InflightWork } from './lifecycle/inflight.js';
import type { InboxProcessor } from './incidents/inbox-processor.js';
import type { IncidentIngest } from './incidents/ingest.js';
import { coreServices, createCore, type Core } from './core/core.js';
import { compose } from './core/compose.js';
import type { WaygateModule } from './core/module.js';
import { incidentsModule } from './incidents/module.js';
import { pagerDutyModule } from './pagerduty/module.js';
import { operationsModule } from './health/module.js';
import { jobsModule } from './jobs/module.js';
import { commandsModule } from './commands/module.js';
import { OncallService } from './oncall/oncall-service.js';
import { oncallModule } from './oncall/module.js';
import { PagerDutyOncalls } from './oncall/pagerduty-oncalls.js';
import { PagerDutyClient } from './pagerduty/client.js';
import { COMMANDS } from '../commands/index.js';
import { JOBS } from '../jobs/index.js';
import { builtInSopsDir, loadCatalogs } from './sops/catalog.js';
import { sopsModule } from './sops/module.js';
import type { SopEngine } from './sops/engine.js';
import { apiKeysModule } from './keys/module.js';
import { automaticTasks } from './compliance/automatic-tasks.js';
import type { FlushScheduler } from './audit/audit-batch.js';
import { complianceModule } from './compliance/module.js';

export interface WaygateOptions {
  config: Config;
  clock?: Clock;
  logger?: Logger;
  commands?: readonly Command[];
  jobs?: readonly JobDefinition<JobContext>[];
  /** Replaces the Slack sender (benchmarks measure the bot without network delivery). */
  sender?: MessageSender;
  /** Replaces the process runner (tests record argv instead of running maintenance commands). */
  runner?: ProcessRunner;
  /** Runs procedure scripts (default: the real runner, also in tests, which use fixture scripts). */
  scriptRunner?: ProcessRunner;
  /** Where the procedure definitions are (default: the `sops/` folder shipped with Waygate). */
  sopsDir?: string;
  /** The fetch used for service health checks. */
  fetchImpl?: typeof fetch;
  /** When the records of commands are written (default: every 200 ms); tests write them at the end of the turn. */
  requestRecords?: FlushScheduler;
  /** Modules composed after the built-in ones, on the same core (tests of the core's seams; a local sandbox). */
  extraModules?: (core: Core) => readonly WaygateModule[];
}

/** The running bot's parts that tests, benchmarks and the sandbox look at. */
export interface Waygate {
  app: Core['app'];
  /** The core and the modules' facades, as commands and jobs see them (plus the database, for tests). */
  services: JobContext & { db: Db; jobs: JobService<JobContext> };
  /** The data layer over the database, SQLite or PostgreSQL: for tests that look into it on either. */
  data: DataLayer;
  dispatcher: OutboxDispatcher;
  /** Work started after an ack (commands, buttons); shutdown and tests wait on it. */
  inflight: InflightWork;
  /** Applies accepted PagerDuty events; tests wait on it. */
  inboxProcessor: InboxProcessor;
  /** Durable deadlines; tests wait for a firing the clock started. */
  deadlines: Deadlines;
  /** Runs procedures; tests wait on its scripts. */
  sops: SopEngine;
  /** The PagerDuty inbox, for tests that drive the processor directly. */
  incidentIngest: IncidentIngest;
  /** Starts listening (HTTP: on `port`, default from config) and the background loops. */
  start(port?: number): Promise<{ port: number }>;
  /** Graceful stop: no new requests, finish in-flight work and deliveries, close the database. */
  stop(): Promise<void>;
}

/** Who PagerDuty says is on call, when its API key is set: read in the background, matched to Slack by e-mail. */
function pagerDutyOncalls(core: Core): PagerDutyOncalls | undefined {
  const { env, file } = core.config;
  if (!env.PAGERDUTY_API_TOKEN) return undefined;
  const client = new PagerDutyClient({ token: env.PAGERDUTY_API_TOKEN, apiUrl: env.PAGERDUTY_API_URL, eventsUrl: env.PAGERDUTY_EVENTS_URL });
  return new PagerDutyOncalls({
    list: (opts) => client.listOncalls(opts),
    slackUserByEmail: async (email) => {
      try {
        return (await core.app.client.users.lookupByEmail({ email })).user?.id;
      } catch (err) {
        if ((err as { data?: { error?: string } }).data?.error === 'users_not_found') return undefined;
        throw err;
      }
    },
    escalationPolicyIds: file.oncall?.escalationPolicies ?? [],
    scheduleIds: file.oncall?.schedules ?? [],
    clock: core.clock,
    logger: core.logger,
  });
}

/** The composition root: builds the core, then each feature module on the facades of those before it. */
export function createWaygate(opts: WaygateOptions): Waygate {
  // Checked before anything opens the database: a bad file stops start-up naming the file and the field.
  const { file } = opts.config;
  const catalog = loadCatalogs(opts.sopsDir ?? builtInSopsDir(), file.sops.dir, {
    scripts: Object.keys(file.scripts),
    roles: Object.keys(file.roles),
    channels: Object.entries(file.channels).flatMap(([alias, id]) => (id ? [alias] : [])),
  });
  if (!catalog.ok) throw new Error(`procedure definitions are invalid:\n${catalog.problems.join('\n')}`);
  const core = createCore(opts);
  const { config } = core;
  const pagerDutyApi = config.env.PAGERDUTY_API_TOKEN !== undefined;
  const oncall = new OncallService(core.data, core.clock, config.file.oncall, config.file.timezone, pagerDutyOncalls(core));
  // Alert cards name recent deployments; the procedures module, built later, answers.
  let recentChanges: (ex: Executor) => Promise<string> = () => Promise.resolve('');
  const incidents = incidentsModule(core, { syncToPagerDuty: pagerDutyApi, oncall, recentChanges: (ex) => recentChanges(ex) });
  const operations = operationsModule(core, {
    incidents: incidents.facade,
    incidentsTracked: pagerDutyApi || config.webhookSecrets.length > 0,
    runner: opts.runner ?? new ExecaRunner(),
    ...(opts.fetchImpl ? { fetchImpl: opts.fetchImpl } : {}),
    onCall: async (ex) => (await oncall.at(undefined, ex))?.userId,
  });
  const scriptRunner = opts.scriptRunner ?? new ExecaRunner();
  const apiKeys = apiKeysModule(core, { runner: scriptRunner });
  const sops = sopsModule(core, {
    definitions: catalog.definitions,
    incidents: incidents.facade,
    health: operations.health,
    runner: scriptRunner,
    automatic: automaticTasks({ audit: core.audit, backups: operations.backups, timezone: config.file.timezone, now: () => core.clock.nowMs() }),
  });
  recentChanges = (ex) => sops.engine.recentChangesLine(ex);
  const compliance = complianceModule(core, sops.engine);
  const context: JobContext = {
    ...coreServices(core),
    incidents: incidents.facade,
    health: operations.health,
    backups: operations.backups,
    maintenance: operations.maintenance,
    oncall,
    apiKeys: apiKeys.service,
    compliance,
  };
  const jobs = jobsModule(core, context, opts.jobs ?? JOBS);
  const commands = commandsModule(core, { ...context, jobs: jobs.service, sops: sops.engine }, opts.commands ?? COMMANDS, opts.requestRecords);
  const composed = compose(core, [
    incidents.module,
    oncallModule(core, oncall, incidents.facade),
    pagerDutyModule(core, incidents.facade),
    operations.module,
    jobs.module,
    sops.module,
    apiKeys.module,
    commands,
    ...(opts.extraModules?.(core) ?? []),
  ]);
  return {
    app: core.app,
    services: {
      ...context,
      jobs: jobs.service,
      get db(): Db {
        if (!core.db) throw new Error('this Waygate runs on PostgreSQL: there is no SQLite handle');
        return core.db;
      },
    },
    data: core.data,
    dispatcher: composed.dispatcher,
    deadlines: core.deadlines,
    inflight: core.inflight,
    inboxProcessor: incidents.processor,
    sops: sops.engine,
    incidentIngest: incidents.ingest,
    start: (port = config.env.PORT) => composed.start(port),
    stop: () => composed.stop(),
  };
}
