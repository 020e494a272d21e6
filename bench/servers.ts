/**
 * Benchmark server child: `node --import tsx bench/servers.ts <bare|waygate|waygate-pg|webhook-baseline>`.
 *
 * Starts one app on an ephemeral port (the Slack apps against an in-process Slack stand-in: Bolt calls
 * auth.test at start, and Waygate's outbox delivers its messages there), prints one JSON line
 * `{"kind","port","pid","responseUrl","dbPath"}` on stdout, and serves until SIGTERM or SIGINT, when it
 * stops cleanly and exits. bench/run.ts spawns one child per app so that no two share an event loop, a
 * heap or a GC with each other or with the load generator.
 *
 *   bare             — a bare Bolt App on its default HTTPReceiver whose only listener acks `/waygate` at once.
 *   waygate          — the real bot: createWaygate() with a real config file, SQLite file, jobs and outbox,
 *                      and PAGERDUTY_WEBHOOK_SECRET set (no PagerDuty API token: webhooks need only the secret).
 *   waygate-pg       — the same bot with WAYGATE_DATABASE_URL set to the PostgreSQL database in
 *                      $BENCH_DATABASE_URL (the driver creates it, and drops it after reading it).
 *   webhook-baseline — a bare node:http server that takes a PagerDuty webhook the least a durable receiver
 *                      can: read the body, check the HMAC, parse it, insert one row, answer.
 *
 * The SQLite file goes in $BENCH_DATA_DIR when set (the driver reads it after the child exits and removes
 * the directory), else in a temporary directory the child removes on exit.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { createWaygate } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import { SlackStandIn } from '../standins/slack/index.js';
import {
  BENCH_USER,
  BOT_TOKEN,
  DATABASE_URL_ENV,
  DATA_DIR_ENV,
  HEALTH_TOKEN,
  SERVER_KINDS,
  SIGNING_SECRET,
  WEBHOOK_PATH,
  WEBHOOK_SECRET,
  isServerKind,
  type ReadyLine,
  type ServerKind,
} from './fixtures.js';

interface Running {
  port: number;
  /** '' when the app keeps no database. */
  dbPath: string;
  stop(): Promise<void>;
}

/** Bolt's logger interface with every call dropped: the bare app must not pay for logging either. */
function silentBoltLogger(): BoltLogger {
  let level = LogLevel.ERROR;
  const drop = (): void => undefined;
  return {
    debug: drop,
    info: drop,
    warn: drop,
    error: drop,
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: drop,
  };
}

async function startBare(slack: SlackStandIn): Promise<Running> {
  // No `receiver` option: Bolt builds its default HTTPReceiver, the same receiver class Waygate uses in
  // HTTP mode, with the same default processBeforeResponse (false).
  const app = new App({
    token: BOT_TOKEN,
    signingSecret: SIGNING_SECRET,
    clientOptions: { slackApiUrl: slack.apiUrl },
    logger: silentBoltLogger(),
    deferInitialization: true,
  });
  app.command('/waygate', async ({ ack }) => {
    await ack({ response_type: 'ephemeral', text: 'ok' });
  });
  await app.init();
  const server = (await app.start(0)) as Server;
  return {
    port: (server.address() as AddressInfo).port,
    dbPath: '',
    stop: () => app.stop().then(() => undefined),
  };
}

async function startWaygate(slack: SlackStandIn, dir: string, databaseUrl?: string): Promise<Running> {
  const configPath = join(dir, 'waygate.yml');
  const dbPath = join(dir, 'waygate.db');
  writeFileSync(
    configPath,
    stringify({
      timezone: 'UTC',
      channels: { alerts: 'C0ALERTS', ops: 'C0OPS', digest: 'C0OPS', security: 'C0SEC', compliance: 'C0COMP' },
      roles: { lead: ['U0LEAD'], oncall: ['U0ONCALL'], ops: [BENCH_USER], security: ['U0SEC'], admin: ['U0ADMIN'] },
    }),
  );
  const loaded = loadConfig({
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    WAYGATE_DB: dbPath,
    WAYGATE_CONFIG: configPath,
    PAGERDUTY_WEBHOOK_SECRET: WEBHOOK_SECRET,
    HEALTH_DETAILS_TOKEN: HEALTH_TOKEN,
    LOG_LEVEL: 'silent',
    PORT: '0',
    ...(databaseUrl === undefined ? {} : { WAYGATE_DATABASE_URL: databaseUrl }),
  });
  if (!loaded.ok) throw new Error(`benchmark config invalid: ${loaded.problems.join('; ')}`);
  const waygate = createWaygate({ config: loaded.config, logger: pino({ level: 'silent' }) });
  const { port } = await waygate.start(0);
  return { port, dbPath: databaseUrl === undefined ? dbPath : '', stop: () => waygate.stop() };
}

