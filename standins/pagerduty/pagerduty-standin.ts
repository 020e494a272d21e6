/**
 * A local stand-in for PagerDuty's REST API v2 (incidents) and Events API v2, on one HTTP server. It speaks
 * the wire protocol the bot depends on (`Authorization: Token token=…`, the `From` header writes require,
 * `{"error":{"message","code","errors"}}` bodies, 429 + Retry-After, the Events API's 202/400 answers),
 * keeps incident state so status changes can be asserted, records every call, and injects faults.
 */
import { createHash } from 'node:crypto';
import { LoopbackServer, onBody } from '../shared/loopback-server.js';
import { waitFor } from '../shared/wait-for.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type PagerDutyFault =
  | { kind: 'http_error'; status: number }
  | { kind: 'rate_limited'; retryAfterSeconds?: number }
  | { kind: 'hang' };

export type PagerDutyTarget = 'rest' | 'events';

export interface PagerDutyRecordedCall {
  kind: PagerDutyTarget | 'unknown';
  method: string;
  /** Path without the query string. */
  path: string;
  /** The raw query string, '' or starting with '?'. */
  search: string;
  /** Lower-cased names; authorization is kept so tests can check it. */
  headers: Record<string, string>;
  /** Parsed JSON, else the raw text; undefined for an empty body. */
  body: unknown;
  status: number | 'hung';
  response?: unknown;
  at: number;
}

export type StandInIncidentStatus = 'triggered' | 'acknowledged' | 'resolved';

export interface StandInIncident {
  id: string;
  number: number;
  status: StandInIncidentStatus;
  title: string;
  /** Priority name (P1…P5) or null. */
  priority: string | null;
  urgency: 'high' | 'low';
  incident_key: string | null;
  /** The From address of the last status change made over REST. */
  lastChangedBy?: string;
}

interface Reply {
  status: number | 'hung';
  headers?: Record<string, string>;
  body?: unknown;
}

const HTML_BASE = 'https://acme.pagerduty.com';
const API_BASE = 'https://api.pagerduty.com';
const BULK_LIMIT = 250;
const ROUTING_KEY_LENGTH = 32;
const DEDUP_KEY_MAX = 255;
const SUMMARY_MAX = 1024;
const SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);
const EVENT_ACTIONS = new Set(['trigger', 'acknowledge', 'resolve']);
const STATUSES = new Set<StandInIncidentStatus>(['triggered', 'acknowledged', 'resolved']);

/** PagerDuty's REST error envelope. */
function restError(status: number, message: string, code: number, errors?: string[]): Reply {
  return { status, body: { error: { message, code, ...(errors ? { errors } : {}) } } };
}

function invalidInput(...errors: string[]): Reply {
  return restError(400, 'Invalid Input Provided', 2001, errors);
}

function invalidEvent(...errors: string[]): Reply {
  return { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors } };
}

export class PagerDutyStandIn {
  private readonly loopback: LoopbackServer;
  private recorded: PagerDutyRecordedCall[] = [];
  private readonly incidents = new Map<string, StandInIncident>();
  private faults = new Map<PagerDutyTarget, { fault: PagerDutyFault; remaining: number }[]>();
  private nextNumber = 1;
  private generated = 0;

  private constructor(
    private readonly server: http.Server,
    private readonly token: string | undefined,
    private readonly requireFrom: boolean,
  ) {
    this.loopback = new LoopbackServer(server);
  }

  /** `token`: the REST API key demanded (none: any non-empty `Token token=…`); `requireFrom` defaults to true. */
  static async start(opts: { token?: string; requireFrom?: boolean } = {}): Promise<PagerDutyStandIn> {
    const server = http.createServer();
    const standIn = new PagerDutyStandIn(server, opts.token, opts.requireFrom ?? true);
    server.on('request', (req, res) => standIn.onRequest(req, res));
    await standIn.loopback.listen();
    return standIn;
  }

  /** Hung requests keep sockets open forever, so close() destroys them rather than waiting. */
  close(): Promise<void> {
    return this.loopback.close();
  }

  private get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** REST API base, like https://api.pagerduty.com (no trailing slash). */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Events API base, like https://events.pagerduty.com; the same server answers `/v2/enqueue`. */
  get eventsUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  addIncident(incident: {
    id: string;
    number?: number;
    status?: StandInIncidentStatus;
    title: string;
    priority?: string | null;
    urgency?: 'high' | 'low';
    incident_key?: string | null;
  }): StandInIncident {
    const stored: StandInIncident = {
      id: incident.id,
      number: incident.number ?? this.nextNumber,
      status: incident.status ?? 'triggered',
      title: incident.title,
      priority: incident.priority ?? null,
      urgency: incident.urgency ?? 'high',
      incident_key: incident.incident_key ?? null,
    };
    this.nextNumber = Math.max(this.nextNumber, stored.number + 1);
    this.incidents.set(stored.id, stored);
    return { ...stored };
  }

