import type { Reply } from '../shared/reply.js';
import type { IncidentStore, StandInIncident, StandInIncidentStatus } from './incidents.js';
import type { PagerDutyRecordedCall } from './recorder.js';
import { API_BASE, HTML_BASE, priorityReference } from './references.js';

export interface RestApiOptions {
  /** The API key demanded; none: any non-empty `Token token=…`. */
  token: string | undefined;
  /** Whether writes need a `From` header with the acting user's email, as PagerDuty's do. */
  requireFrom: boolean;
  incidents: IncidentStore;
  /** GET /oncalls. */
  oncalls?: (params: URLSearchParams) => Reply;
}

const BULK_LIMIT = 250;
const STATUSES = new Set<StandInIncidentStatus>(['triggered', 'acknowledged', 'resolved']);

/** PagerDuty's REST error envelope. */
export function restError(status: number, message: string, code: number, errors?: string[]): Reply {
  return { status, body: { error: { message, code, ...(errors ? { errors } : {}) } } };
}

function invalidInput(...errors: string[]): Reply {
  return restError(400, 'Invalid Input Provided', 2001, errors);
}

/**
 * REST API v2, the incident endpoints the bot uses: list (statuses[], limit, offset), get, and acknowledge or
 * resolve one incident or many at once (all-or-nothing). `Authorization: Token token=…` on every call.
 */
export class RestApi {
  constructor(private readonly opts: RestApiOptions) {}

  handle(call: PagerDutyRecordedCall, url: URL): Reply {
    const auth = call.headers.authorization ?? '';
    const given = auth.startsWith('Token token=') ? auth.slice('Token token='.length) : '';
    if (given === '' || (this.opts.token !== undefined && given !== this.opts.token)) {
      return restError(401, 'Authentication required', 2006);
    }
    // Accept: application/vnd.pagerduty+json;version=2 is recorded but, like PagerDuty on most endpoints, not enforced.
    const id = call.path.startsWith('/incidents/') ? decodeURIComponent(call.path.slice('/incidents/'.length)) : undefined;
    if (call.method === 'GET' && call.path === '/oncalls' && this.opts.oncalls) return this.opts.oncalls(url.searchParams);
    if (call.method === 'GET') {
      if (id === undefined) return this.listIncidents(url.searchParams);
      const found = this.opts.incidents.find(id);
      return found ? { status: 200, body: { incident: view(found) } } : restError(404, 'Not Found', 2100);
    }
    if (call.method !== 'PUT') return restError(405, 'Method Not Allowed', 2000);
    const from = call.headers.from ?? '';
    if (this.opts.requireFrom && !/^[^@\s]+@[^@\s]+$/.test(from)) {
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
    apply(checked.target, checked.status, from);
    return { status: 200, body: { incident: view(checked.target) } };
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
    for (const u of updates) apply(u.target, u.status, from);
    return { status: 200, body: { incidents: updates.map((u) => view(u.target)) } };
  }

  private checkUpdate(
    id: string,
    entry: object,
  ): { target: StandInIncident; status: StandInIncidentStatus } | { reply: Reply } {
    const { type, status } = entry as { type?: unknown; status?: unknown };
    if (type !== 'incident_reference' && type !== 'incident') {
      return { reply: invalidInput('Incident type must be incident_reference') };
    }
    const target = this.opts.incidents.find(id);
    if (!target) return { reply: restError(404, 'Not Found', 2100, [`Incident ${id} not found`]) };
    if (status !== 'acknowledged' && status !== 'resolved') {
      return { reply: invalidInput('Status must be acknowledged or resolved') };
    }
    if (target.status === 'resolved') return { reply: invalidInput('Incident Already Resolved') };
    return { target, status };
  }

  private listIncidents(params: URLSearchParams): Reply {
    const wanted = params.getAll('statuses[]').filter((s): s is StandInIncidentStatus => STATUSES.has(s as StandInIncidentStatus));
    const limit = clampInt(params.get('limit'), 25, 1, 100);
    const offset = clampInt(params.get('offset'), 0, 0, Number.MAX_SAFE_INTEGER);
    const matching = this.opts.incidents
      .all()
      .filter((i) => wanted.length === 0 || wanted.includes(i.status))
      .sort((a, b) => a.number - b.number);
    const page = matching.slice(offset, offset + limit);
    return {
      status: 200,
      body: {
        incidents: page.map((i) => view(i)),
        limit,
        offset,
        total: null,
        more: offset + page.length < matching.length,
      },
    };
  }
}

function apply(target: StandInIncident, status: StandInIncidentStatus, from: string): void {
  target.status = status;
  if (from) target.lastChangedBy = from;
}

/** The incident as the REST API renders it. */
function view(i: StandInIncident): Record<string, unknown> {
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

function clampInt(raw: string | null, fallback: number, min: number, max: number): number {
  const n = raw === null ? NaN : Number.parseInt(raw, 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}