/** Same limit as src/pagerduty/webhook-route.ts. */
const WEBHOOK_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * The least a durable PagerDuty webhook receiver does: read the raw body, check `X-PagerDuty-Signature:
 * v1=<hex HMAC-SHA256>` with timingSafeEqual, JSON.parse it for the event id, insert one row (committed,
 * same pragmas as src/db/database.ts) and answer 200 `{"status":"accepted"}`. No schema validation, no
 * incident, no outbox, no Slack message, no metrics, and one `v1=` entry only (no secret rotation).
 */
function startWebhookBaseline(dir: string): Promise<Running> {
  const dbPath = join(dir, 'baseline.db');
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec(`CREATE TABLE IF NOT EXISTS webhook_inbox (
    event_id TEXT PRIMARY KEY, event_type TEXT NOT NULL, received_at INTEGER NOT NULL)`);
  const insert = db.prepare('INSERT OR IGNORE INTO webhook_inbox (event_id, event_type, received_at) VALUES (?, ?, ?)');

  const reply = (res: ServerResponse, status: number, body: Record<string, unknown>): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const ingest = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const header = req.headers['x-pagerduty-signature'];
    const given = typeof header === 'string' && header.startsWith('v1=') ? Buffer.from(header.slice(3), 'hex') : Buffer.alloc(0);
    const expected = createHmac('sha256', WEBHOOK_SECRET).update(body).digest();
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return reply(res, 401, { error: 'invalid signature' });
    let event: { id?: unknown; event_type?: unknown } | undefined;
    try {
      event = (JSON.parse(body.toString('utf8')) as { event?: typeof event }).event;
    } catch {
      return reply(res, 400, { error: 'body is not JSON' });
    }
    if (typeof event?.id !== 'string' || typeof event.event_type !== 'string') return reply(res, 400, { error: 'no event id' });
    const { changes } = insert.run(event.id, event.event_type, Date.now());
    reply(res, 200, { status: changes === 1 ? 'accepted' : 'duplicate' });
  };
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== WEBHOOK_PATH) return reply(res, 404, { error: 'not found' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= WEBHOOK_BODY_LIMIT_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > WEBHOOK_BODY_LIMIT_BYTES) return reply(res, 413, { error: 'body too large' });
      try {
        ingest(req, res, Buffer.concat(chunks));
      } catch {
        if (!res.headersSent) reply(res, 500, { error: 'internal error' });
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        dbPath,
        stop: () =>
          new Promise<void>((done) => {
            server.close(() => {
              db.close();
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}

async function main(): Promise<void> {
  const kind = process.argv[2];
  if (!isServerKind(kind)) {
    process.stderr.write(`usage: node --import tsx bench/servers.ts <${SERVER_KINDS.join('|')}> (got ${String(kind)})\n`);
    process.exit(2);
  }
  // The baseline talks to nobody; the Bolt apps need Slack's auth.test (and Waygate delivers its messages).
  const slack = kind === 'webhook-baseline' ? undefined : await SlackStandIn.start({ token: BOT_TOKEN });
  const givenDir = process.env[DATA_DIR_ENV];
  const dir = givenDir || mkdtempSync(join(tmpdir(), `waygate-bench-${kind}-`));
  const removeDir = (): void => {
    if (!givenDir) rmSync(dir, { recursive: true, force: true });
  };
  let running: Running;
  try {
    if (kind === 'webhook-baseline') running = await startWebhookBaseline(dir);
    else if (kind === 'waygate') running = await startWaygate(slack!, dir);
    else if (kind === 'waygate-pg') {
      const url = process.env[DATABASE_URL_ENV];
      if (!url) throw new Error(`waygate-pg needs ${DATABASE_URL_ENV}: the PostgreSQL database to run on`);
      running = await startWaygate(slack!, dir, url);
    }
    else running = await startBare(slack!);
  } catch (err) {
    await slack?.close();
    removeDir();
    throw err;
  }

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      let code = 0;
      try {
        await running.stop();
      } catch (err) {
        process.stderr.write(`${kind}: stop after ${signal} failed: ${(err as Error).message}\n`);
        code = 1;
      }
      await slack?.close();
      removeDir();
      process.exit(code);
    })();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  const ready: ReadyLine = {
    kind: kind satisfies ServerKind,
    port: running.port,
    pid: process.pid,
    responseUrl: slack?.responseUrl('bench') ?? '',
    dbPath: running.dbPath,
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench server failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
