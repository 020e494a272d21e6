/**
 * The PagerDuty webhook side of the benchmark, run in the driver (bench/run.ts): a stream of distinct,
 * individually signed Webhooks v3 `incident.triggered` deliveries for autocannon, the check that one
 * delivery is applied before any load, and the check after the run that everything acknowledged was
 * committed to the app's database (its SQLite file, or its PostgreSQL database).
 */
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type autocannon from 'autocannon';
import { signPagerDutyBody } from '../src/pagerduty/signature.js';
import { buildIncidentEvent } from '../standins/pagerduty/index.js';
import { HEALTH_DETAILS_HEADERS, WEBHOOK_PATH, WEBHOOK_SECRET } from './fixtures.js';

/** What Waygate (and the baseline) answer once an event is committed to the inbox. */
export const APPLIED_BODY = '{"status":"accepted"}';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const PRIORITIES = ['P1', 'P2', 'P3', 'P4'] as const;
const SERVICES = ['api', 'checkout', 'search', 'billing', 'auth'] as const;

function crockford(value: number, width: number): string {
  let out = '';
  let v = value;
  for (let i = 0; i < width; i++) {
    out = CROCKFORD.charAt(v % 32) + out;
    v = Math.floor(v / 32);
  }
  return out;
}

export interface WebhookRequest {
  eventId: string;
  body: string;
  headers: Record<string, string>;
}

/** Per-connection state autocannon hands to both setupRequest and onResponse of the same request. */
interface RequestContext {
  eventId?: string;
}

/**
 * Builds distinct deliveries: every call gets a fresh event id (ULID-shaped: time + sequence, so unique by
 * construction), a new incident (id `Q…`, number) and its own signature over its own body, exactly as
 * standins/pagerduty/webhook-signer.ts would send it. Remembers which event ids were sent and which were
 * acknowledged with 200 `{"status":"accepted"}`, for the durability check.
 */
export class WebhookEventSource {
  private seq = 0;
  /** Every event id put on the wire (built for a request). */
  readonly sent = new Set<string>();
  /** Event ids answered 2xx with APPLIED_BODY. */
  readonly acked = new Set<string>();

  constructor(private readonly firstNumber: number) {}

  next(): WebhookRequest {
    const seq = this.seq++;
    const number = this.firstNumber + seq;
    const nowMs = Date.now();
    const occurredAt = new Date(nowMs).toISOString();
    const eventId = crockford(nowMs, 10) + crockford(number, 16);
    const priority = PRIORITIES[seq % PRIORITIES.length]!;
    const service = SERVICES[seq % SERVICES.length]!;
    const event = buildIncidentEvent(
      'incident.triggered',
      { id: `Q${number.toString(36).toUpperCase().padStart(13, '0')}`, number, priority, title: `[${service}] error rate above 5% for 5 minutes (${number})` },
      { eventId, occurredAt, agent: null },
    );
    const body = JSON.stringify(event);
    this.sent.add(eventId);
    return {
      eventId,
      body,
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'PagerDuty-Webhook/V3.0',
        'X-Webhook-Id': randomUUID(),
        'X-Webhook-Subscription': 'PSTANDINSUB01',
        'X-PagerDuty-Signature': signPagerDutyBody(WEBHOOK_SECRET, body),
      },
    };
  }

  /** autocannon's `requests`: one template whose setupRequest builds and signs a new delivery every time. */
  autocannonRequests(): autocannon.Request[] {
    return [
      {
        method: 'POST',
        path: WEBHOOK_PATH,
        setupRequest: (request, context) => {
          const next = this.next();
          (context as RequestContext).eventId = next.eventId;
          return { ...request, method: 'POST', path: WEBHOOK_PATH, headers: next.headers, body: next.body };
        },
        // autocannon calls this before it builds the connection's next request, with the same context.
        onResponse: (status, body, context) => {
          const { eventId } = context as RequestContext;
          if (status >= 200 && status < 300 && body === APPLIED_BODY && eventId !== undefined) this.acked.add(eventId);
        },
      },
    ];
  }
}

