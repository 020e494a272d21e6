import type { Reply } from '../shared/reply.js';
import type { IncidentStore, StandInIncident, StandInIncidentStatus } from './incidents.js';
import type { PagerDutyRecordedCall } from './recorder.js';
import { API_BASE, HTML_BASE, priorityReference, userReference } from './references.js';

/** A user of the account, as GET /users finds them and assignments name them. */
export interface StandInUser {
  id: string;
  name: string;
  email: string;
}

/** What a REST write changed, so the stand-in can send the webhooks PagerDuty would. */
export type RestChange =
  /** An incident an Events API trigger opened. */
  | { kind: 'triggered'; incident: StandInIncident; from: string }
  | { kind: 'status'; incident: StandInIncident; status: 'acknowledged' | 'resolved'; from: string }
  | { kind: 'reassigned'; incident: StandInIncident; from: string }
  | { kind: 'priority'; incident: StandInIncident; from: string }
  | { kind: 'note'; incident: StandInIncident; noteId: string; content: string; from: string };

export interface RestApiOptions {
  /** The API key demanded; none: any non-empty `Token token=…`. */
  token: string | undefined;
  /** Whether writes need a `From` header with the acting user's email, as PagerDuty's do. */
  requireFrom: boolean;
  incidents: IncidentStore;
  /** GET /oncalls. */
  oncalls?: (params: URLSearchParams) => Reply;
  /** The account's users (GET /users, assignments). */
  users?: () => readonly StandInUser[];
  /** Called after a write was applied, before it is answered. */
  onChange?: (change: RestChange) => void;
}

const BULK_LIMIT = 250;
const STATUSES = new Set<StandInIncidentStatus>(['triggered', 'acknowledged', 'resolved']);
/** The account's priorities, as a default PagerDuty account has them. */
export const PRIORITY_NAMES = ['P1', 'P2', 'P3', 'P4', 'P5'] as const;
const NOTE_MAX = 25_000;

/** PagerDuty's REST error envelope. */
export function restError(status: number, message: string, code: number, errors?: string[]): Reply {
  return { status, body: { error: { message, code, ...(errors ? { errors } : {}) } } };
}

function invalidInput(...errors: string[]): Reply {
  return restError(400, 'Invalid Input Provided', 2001, errors);
}

/** The changes one incident entry of a PUT asks for, checked. */
interface CheckedUpdate {
  target: StandInIncident;
  status?: 'acknowledged' | 'resolved';
  assignees?: StandInUser[];
  priority?: string;
}

/**
 * REST API v2, the endpoints the bot uses: incidents (list with statuses[], limit, offset; get; update one
 * or many at once, all-or-nothing: status, assignments, priority), notes (POST), priorities and users
 * (`query` matches name or e-mail). `Authorization: Token token=…` on every call; writes need `From`.
 */
export class RestApi {
  private notes = 0;

  constructor(private readonly opts: RestApiOptions) {}