  incident(id: string): StandInIncident | undefined {
    const found = this.incidents.get(id);
    return found ? { ...found } : undefined;
  }

  allIncidents(): StandInIncident[] {
    return [...this.incidents.values()].map((i) => ({ ...i }));
  }

  /** All calls; or those of one kind ('rest' | 'events'); or those to one exact path (no query). */
  calls(filter?: string): PagerDutyRecordedCall[] {
    if (filter === undefined) return [...this.recorded];
    if (filter === 'rest' || filter === 'events') return this.recorded.filter((c) => c.kind === filter);
    return this.recorded.filter((c) => c.path === filter);
  }

  /** Bodies received on the Events API, valid or not, oldest first. */
  events(): unknown[] {
    return this.recorded.filter((c) => c.kind === 'events').map((c) => c.body);
  }

  failNext(target: PagerDutyTarget, fault: PagerDutyFault, times = 1): void {
    const queue = this.faults.get(target) ?? [];
    queue.push({ fault, remaining: times });
    this.faults.set(target, queue);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Forgets calls, faults and incidents. */
  reset(): void {
    this.recorded = [];
    this.faults.clear();
    this.incidents.clear();
    this.nextNumber = 1;
  }

  /** Polls until fn yields something other than undefined/false; see waitFor in ../shared/wait-for.ts. */
  waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
    return waitFor(fn, timeoutMs);
  }

