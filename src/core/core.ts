import { App, HTTPReceiver, SocketModeReceiver, type Receiver, type ReceiverEvent } from '@slack/bolt';
import type { WebClientOptions } from '@slack/web-api';
import type { Config } from '../config/load.js';
import { systemClock, type Clock } from '../clock/clock.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { hostname } from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { openDatabase, type Db } from '../db/database.js';
import { DataLayer } from '../db/data-layer.js';
import { postgresDataLayer, preparePostgres } from '../db/postgres.js';
import { lockDatabase, type InstanceLock } from '../db/instance-lock.js';
import { ElectedLeadership, SoleLeadership, sessionName, type Leadership } from '../cluster/leadership.js';
import { replicaName } from '../cluster/leader-lease.js';
import { Outbox } from '../outbox/outbox.js';
import { SlackSender, type MessageSender } from '../outbox/slack-delivery.js';
import { AuditLog } from '../audit/audit-log.js';
import { RoleResolver } from '../auth/roles.js';
import { Metrics } from '../http/metrics.js';
import { DEFAULT_SERVER_LIMITS, RoutesServer } from '../http/routes-server.js';
import { InflightWork } from '../lifecycle/inflight.js';
import { boltLogger } from '../slack/bolt-logger.js';
import { readVersion } from '../version.js';
import type { CoreServices, Store } from '../context.js';
import { Policy, type Grant } from './policy.js';
import { Deadlines } from './deadlines.js';
import { Executions } from './executions.js';
import { Interactions } from './interactions.js';
import { ReplayGuard, requestKey } from './replay-guard.js';

export interface CoreOptions {
  config: Config;
  clock?: Clock;
  logger?: Logger;
  /** Replaces the Slack sender (benchmarks measure the bot without network delivery). */
  sender?: MessageSender;
}

/** What every module is built from. `db` is for modules' own repositories only. */
export interface Core extends CoreServices {
  /** The SQLite handle; undefined on PostgreSQL. Only the data layer and SQLite's own upkeep use it. */
  db: Db | undefined;
  /** The async data layer (decision 020): every repository goes through it. */
  data: DataLayer;
  /** The same database for the leader's own work: its transactions are fenced (decision 021). */
  leaderData: DataLayer;
  /** Whether this process leads (always on SQLite; elected among replicas on PostgreSQL). */
  leadership: Leadership;
  /** This process's claim on the database; released after the database is closed. */
  instanceLock: InstanceLock;
  /** Signed Slack requests already handled; written out before the database closes. */
  replays: ReplayGuard;
  roles: RoleResolver;
  deadlines: Deadlines;
  executions: Executions;
  interactions: Interactions;
  inflight: InflightWork;
  app: App;
  receiver: Receiver;
  server: RoutesServer;
  sender: MessageSender;
}

interface WaygateAppHooks {
  onUnroutable(): void;
  /** False when the request was handled before (a replay of signed bytes, or Slack's retry). */
  firstTime(body: unknown, retryNum: number | undefined): Promise<boolean>;
}

/** What a slash command sent again is answered with; clicks and modals get a bare ack. */
const REPLAY_ANSWER = {
  response_type: 'ephemeral',
  text: 'That request already reached Waygate, so it was not run again. Type the command again if you meant to repeat it.',
} as const;

/**
 * Every body Slack sends passes here before any middleware, so this is the one place that sees them all.
 * A request handled before is answered and dropped. Bolt routes a block_actions body by its `actions`; one
 * without them matches no listener and no middleware, so nothing would ack it and Slack would wait out its
 * 3 s: such a body is answered at once, and logged once.
 */
class WaygateApp extends App {
  constructor(
    options: ConstructorParameters<typeof App>[0],
    private readonly hooks: WaygateAppHooks,
  ) {
    super(options);
  }

  override async processEvent(event: ReceiverEvent): Promise<void> {
    const body = event.body as { type?: unknown; actions?: unknown; command?: unknown };
    if (body.type === 'block_actions' && !(Array.isArray(body.actions) && body.actions.length > 0)) {
      await event.ack();
      this.hooks.onUnroutable();
      return;
    }
    if (!(await this.hooks.firstTime(body, event.retryNum))) {
      await event.ack(typeof body.command === 'string' ? REPLAY_ANSWER : undefined);
      return;
    }
    return super.processEvent(event);
  }
}

/** Hosts a response_url may use: Slack's, and the host of the configured Web API (a stand-in in tests). */
function responseHosts(apiUrl: string): string[] {
  return ['hooks.slack.com', new URL(apiUrl).host];
}

/** Slack's upload URLs are on files.<its API host> (files.slack.com); a stand-in hands out its own host. */
function uploadHosts(apiUrl: string): string[] {
  const host = new URL(apiUrl).host;
  return [`files.${host}`, host];
}