  handle(call: PagerDutyRecordedCall, url: URL): Reply {
    const auth = call.headers.authorization ?? '';
    const given = auth.startsWith('Token token=') ? auth.slice('Token token='.length) : '';
    if (given === '' || (this.opts.token !== undefined && given !== this.opts.token)) {
      return restError(401, 'Authentication required', 2006);
    }
    // Accept: application/vnd.pagerduty+json;version=2 is recorded but, like PagerDuty on most endpoints, not enforced.
    const rest = call.path.startsWith('/incidents/') ? call.path.slice('/incidents/'.length) : undefined;
    const notesPath = rest?.endsWith('/notes') ? decodeURIComponent(rest.slice(0, -'/notes'.length)) : undefined;
    const id = rest !== undefined && notesPath === undefined ? decodeURIComponent(rest) : undefined;
    if (call.method === 'GET' && call.path === '/oncalls' && this.opts.oncalls) return this.opts.oncalls(url.searchParams);
    if (call.method === 'GET' && call.path === '/priorities') return this.listPriorities();
    if (call.method === 'GET' && call.path === '/users') return this.listUsers(url.searchParams);
    if (call.method === 'GET' && notesPath === undefined) {
      if (id === undefined) return this.listIncidents(url.searchParams);
      const found = this.opts.incidents.find(id);
      return found ? { status: 200, body: { incident: view(found) } } : restError(404, 'Not Found', 2100);
    }
    const writes = notesPath !== undefined ? 'POST' : 'PUT';
    if (call.method !== writes) return restError(405, 'Method Not Allowed', 2000);
    const from = call.headers.from ?? '';
    if (this.opts.requireFrom && !/^[^@\s]+@[^@\s]+$/.test(from)) {
      return invalidInput('Requester User Not Found');
    }
    if (typeof call.body !== 'object' || call.body === null) return invalidInput('Request body is not valid JSON');
    if (notesPath !== undefined) return this.addNote(notesPath, call.body, from);
    return id === undefined ? this.bulkUpdate(call.body, from) : this.updateOne(id, call.body, from);
  }

  private updateOne(id: string, body: object, from: string): Reply {
    const incident = (body as { incident?: unknown }).incident;
    if (typeof incident !== 'object' || incident === null) return invalidInput('Incident must be an object');
    const checked = this.checkUpdate(id, incident);
    if ('reply' in checked) return checked.reply;
    this.apply(checked, from);
    return { status: 200, body: { incident: view(checked.target) } };
  }

  /** All-or-nothing: every entry is checked before any is applied. */
  private bulkUpdate(body: object, from: string): Reply {
    const list = (body as { incidents?: unknown }).incidents;
    if (!Array.isArray(list) || list.length === 0) return invalidInput('Incidents must be a non-empty array');
    if (list.length > BULK_LIMIT) return invalidInput(`Incidents must contain at most ${BULK_LIMIT} entries`);
    const updates: CheckedUpdate[] = [];
    for (const entry of list as unknown[]) {
      if (typeof entry !== 'object' || entry === null) return invalidInput('Incident must be an object');
      const id = (entry as { id?: unknown }).id;
      if (typeof id !== 'string') return invalidInput('Incident id is required');
      const checked = this.checkUpdate(id, entry);
      if ('reply' in checked) return checked.reply;
      updates.push(checked);
    }
    for (const u of updates) this.apply(u, from);
    return { status: 200, body: { incidents: updates.map((u) => view(u.target)) } };
  }

  private checkUpdate(id: string, entry: object): CheckedUpdate | { reply: Reply } {
    const { type, status, assignments, priority } = entry as { type?: unknown; status?: unknown; assignments?: unknown; priority?: unknown };
    if (type !== 'incident_reference' && type !== 'incident') {
      return { reply: invalidInput('Incident type must be incident_reference') };
    }
    const target = this.opts.incidents.find(id);
    if (!target) return { reply: restError(404, 'Not Found', 2100, [`Incident ${id} not found`]) };
    if (status === undefined && assignments === undefined && priority === undefined) {
      return { reply: invalidInput('Nothing to update: give status, assignments or priority') };
    }
    if (status !== undefined && status !== 'acknowledged' && status !== 'resolved') {
      return { reply: invalidInput('Status must be acknowledged or resolved') };
    }
    if (target.status === 'resolved') return { reply: invalidInput('Incident Already Resolved') };
    const checked: CheckedUpdate = { target, ...(status !== undefined ? { status } : {}) };
    if (assignments !== undefined) {
      if (!Array.isArray(assignments) || assignments.length === 0) return { reply: invalidInput('Assignments must be a non-empty array') };
      const users: StandInUser[] = [];
      for (const a of assignments as unknown[]) {
        const assignee = (a as { assignee?: { id?: unknown; type?: unknown } } | null)?.assignee;
        if (assignee?.type !== 'user_reference' || typeof assignee.id !== 'string') return { reply: invalidInput('Assignee must be a user_reference') };
        const user = (this.opts.users?.() ?? []).find((u) => u.id === assignee.id);
        if (!user) return { reply: invalidInput(`Assignee ${assignee.id} not found`) };
        users.push(user);
      }
      checked.assignees = users;
    }
    if (priority !== undefined) {
      const ref: Record<string, unknown> = typeof priority === 'object' && priority !== null ? { ...priority } : {};
      const name = PRIORITY_NAMES.find((n) => priorityReference(n).id === ref.id);
      if (ref.type !== 'priority_reference' || !name) return { reply: invalidInput('Priority not found') };
      checked.priority = name;
    }
    return checked;
  }