  // ---- HTTP plumbing ----

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    onBody(req, (raw) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const path = url.pathname;
      const kind: PagerDutyRecordedCall['kind'] =
        path === '/v2/enqueue' ? 'events' : path === '/incidents' || path.startsWith('/incidents/') ? 'rest' : 'unknown';
      const call: PagerDutyRecordedCall = {
        kind,
        method: req.method ?? 'GET',
        path,
        search: url.search,
        headers: flatHeaders(req.headers),
        body: parseBody(raw),
        status: 200,
        at: Date.now(),
      };
      this.recorded.push(call);
      let reply: Reply;
      try {
        const fault = kind === 'unknown' ? undefined : this.takeFault(kind);
        if (fault && kind !== 'unknown') reply = this.faultReply(kind, fault);
        else if (kind === 'events') reply = this.handleEvent(call);
        else if (kind === 'rest') reply = this.handleRest(call, url);
        else reply = restError(404, 'Not Found', 2100);
      } catch (e) {
        reply = { status: 500, body: { error: { message: `stand-in error: ${e instanceof Error ? e.message : String(e)}` } } };
      }
      call.status = reply.status;
      if (reply.body !== undefined) call.response = reply.body;
      this.send(res, reply);
    });
  }

  private send(res: http.ServerResponse, reply: Reply): void {
    if (reply.status === 'hung') return;
    res.writeHead(reply.status, { 'Content-Type': 'application/json; charset=utf-8', ...reply.headers });
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
  }

  private takeFault(target: PagerDutyTarget): PagerDutyFault | undefined {
    const queue = this.faults.get(target);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    if (--head.remaining <= 0) queue.shift();
    return head.fault;
  }

  private faultReply(target: PagerDutyTarget, fault: PagerDutyFault): Reply {
    switch (fault.kind) {
      case 'rate_limited': {
        const headers = fault.retryAfterSeconds !== undefined ? { 'Retry-After': String(fault.retryAfterSeconds) } : undefined;
        const body =
          target === 'events'
            ? { status: 'throttle event', message: 'Requests for this service are arriving too quickly. Please retry later.' }
            : { error: { message: 'Rate Limit Exceeded', code: 2020 } };
        return { status: 429, ...(headers ? { headers } : {}), body };
      }
      case 'http_error': {
        const message = `stand-in http_error ${fault.status}`;
        return {
          status: fault.status,
          body: target === 'events' ? { status: 'error', message } : { error: { message, code: 2000 } },
        };
      }
      case 'hang':
        return { status: 'hung' };
    }
  }

  // ---- REST API ----

  private handleRest(call: PagerDutyRecordedCall, url: URL): Reply {
    const auth = call.headers.authorization ?? '';
    const given = auth.startsWith('Token token=') ? auth.slice('Token token='.length) : '';
    if (given === '' || (this.token !== undefined && given !== this.token)) {
      return restError(401, 'Authentication required', 2006);
    }
    // Accept: application/vnd.pagerduty+json;version=2 is recorded but, like PagerDuty on most endpoints, not enforced.
    const id = call.path.startsWith('/incidents/') ? decodeURIComponent(call.path.slice('/incidents/'.length)) : undefined;
    if (call.method === 'GET') {
      if (id === undefined) return this.listIncidents(url.searchParams);
      const found = this.incidents.get(id);
      return found ? { status: 200, body: { incident: this.view(found) } } : restError(404, 'Not Found', 2100);
    }
    if (call.method !== 'PUT') return restError(405, 'Method Not Allowed', 2000);
    const from = call.headers.from ?? '';
    if (this.requireFrom && !/^[^@\s]+@[^@\s]+$/.test(from)) {
      return invalidInput('Requester User Not Found');
    }
    if (typeof call.body !== 'object' || call.body === null) return invalidInput('Request body is not valid JSON');
    return id === undefined ? this.bulkUpdate(call.body, from) : this.updateOne(id, call.body, from);
  }

  private updateOne(id: string, body: object, from: string): Reply {
    const incident = (body as { incident?: unknown }).incident;
    if (typeof incident !== 'object' || incident === null) return invalidInput('Incident must be an object');
    const checked = this.checkUpdate(id, incident);
    if ('reply' in checked) return checked.reply;
    this.apply(checked.target, checked.status, from);
    return { status: 200, body: { incident: this.view(checked.target) } };
  }

  /** All-or-nothing: every entry is checked before any is applied. */
  private bulkUpdate(body: object, from: string): Reply {
    const list = (body as { incidents?: unknown }).incidents;
    if (!Array.isArray(list) || list.length === 0) return invalidInput('Incidents must be a non-empty array');
    if (list.length > BULK_LIMIT) return invalidInput(`Incidents must contain at most ${BULK_LIMIT} entries`);
    const updates: { target: StandInIncident; status: StandInIncidentStatus }[] = [];
    for (const entry of list as unknown[]) {
      if (typeof entry !== 'object' || entry === null) return invalidInput('Incident must be an object');
      const id = (entry as { id?: unknown }).id;
      if (typeof id !== 'string') return invalidInput('Incident id is required');
      const checked = this.checkUpdate(id, entry);
      if ('reply' in checked) return checked.reply;
      updates.push(checked);
    }
    for (const u of updates) this.apply(u.target, u.status, from);
    return { status: 200, body: { incidents: updates.map((u) => this.view(u.target)) } };
  }

  private checkUpdate(
    id: string,
    entry: object,
  ): { target: StandInIncident; status: StandInIncidentStatus } | { reply: Reply } {
    const { type, status } = entry as { type?: unknown; status?: unknown };
    if (type !== 'incident_reference' && type !== 'incident') {
      return { reply: invalidInput('Incident type must be incident_reference') };
    }
    const target = this.incidents.get(id);
    if (!target) return { reply: restError(404, 'Not Found', 2100, [`Incident ${id} not found`]) };
    if (status !== 'acknowledged' && status !== 'resolved') {
      return { reply: invalidInput('Status must be acknowledged or resolved') };
    }
    if (target.status === 'resolved') return { reply: invalidInput('Incident Already Resolved') };
    return { target, status };
  }

  private apply(target: StandInIncident, status: StandInIncidentStatus, from: string): void {
    target.status = status;
    if (from) target.lastChangedBy = from;
  }

  private listIncidents(params: URLSearchParams): Reply {
    const wanted = params.getAll('statuses[]').filter((s): s is StandInIncidentStatus => STATUSES.has(s as StandInIncidentStatus));
    const limit = clampInt(params.get('limit'), 25, 1, 100);
    const offset = clampInt(params.get('offset'), 0, 0, Number.MAX_SAFE_INTEGER);
    const matching = [...this.incidents.values()]
      .filter((i) => wanted.length === 0 || wanted.includes(i.status))
      .sort((a, b) => a.number - b.number);
    const page = matching.slice(offset, offset + limit);
    return {
      status: 200,
      body: {
        incidents: page.map((i) => this.view(i)),
        limit,
        offset,
        total: null,
        more: offset + page.length < matching.length,
      },
    };
  }

  /** The incident as the REST API renders it. */
  private view(i: StandInIncident): Record<string, unknown> {
    return {
      id: i.id,
      type: 'incident',
      summary: `[#${i.number}] ${i.title}`,
      self: `${API_BASE}/incidents/${i.id}`,
      html_url: `${HTML_BASE}/incidents/${i.id}`,
      incident_number: i.number,
      title: i.title,
      status: i.status,
      incident_key: i.incident_key,
      urgency: i.urgency,
      priority: i.priority === null ? null : priorityReference(i.priority),
    };
  }

  // ---- Events API ----

  private handleEvent(call: PagerDutyRecordedCall): Reply {
    if (call.method !== 'POST') return { status: 405, body: { status: 'error', message: 'Method Not Allowed' } };
    const event = call.body;
    if (typeof event !== 'object' || event === null || Array.isArray(event)) return invalidEvent('Event must be a JSON object');
    const e = event as Record<string, unknown>;
    const errors: string[] = [];
    if (typeof e.routing_key !== 'string' || e.routing_key.length !== ROUTING_KEY_LENGTH) {
      errors.push(`'routing_key' must be a ${ROUTING_KEY_LENGTH} character string`);
    }
    const action = e.event_action;
    if (typeof action !== 'string' || !EVENT_ACTIONS.has(action)) errors.push("'event_action' is invalid");
    const dedupKey = e.dedup_key;
    if (dedupKey !== undefined && (typeof dedupKey !== 'string' || dedupKey.length === 0 || dedupKey.length > DEDUP_KEY_MAX)) {
      errors.push(`'dedup_key' must be a string of at most ${DEDUP_KEY_MAX} characters`);
    }
    if ((action === 'acknowledge' || action === 'resolve') && dedupKey === undefined) errors.push("'dedup_key' is required");
    if (action === 'trigger') errors.push(...payloadErrors(e.payload));
    if (errors.length > 0) return invalidEvent(...errors);

    const key = typeof dedupKey === 'string' ? dedupKey : this.generatedKey();
    this.applyEvent(action as string, key, e.payload as { summary: string; severity: string } | undefined);
    return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: key } };
  }

  private generatedKey(): string {
    return createHash('sha256').update(`standin-dedup-${++this.generated}`).digest('hex').slice(0, 32);
  }

  /** Events drive incidents as alerts do: a trigger opens one per dedup_key, acknowledge/resolve move it. */
  private applyEvent(action: string, key: string, payload: { summary: string; severity: string } | undefined): void {
    const open = [...this.incidents.values()].find((i) => i.incident_key === key && i.status !== 'resolved');
    if (action === 'trigger') {
      if (open || !payload) return;
      const number = this.nextNumber;
      this.addIncident({
        id: `QSTANDIN${String(number).padStart(6, '0')}`,
        number,
        title: payload.summary,
        urgency: payload.severity === 'critical' || payload.severity === 'error' ? 'high' : 'low',
        incident_key: key,
      });
      return;
    }
    if (!open) return;
    if (action === 'resolve') open.status = 'resolved';
    else if (action === 'acknowledge') open.status = 'acknowledged';
  }
}