/** YAML `permissions:`, with the deprecated `commandRoles.<verb>` folded in as `command.<verb>`. */
function permissionOverrides(config: Config, logger: Logger): Record<string, Grant> {
  const { permissions, commandRoles } = config.file;
  const verbs = Object.keys(commandRoles);
  if (verbs.length > 0) {
    logger.warn(
      { replacement: verbs.map((v) => `permissions.command.${v}`) },
      '`commandRoles` is deprecated: move each entry to `permissions: { command.<verb>: [...] }`',
    );
  }
  const overrides: Record<string, Grant> = {};
  for (const [verb, roles] of Object.entries(commandRoles)) overrides[`command.${verb}`] = roles;
  // `commandRoles.ack` used to decide who may press the incident buttons too: keep that for old configs.
  const ack = commandRoles.ack;
  if (ack) Object.assign(overrides, { 'incident.ack': ack, 'incident.resolve': ack });
  return { ...overrides, ...permissions };
}

/** The core as commands and jobs see it: no database handle, no Slack internals. */
export function coreServices(core: Core): CoreServices {
  const { config, clock, logger, outbox, audit, policy, metrics, store, version, startedAt } = core;
  return { config, clock, logger, outbox, audit, policy, metrics, store, version, startedAt };
}

/**
 * The database: PostgreSQL when WAYGATE_DATABASE_URL is set (checked and migrated in startCore()), else the
 * SQLite file at WAYGATE_DB, locked to this process before it is even opened: a second instance must not
 * migrate, check or write it.
 */
function openStore(config: Config, clock: Clock, replica: string): { db: Db | undefined; data: DataLayer; instanceLock: InstanceLock } {
  const { env } = config;
  if (env.WAYGATE_DATABASE_URL) {
    // Replicas share the database; the leader lease decides who does what must happen once. A replica frozen
    // mid-transaction loses its session well before its lease runs out, so its locks never delay a takeover.
    const idleMs = Math.max(1_000, Math.floor(config.file.cluster.leaseTtl / 2));
    return { db: undefined, data: postgresDataLayer(env.WAYGATE_DATABASE_URL, env.WAYGATE_DB_POOL, idleMs, sessionName(replica)), instanceLock: { release: () => Promise.resolve() } };
  }
  const instanceLock = lockDatabase(env.WAYGATE_DB, { pid: process.pid, host: hostname(), startedAt: clock.now().toISOString() });
  try {
    const db = openDatabase(env.WAYGATE_DB);
    return { db, data: DataLayer.sqlite(db), instanceLock };
  } catch (err) {
    void instanceLock.release(); // the file lock lets go at once
    throw err;
  }
}