  private apply(u: CheckedUpdate, from: string): void {
    const { target } = u;
    if (u.status) {
      target.status = u.status;
      if (from) target.lastChangedBy = from;
      // PagerDuty clears assignments when an incident resolves.
      if (u.status === 'resolved') target.assignees = [];
      this.opts.onChange?.({ kind: 'status', incident: target, status: u.status, from });
    }
    if (u.assignees) {
      target.assignees = u.assignees.map((a) => ({ id: a.id, summary: a.name }));
      this.opts.onChange?.({ kind: 'reassigned', incident: target, from });
    }
    if (u.priority && u.priority !== target.priority) {
      target.priority = u.priority;
      this.opts.onChange?.({ kind: 'priority', incident: target, from });
    }
  }

  /** POST /incidents/{id}/notes: `{note: {content}}`, answered 201 with the note. */
  private addNote(id: string, body: object, from: string): Reply {
    const target = this.opts.incidents.find(id);
    if (!target) return restError(404, 'Not Found', 2100, [`Incident ${id} not found`]);
    const content = (body as { note?: { content?: unknown } }).note?.content;
    if (typeof content !== 'string' || content.trim().length === 0) return invalidInput('Note content is required');
    if (content.length > NOTE_MAX) return invalidInput(`Note content must be at most ${NOTE_MAX} characters`);
    const noteId = `PNOTE${String(++this.notes).padStart(4, '0')}`;
    target.notes.push({ id: noteId, content, from });
    this.opts.onChange?.({ kind: 'note', incident: target, noteId, content, from });
    const user = (this.opts.users?.() ?? []).find((u) => u.email === from);
    return {
      status: 201,
      body: { note: { id: noteId, content, created_at: new Date().toISOString(), user: user ? userReference({ id: user.id, summary: user.name }) : null, channel: { summary: 'The PagerDuty website or APIs' } } },
    };
  }

  private listPriorities(): Reply {
    const priorities = PRIORITY_NAMES.map((name) => ({ ...priorityReference(name), type: 'priority', name, description: `${name} incidents` }));
    return { status: 200, body: { priorities, limit: 25, offset: 0, more: false, total: null } };
  }

  /** GET /users?query=: name or e-mail containing the query, case-insensitive, as PagerDuty matches. */
  private listUsers(params: URLSearchParams): Reply {
    const query = (params.get('query') ?? '').toLowerCase();
    const users = (this.opts.users?.() ?? []).filter((u) => query === '' || u.email.toLowerCase().includes(query) || u.name.toLowerCase().includes(query));
    return {
      status: 200,
      body: {
        users: users.map((u) => ({ id: u.id, type: 'user', name: u.name, summary: u.name, email: u.email, self: `${API_BASE}/users/${u.id}`, html_url: `${HTML_BASE}/users/${u.id}` })),
        limit: 25,
        offset: 0,
        more: false,
        total: null,
      },
    };
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
    assignments: i.assignees.map((a) => ({ assignee: userReference(a) })),
  };
}

function clampInt(raw: string | null, fallback: number, min: number, max: number): number {
  const n = raw === null ? NaN : Number.parseInt(raw, 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}