/** Sends one delivery and checks it is accepted (200, JSON, `{"status":"accepted"}`). */
export async function verifyWebhook(kind: string, baseUrl: string, source: WebhookEventSource): Promise<void> {
  const delivery = source.next();
  const res = await fetch(`${baseUrl}${WEBHOOK_PATH}`, { method: 'POST', headers: delivery.headers, body: delivery.body });
  const text = await res.text();
  const problem = (why: string): Error => new Error(`${kind} webhook verification failed: ${why}; body: ${text.slice(0, 300)}`);
  if (res.status !== 200) throw problem(`HTTP ${res.status}`);
  if (!(res.headers.get('content-type') ?? '').includes('application/json')) throw problem(`content-type ${res.headers.get('content-type')}`);
  if (text !== APPLIED_BODY) throw problem(`expected ${APPLIED_BODY}`);
  source.acked.add(delivery.eventId);
}

export interface HealthSummary {
  status: string;
  outboxPending: number;
  outboxFailed: number;
}

/** Waygate's GET /health, reduced to what the report shows. */
export async function waygateHealth(baseUrl: string): Promise<HealthSummary> {
  const res = await fetch(`${baseUrl}/health`, { headers: HEALTH_DETAILS_HEADERS });
  const json = (await res.json()) as { status?: string; outbox?: { pending?: number; failed?: number } };
  if (res.status !== 200 || typeof json.status !== 'string') throw new Error(`GET /health answered ${res.status}: ${JSON.stringify(json).slice(0, 300)}`);
  return { status: json.status, outboxPending: json.outbox?.pending ?? Number.NaN, outboxFailed: json.outbox?.failed ?? Number.NaN };
}

export interface Durability {
  /** webhook_inbox rows in the file. */
  rows: number;
  /** Deliveries answered 200 `{"status":"accepted"}`. */
  acked: number;
  /** Acknowledged event ids with no row: each one is an event the app lost. Must be 0. */
  lost: number;
  /** Rows whose event id this run never sent. Must be 0. */
  unknown: number;
  /**
   * Rows for deliveries cut off at the end of a slice: autocannon closes its connections when a slice's
   * time is up, and a request already sent may be committed although its answer is never read.
   */
  committedUnanswered: number;
  /** Waygate only: incidents from PagerDuty, and outbox rows (alerts and storm summaries queued for Slack). */
  incidents?: number;
  /** Waygate only: accepted events not yet applied to incidents when the app stopped (it drains on SIGTERM). */
  unapplied?: number;
  outbox?: { pending: number; delivered: number; failed: number };
}

/** Runs one SQL text on the stopped app's database and returns its rows. */
export type DurabilityQuery = (text: string) => Promise<Record<string, unknown>[]>;

/** Opens the stopped app's SQLite file read-only for `fn`. */
export async function readSqlite<T>(dbPath: string, fn: (query: DurabilityQuery) => Promise<T>): Promise<T> {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return await fn((text) => Promise.resolve(db.prepare(text).all() as Record<string, unknown>[]));
  } finally {
    db.close();
  }
}

/**
 * Reads the stopped app's database (the SQLite file, or its PostgreSQL database: the same SQL on both) and
 * compares it with what was sent and acknowledged.
 */
export async function checkDurability(query: DurabilityQuery, source: WebhookEventSource, waygate: boolean): Promise<Durability> {
  const ids = (await query('SELECT event_id FROM webhook_inbox')).map((r) => String(r.event_id));
  const stored = new Set(ids);
  let lost = 0;
  for (const id of source.acked) if (!stored.has(id)) lost++;
  let unknown = 0;
  let committedUnanswered = 0;
  for (const id of stored) {
    if (!source.sent.has(id)) unknown++;
    else if (!source.acked.has(id)) committedUnanswered++;
  }
  const result: Durability = { rows: ids.length, acked: source.acked.size, lost, unknown, committedUnanswered };
  if (waygate) {
    // COUNT(*) is a BIGINT on PostgreSQL, which node-postgres hands back as a string.
    const count = async (text: string): Promise<number> => Number((await query(text))[0]?.n ?? Number.NaN);
    // Incidents Waygate opened itself (`local:…`, the health monitor finding no service to watch when a run
    // spans two of its samples) are not the webhook's.
    result.incidents = await count(`SELECT COUNT(*) AS n FROM incidents WHERE id NOT LIKE 'local:%'`);
    result.unapplied = await count('SELECT COUNT(*) AS n FROM webhook_inbox WHERE processed_at IS NULL');
    const byStatus = await query('SELECT status, COUNT(*) AS n FROM outbox GROUP BY status');
    const ofStatus = (status: string): number => Number(byStatus.find((r) => r.status === status)?.n ?? 0);
    result.outbox = { pending: ofStatus('pending'), delivered: ofStatus('delivered'), failed: ofStatus('failed') };
  }
  return result;
}
