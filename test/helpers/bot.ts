import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { pino } from 'pino';
import { sql } from 'kysely';
import { loadConfig, type Config } from '../../src/config/load.js';
import { createWaygate, type Waygate, type WaygateOptions } from '../../src/app.js';
import { ManualClock } from '../../src/clock/clock.js';
import { SlackStandIn, SlackRequestSigner } from '../../standins/slack/index.js';
import { PagerDutyStandIn, PagerDutyWebhookSigner } from '../../standins/pagerduty/index.js';
import { RecordingRunner } from '../support/recording-runner.js';
import { dropPostgresDatabaseFor, postgresDatabaseFor, testBackend, TestSql, type TestBackend } from './sql.js';

export const PD_TOKEN = 'u+test-pagerduty-token-01';
export const PD_WEBHOOK_SECRET = 'test-webhook-secret-0123456789abcdef';
export const PD_FROM = 'waygate-bot@example.com';

export const BOT_TOKEN = 'xoxb-test-token';
export const SIGNING_SECRET = 'test-signing-secret-0123456789';
/** HEALTH_DETAILS_TOKEN of every test bot: without it, GET /health says only status, version and component states. */
export const HEALTH_TOKEN = 'test-health-details-token-0123456789';

/** GET /health as the operator sees it, with the details token. */
export function fetchHealthDetails(baseUrl: string): Promise<Response> {
  return fetch(`${baseUrl}/health`, { headers: { authorization: `Bearer ${HEALTH_TOKEN}` } });
}

/** The detailed /health body (the token presented). */
export async function healthDetails<T = Record<string, any>>(baseUrl: string): Promise<T> {
  return (await (await fetchHealthDetails(baseUrl)).json()) as T;
}

/** Users every test workspace has, one per role, plus one with none. */
export const USERS = {
  lead: 'U0LEAD',
  oncall: 'U0ONCALL',
  ops: 'U0OPS',
  security: 'U0SEC',
  admin: 'U0ADMIN',
  nobody: 'U0NOBODY',
} as const;

export const DEFAULT_YAML = {
  timezone: 'Europe/Berlin',
  channels: { alerts: 'C0ALERTS', ops: 'C0OPS', digest: 'C0OPS', security: 'C0SEC', compliance: 'C0COMP' },
  roles: {
    lead: [USERS.lead],
    oncall: [USERS.oncall],
    ops: [USERS.ops],
    security: [USERS.security],
    admin: [USERS.admin],
  },
  // Operational jobs touch real paths and URLs; tests that exercise them enable them explicitly.
  schedules: {
    'health-check': false,
    'health-digest': false,
    backup: false,
    'weekly-maintenance': false,
    'log-rotation': false,
    'security-scan': false,
    'compliance-calendar': false,
  },
  service: { healthUrl: 'http://127.0.0.1:9/health', systemdUnit: null },
};

export interface TestBot {
  waygate: Waygate;
  config: Config;
  url: string;
  clock: ManualClock;
  slack: SlackStandIn;
  signer: SlackRequestSigner;
  /** Present when started with `pagerDuty: true`. */
  pd: PagerDutyStandIn | undefined;
  pdSigner: PagerDutyWebhookSigner;
  dir: string;
  /** SQL on the bot's own database (SQLite or PostgreSQL), through its data layer. */
  sql: TestSql;
  /** Waits until job runs finish and every deliverable outbox row is delivered, moving the clock over pacing gaps. */
  settle(): Promise<void>;
  /**
   * Moves the clock to `when` one due timer at a time, letting the work each timer starts finish before the
   * next: what would happen if that much real time passed.
   */
  advanceTo(when: string | number): Promise<void>;
  stop(): Promise<void>;
}

export interface TestBotOptions {
  yaml?: Record<string, unknown>;
  slack?: SlackStandIn;
  dir?: string;
  clock?: ManualClock;
  overrides?: Partial<WaygateOptions>;
  /** Merged over testEnv(...) before loadConfig; an undefined value removes that variable. */
  env?: Record<string, string | undefined>;
  /** Port to listen on; default 0 (any free port). */
  port?: number;
  /** Starts a PagerDuty stand-in and configures the bot for it (API token, From, webhook secret). */
  pagerDuty?: boolean | PagerDutyStandIn;
  /** The database to run on; default WAYGATE_TEST_BACKEND's (tests of SQLite's own mechanisms say `sqlite`). */
  backend?: TestBackend;
}

export function writeConfig(dir: string, yaml: Record<string, unknown>): string {
  const path = join(dir, 'waygate.yml');
  writeFileSync(path, stringify(yaml));
  return path;
}

export function testEnv(dir: string, slack: SlackStandIn, yaml: Record<string, unknown>): Record<string, string> {
  return {
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    WAYGATE_DB: join(dir, 'waygate.db'),
    WAYGATE_CONFIG: writeConfig(dir, yaml),
    LOG_LEVEL: 'silent',
    PORT: '0',
    HEALTH_DETAILS_TOKEN: HEALTH_TOKEN,
  };
}

/**
 * Boots the real bot (real Bolt, real HTTP receiver, a real SQLite file, or with WAYGATE_TEST_BACKEND=postgres
 * a real PostgreSQL database) against the Slack stand-in.
 */