function payloadErrors(payload: unknown): string[] {
  if (typeof payload !== 'object' || payload === null) return ["'payload' is required for trigger events"];
  const p = payload as Record<string, unknown>;
  const errors: string[] = [];
  if (typeof p.summary !== 'string' || p.summary.length === 0 || p.summary.length > SUMMARY_MAX) {
    errors.push(`'payload.summary' must be a string of 1 to ${SUMMARY_MAX} characters`);
  }
  if (typeof p.source !== 'string' || p.source.length === 0) errors.push("'payload.source' is required");
  if (typeof p.severity !== 'string' || !SEVERITIES.has(p.severity)) {
    errors.push("'payload.severity' must be one of critical, error, warning, info");
  }
  if (p.timestamp !== undefined && (typeof p.timestamp !== 'string' || Number.isNaN(Date.parse(p.timestamp)))) {
    errors.push("'payload.timestamp' must be an ISO 8601 timestamp");
  }
  if (p.custom_details !== undefined && (typeof p.custom_details !== 'object' || p.custom_details === null)) {
    errors.push("'payload.custom_details' must be an object");
  }
  return errors;
}

function priorityReference(name: string): Record<string, unknown> {
  const id = `PPRI${name.replace(/[^A-Za-z0-9]/g, '').toUpperCase()}`;
  return {
    id,
    type: 'priority_reference',
    summary: name,
    self: `${API_BASE}/priorities/${id}`,
    html_url: `${HTML_BASE}/account/incident_priorities`,
  };
}

function flatHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function parseBody(raw: string): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function clampInt(raw: string | null, fallback: number, min: number, max: number): number {
  const n = raw === null ? NaN : Number.parseInt(raw, 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}
