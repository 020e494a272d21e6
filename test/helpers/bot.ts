import { createHash } from 'node:crypto';
import pg from 'pg';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config/load.js';
import { createWaygate, type Waygate, type WaygateOptions } from '../../src/app.js';
import { ManualClock } from '../../src/clock/clock.js';
import { SlackStandIn, SlackRequestSigner } from '../../standins/slack/index.js';
import { PagerDutyStandIn, PagerDutyWebhookSigner } from '../../standins/pagerduty/index.js';
import { RecordingRunner } from '../support/recording-runner.js';

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
 * With WAYGATE_TEST_BACKEND=postgres (and WAYGATE_TEST_DATABASE_URL): a database of its own per bot folder, on
 * that server, so a restart in the same folder finds its data again.
 */
async function postgresDatabaseFor(dir: string): Promise<string> {
  const server = process.env.WAYGATE_TEST_DATABASE_URL;
  if (!server) throw new Error('WAYGATE_TEST_BACKEND=postgres needs WAYGATE_TEST_DATABASE_URL');
  const name = `waygate_${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Boots the real bot (real Bolt, real HTTP receiver, real SQLite file) against the Slack stand-in. */
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
  const backendEnv = process.env.WAYGATE_TEST_BACKEND === 'postgres' ? { WAYGATE_DATABASE_URL: await postgresDatabaseFor(dir) } : {};
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
      // Each command's record is written at the end of its turn, so a test reads it without waiting 200 ms.
      requestRecords: (flush) => setImmediate(() => void flush()),
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
    async settle() {
      const { outbox, jobs } = waygate.services;
      for (let i = 0; i < 500; i++) {
        await waygate.inflight.drain();
        await waygate.deadlines.whenIdle();
        await waygate.inboxProcessor.whenIdle();
        await jobs.whenIdle();
        await slack.waitFor(() => !waygate.dispatcher.busy());
        if ((await outbox.stats()).pending === 0) return;
        const wake = waygate.dispatcher.nextWakeAt();
        if (wake !== null && wake > clock.nowMs()) clock.set(wake);
        else await new Promise((r) => setImmediate(r));
      }
      throw new Error(`outbox did not settle: ${(await outbox.stats()).pending} pending`);
    },
    async advanceTo(when) {
      const target = new Date(when).getTime();
      await waygate.inboxProcessor.whenIdle();
      for (let next = clock.nextTimerAt(); next !== null && next <= target; next = clock.nextTimerAt()) {
        clock.set(next);
        await waygate.deadlines.whenIdle();
        await waygate.services.jobs.whenIdle();
        await slack.waitFor(() => !waygate.dispatcher.busy());
      }
      clock.set(target);
      await waygate.deadlines.whenIdle();
      await waygate.services.jobs.whenIdle();
    },
    async stop() {
      await waygate.stop();
      if (ownsSlack) await slack.close();
      if (ownsPd) await pd?.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