/** Builds the shared core: database, clock, logger, metrics, outbox, audit, policy, Slack app and HTTP server. */
export function createCore(opts: CoreOptions): Core {
  const { config } = opts;
  const { env, file } = config;
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger({ level: env.LOG_LEVEL, secrets: config.secrets });
  if (config.timezoneSource !== 'config') {
    logger.warn({ timezone: file.timezone, from: config.timezoneSource }, `no timezone in the config: using ${file.timezone} from ${config.timezoneSource === 'TZ' ? 'TZ' : "the system's zone"}`);
  }
  const replica = replicaName();
  const { db, data, instanceLock } = openStore(config, clock, replica);
  const metrics = new Metrics();
  const events = (event: 'elected' | 'demoted'): void => {
    metrics.leadershipChanges.inc({ event });
    metrics.leader.set(event === 'elected' ? 1 : 0);
  };
  const leadership: Leadership = env.WAYGATE_DATABASE_URL
    ? // The lease is timed by the database's clock and real time, not by the injected clock tests move.
      new ElectedLeadership({ url: env.WAYGATE_DATABASE_URL, replica, clock: systemClock, logger, ttlMs: file.cluster.leaseTtl, renewEveryMs: file.cluster.renewEvery, events })
    : new SoleLeadership(replica, logger, events);
  const leaderData = leadership.mode === 'single' ? data : data.withFence((tx) => leadership.fence(tx));
  const outbox = new Outbox(data, clock);
  // Put under the audit key by startCore(), before anything records.
  const audit = new AuditLog(data, clock, config.auditKeys);
  const inflight = new InflightWork();
  const executions = new Executions();
  const deadlines = new Deadlines(leaderData, clock, logger);
  const replays = new ReplayGuard(
    data,
    clock,
    (err) => logger.error({ err }, 'could not record Slack requests for replay checks; they are remembered until a restart'),
    leadership.mode === 'replicas',
  );

  // The outbox owns retries and pacing, so the WebClient must neither retry nor queue on 429.
  const clientOptions: WebClientOptions = {
    slackApiUrl: env.SLACK_API_URL,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 10_000,
  };
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
          // The server admits a body by its declared length; this caps a chunked one at the same size.
          bodyLimit: DEFAULT_SERVER_LIMITS.bodyBytes,
        });
  // Our own server answers the modules' routes directly and hands everything else (POST /slack/events) to
  // Bolt's receiver. In Socket Mode it serves only our routes.
  const server = new RoutesServer([], receiver instanceof HTTPReceiver ? (req, res) => boltOrNotFound(receiver, req, res, logger) : undefined);
  // Deferred so auth.test runs inside start(), where a rejected token stops start-up with a clear error,
  // instead of in the constructor, where its rejection would float unhandled.
  // convoStore off: Waygate keeps no conversation state, and Bolt's default store costs every request an Error.
  const app = new WaygateApp(
    { token: env.SLACK_BOT_TOKEN, receiver, clientOptions, logger: bLogger, deferInitialization: true, convoStore: false },
    {
      onUnroutable: () => {
        logger.warn({ problem: 'actions: missing or empty' }, 'malformed block_actions payload ignored');
        metrics.actions.inc({ action: 'malformed', outcome: 'ignored' });
      },
      firstTime: async (body, retryNum) => {
        const key = requestKey(body);
        if (key === undefined) return true;
        try {
          if (await replays.firstTimeShared(key)) return true;
        } catch (err) {
          // The command's own transaction will meet the same database; refusing every request here would
          // only hide that behind a misleading "already handled".
          logger.error({ err }, 'could not check a Slack request for replay; handling it');
          return true;
        }
        const { type } = body as { type?: unknown };
        const kind = typeof type === 'string' ? type : 'command';
        logger.warn({ type: kind, retryNum }, 'Slack request handled before (a replay or a retry); answered without running it again');
        metrics.slackReplays.inc({ type: kind });
        return false;
      },
    },
  );
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
  const policy = new Policy({ roles, overrides: permissionOverrides(config, logger), audit, db: data.db, track: (work) => inflight.track(work), metrics, logger });
  const interactions = new Interactions({
    audit,
    db: data.db,
    clock,
    policy,
    outbox,
    logger,
    metrics,
    inflight,
    openView: async (triggerId, view) => {
      await app.client.views.open({ trigger_id: triggerId, view });
    },
  });
  const store: Store = {
    transaction: (fn) => data.transaction(fn),
    // SQLite's write-ahead log; PostgreSQL checkpoints by itself.
    checkpoint: () => void db?.pragma('wal_checkpoint(TRUNCATE)'),
    pruneHistory: async (ex, olderThan) => ({ executions: await executions.pruneFinished(ex, olderThan), deadlines: await deadlines.pruneFired(ex, olderThan) }),
  };
  const sender = opts.sender ?? new SlackSender({
    client: app.client,
    allowedResponseHosts: responseHosts(env.SLACK_API_URL),
    allowedUploadHosts: uploadHosts(env.SLACK_API_URL),
  });
  return {
    config,
    clock,
    logger,
    db,
    data,
    leaderData,
    leadership,
    instanceLock,
    replays,
    metrics,
    outbox,
    audit,
    roles,
    policy,
    store,
    deadlines,
    executions,
    interactions,
    inflight,
    app,
    receiver,
    server,
    sender,
    version: readVersion(),
    startedAt: clock.nowMs(),
  };
}

/**
 * What the core reads and writes before it serves anything, awaited first thing at start-up: the audit trail is put
 * under the current audit key (before anything records), and the Slack requests seen before a restart are loaded
 * (before Slack can reach the bot).
 */
export async function startCore(core: Core): Promise<void> {
  const { audit, config, logger, replays } = core;
  const url = config.env.WAYGATE_DATABASE_URL;
  if (url) await preparePostgres(core.data, url);
  await audit.init();
  if (config.auditKeys.length === 0) {
    const keyedSince = await audit.keyedSince();
    if (keyedSince !== null) {
      logger.warn(
        { keyedSince },
        'the audit trail is keyed but WAYGATE_AUDIT_KEY is not set: new entries are not keyed, and verifying with the key will report them',
      );
    }
  }
  await replays.load();
}

/**
 * Bolt's receiver throws (synchronously, out of the request handler) for any path it does not serve, which
 * would end the process: a `GET /` or `GET /favicon.ico` from anyone who can reach the port. Those are answered
 * 404 here; anything else it throws is a 500 and a log line, never a crash.
 */
function boltOrNotFound(receiver: HTTPReceiver, req: IncomingMessage, res: ServerResponse, logger: Logger): void {
  try {
    receiver.requestListener(req, res);
  } catch (err) {
    const unserved = (err as { code?: unknown }).code === 'slack_bolt_http_receiver_deferred_request_error';
    if (!unserved) logger.error({ err: { message: (err as Error).message }, method: req.method, path: (req.url ?? '').split('?')[0] }, 'HTTP request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(unserved ? 404 : 500, { 'content-type': 'text/plain' });
    res.end(unserved ? 'not found\n' : 'internal error\n');
  }
}
