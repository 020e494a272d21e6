/**
 * Values shared by the benchmark driver (bench/run.ts) and the server children (bench/servers.ts):
 * the credentials the apps are configured with, and the exact signed request Slack would send for
 * `/waygate help`. The PagerDuty webhook requests are built per request in bench/webhook.ts.
 */
import { slackSignature } from '../standins/slack/index.js';

export const BOT_TOKEN = 'xoxb-fake-bench-token';
export const SIGNING_SECRET = 'bench-signing-secret-0123456789';
/** HEALTH_DETAILS_TOKEN: the driver reads the inbox and outbox counts from the details of GET /health. */
export const HEALTH_TOKEN = 'bench-health-details-token-0123456789';
/** Headers that unlock the details of Waygate's GET /health. */
export const HEALTH_DETAILS_HEADERS = { authorization: `Bearer ${HEALTH_TOKEN}` };
/** The benchmark caller; Waygate's config puts this user in the `ops` role. */
export const BENCH_USER = 'U0BENCH';
export const EVENTS_PATH = '/slack/events';
/** The secret of the PagerDuty webhook subscription (PAGERDUTY_WEBHOOK_SECRET), used as literal UTF-8 bytes. */
export const WEBHOOK_SECRET = 'bench-pagerduty-webhook-secret-0123456789';
/** Where Waygate (src/pagerduty/webhook-route.ts) and the webhook baseline take PagerDuty Webhooks v3. */
export const WEBHOOK_PATH = '/pagerduty/webhook';
/** Environment variable naming the directory a server child keeps its SQLite file in (the driver owns it). */
export const DATA_DIR_ENV = 'BENCH_DATA_DIR';
/** Environment variable with the PostgreSQL database a `waygate-pg` child runs on (the driver creates and drops it). */
export const DATABASE_URL_ENV = 'BENCH_DATABASE_URL';

/**
 * bare — bare Bolt acking `/waygate`; waygate — the real bot on SQLite (both benchmarks, a fresh process
 * each); waygate-pg — the same bot on PostgreSQL (WAYGATE_DATABASE_URL); webhook-baseline — bare
 * `http.createServer` that verifies the PagerDuty HMAC and inserts one SQLite row.
 */
export const SERVER_KINDS = ['bare', 'waygate', 'waygate-pg', 'webhook-baseline'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

export function isServerKind(value: unknown): value is ServerKind {
  return typeof value === 'string' && (SERVER_KINDS as readonly string[]).includes(value);
}

/** The line a server child prints on stdout once it is listening. */
export interface ReadyLine {
  kind: ServerKind;
  port: number;
  pid: number;
  /** A response_url on the child's Slack stand-in, for the signed form body; '' when it has none. */
  responseUrl: string;
  /** The app's SQLite file ('' when it has none, or keeps its data in PostgreSQL), read by the driver after the child has stopped. */
  dbPath: string;
}

export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

/**
 * The slash-command form body Slack posts for `/waygate help`, field for field as in
 * standins/slack/request-signer.ts, signed for `timestampSec`. Each `sequence` gives the request its own
 * trigger_id, as each command a user types has: Waygate answers a request it has seen before without
 * running it, so replaying one signed request would measure only that.
 */
export function signedHelpCommand(timestampSec: number, responseUrl: string, sequence = 0): SignedRequest {
  const body = new URLSearchParams({
    token: 'STANDINVERIFICATIONTOKEN',
    team_id: 'T0STANDIN',
    team_domain: 'standin',
    channel_id: 'C0BENCH',
    channel_name: 'standin-channel',
    user_id: BENCH_USER,
    user_name: BENCH_USER.toLowerCase(),
    command: '/waygate',
    text: 'help',
    api_app_id: 'A0WAYGATE',
    response_url: responseUrl,
    trigger_id: `${timestampSec}.${sequence}.0123456789abcdef0123456789abcdef`,
  }).toString();
  return {
    body,
    headers: {
      // Exactly this value: Bolt's HTTPReceiver answers 400 to a form body whose type carries a charset.
      'Content-Type': 'application/x-www-form-urlencoded',
      'X-Slack-Request-Timestamp': String(timestampSec),
      'X-Slack-Signature': slackSignature(SIGNING_SECRET, timestampSec, body),
    },
  };
}