export async function startTestBot(opts: TestBotOptions = {}): Promise<TestBot> {
  const slack = opts.slack ?? (await SlackStandIn.start({ token: BOT_TOKEN }));
  const ownsSlack = !opts.slack;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'waygate-test-'));
  const clock = opts.clock ?? new ManualClock('2026-03-02T08:00:00Z');
  const pd =
    opts.pagerDuty instanceof PagerDutyStandIn
      ? opts.pagerDuty
      : opts.pagerDuty
        ? await PagerDutyStandIn.start({ token: PD_TOKEN })
        : undefined;
  const ownsPd = pd !== undefined && !(opts.pagerDuty instanceof PagerDutyStandIn);
  const pdEnv: Record<string, string> = pd
    ? {
        PAGERDUTY_API_TOKEN: PD_TOKEN,
        PAGERDUTY_FROM_EMAIL: PD_FROM,
        PAGERDUTY_WEBHOOK_SECRET: PD_WEBHOOK_SECRET,
        PAGERDUTY_API_URL: pd.apiUrl,
        PAGERDUTY_EVENTS_URL: pd.eventsUrl,
      }
    : {};
  // A test that names its own database (WAYGATE_DATABASE_URL in `env`) keeps it.
  const ownDatabase = (opts.backend ?? testBackend()) === 'postgres' && !(opts.env !== undefined && 'WAYGATE_DATABASE_URL' in opts.env);
  const backendEnv = ownDatabase ? { WAYGATE_DATABASE_URL: await postgresDatabaseFor(dir) } : {};
  const loaded = loadConfig({ ...testEnv(dir, slack, opts.yaml ?? DEFAULT_YAML), ...pdEnv, ...backendEnv, ...opts.env });
  if (!loaded.ok) throw new Error(`test config invalid: ${loaded.problems.join('; ')}`);
  let waygate: Waygate;
  try {
    waygate = createWaygate({
      config: loaded.config,
      clock,
      logger: pino({ level: 'silent' }),
      // Maintenance commands are recorded, not run, unless a test brings a runner of its own.
      runner: new RecordingRunner(() => ({ ok: true, exitCode: 0, output: '' })),
      // Each command's record is written at the end of its turn, so a test reads it without waiting 200 ms;
      // tracked with the work after an ack, so settle() waits until it is written (PostgreSQL takes a moment).
      requestRecords: (flush) => setImmediate(() => void waygate.inflight.track(flush())),
      ...opts.overrides,
    });
  } catch (err) {
    // A bot that cannot be built (a test of start-up refusals) leaves no stand-in listening.
    if (ownsSlack) await slack.close();
    if (ownsPd) await pd?.close();
    throw err;
  }
  let port: number;
  try {
    ({ port } = await waygate.start(opts.port ?? 0));
  } catch (err) {
    await waygate.stop();
    if (ownsSlack) await slack.close();
    if (ownsPd) await pd?.close();
    throw err;
  }
  const url = `http://127.0.0.1:${port}`;
  const db = new TestSql(waygate.data);
  return {
    waygate,
    config: loaded.config,
    url,
    clock,
    slack,
    signer: new SlackRequestSigner({ url, signingSecret: SIGNING_SECRET }),
    pd,
    pdSigner: new PagerDutyWebhookSigner({ url, secret: PD_WEBHOOK_SECRET }),
    dir,
    sql: db,
    async settle() {
      const { outbox, jobs } = waygate.services;
      // A guard against a loop that never ends; a storm draining hundreds of alerts takes a few turns for each.
      for (let i = 0; i < 2_000; i++) {
        await waygate.inflight.drain();
        await waygate.deadlines.whenIdle();
        await waygate.inboxProcessor.whenIdle();
        await jobs.whenIdle();
        await slack.waitFor(() => !waygate.dispatcher.busy());
        // Work a delivery started (a storm posting its next alert) may still queue more: nothing may be under
        // way while the count is read, or it could commit a row just after the count was taken.
        const quiet = waygate.inflight.size === 0;
        const { pending } = await outbox.stats();
        if (quiet && pending === 0 && waygate.inflight.size === 0 && !waygate.dispatcher.busy()) return;
        if (!quiet) continue;
        const wake = waygate.dispatcher.nextWakeAt();
        if (wake !== null && wake > clock.nowMs()) clock.set(wake);
        else await new Promise((r) => setImmediate(r));
      }
      const stuck = await db.all(sql`SELECT id, lane, kind, priority, attempts, next_attempt_at FROM outbox WHERE status = 'pending' ORDER BY id LIMIT 5`);
      const lanes = await db.all(sql`SELECT * FROM outbox_lanes WHERE pending > 0 OR ready_at IS NOT NULL`);
      throw new Error(
        `outbox did not settle: ${(await outbox.stats()).pending} pending at ${clock.nowMs()}, dispatcher wakes at ${waygate.dispatcher.nextWakeAt()}: ${JSON.stringify(stuck)}; lanes ${JSON.stringify(lanes)}`,
      );
    },
    async advanceTo(when) {
      const target = new Date(when).getTime();
      await waygate.inboxProcessor.whenIdle();
      for (let next = clock.nextTimerAt(); next !== null && next <= target; next = clock.nextTimerAt()) {
        clock.set(next);
        await waygate.deadlines.whenIdle();
        await waygate.services.jobs.whenIdle();
        // A delivery can start work (a storm posting its next alert) that queues another: wait for both to end.
        // A commit wakes the dispatcher on the next turn of the event loop, so let that turn come first.
        do {
          await slack.waitFor(() => !waygate.dispatcher.busy());
          await waygate.inflight.drain();
          await new Promise((r) => setImmediate(r));
        } while (waygate.dispatcher.busy() || waygate.inflight.size > 0);
      }
      clock.set(target);
      await waygate.deadlines.whenIdle();
      await waygate.services.jobs.whenIdle();
    },
    async stop() {
      await waygate.stop();
      if (ownsSlack) await slack.close();
      if (ownsPd) await pd?.close();
      if (!opts.dir) {
        rmSync(dir, { recursive: true, force: true });
        // Its database goes with its folder (a test that brings its folder may restart a bot in it).
        if (ownDatabase) await dropPostgresDatabaseFor(dir);
      }
    },
  };
}
