/**
 * Webhooks v3 bodies as PagerDuty sends them: the `{ event: { id, event_type, resource_type, occurred_at,
 * agent, client, data } }` envelope with every field of the incident or note filled in realistically.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncidentData } from '../../src/pagerduty/webhook-schema.js';
import { API_BASE, HTML_BASE, priorityReference, userReference } from './references.js';

export interface EventOptions {
  /** event.id; PagerDuty's are ULIDs. Default: a fresh one. */
  eventId?: string;
  /** event.occurred_at (ISO 8601). Default: now. */
  occurredAt?: string;
  /** Who acted; null for PagerDuty's own actions (e.g. a trigger from an integration). Default: a stand-in user. */
  agent?: { id: string; summary: string } | null;
}

/** Incident fields for the builders; `priority` also takes a bare name such as 'P1'. */
export type IncidentInput = Omit<Partial<IncidentData>, 'priority'> & {
  id: string;
  number: number;
  priority?: IncidentData['priority'] | string;
};

const DEFAULT_AGENT = { id: 'PLH1HKV', summary: 'Tenex Engineer' };
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID-shaped id (48-bit time + 80 random bits, Crockford base32), like PagerDuty's event ids. */
function ulid(timeMs: number): string {
  let out = '';
  let t = timeMs;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD.charAt(t % 32) + out;
    t = Math.floor(t / 32);
  }
  for (const byte of randomBytes(16)) out += CROCKFORD.charAt(byte % 32);
  return out.slice(0, 26);
}

function envelope(
  eventType: string,
  resourceType: string,
  data: unknown,
  opts: EventOptions,
): { event: Record<string, unknown> } {
  const occurredAt = opts.occurredAt ?? new Date().toISOString();
  const agent = opts.agent === undefined ? DEFAULT_AGENT : opts.agent;
  return {
    event: {
      id: opts.eventId ?? ulid(Date.parse(occurredAt) || Date.now()),
      event_type: eventType,
      resource_type: resourceType,
      occurred_at: occurredAt,
      agent: agent === null ? null : userReference(agent),
      client: null,
      data,
    },
  };
}

/** The status an incident has right after an event of this type, unless the caller says otherwise. */
function statusAfter(eventType: string): IncidentData['status'] {
  if (eventType === 'incident.acknowledged') return 'acknowledged';
  if (eventType === 'incident.resolved') return 'resolved';
  return 'triggered';
}

/** A full incident.* Webhooks v3 body, with every field PagerDuty sends filled in. */
export function buildIncidentEvent(eventType: string, incident: IncidentInput, opts: EventOptions = {}): object {
  const status = incident.status ?? statusAfter(eventType);
  const occurredAt = opts.occurredAt ?? new Date().toISOString();
  const priority =
    typeof incident.priority === 'string' ? priorityReference(incident.priority) : (incident.priority ?? null);
  const data = {
    id: incident.id,
    type: 'incident',
    self: `${API_BASE}/incidents/${incident.id}`,
    html_url: `${HTML_BASE}/incidents/${incident.id}`,
    number: incident.number,
    status,
    incident_key: incident.incident_key ?? createHash('sha256').update(incident.id).digest('hex').slice(0, 32),
    created_at: incident.created_at ?? occurredAt,
    title: incident.title ?? `Incident #${incident.number}`,
    service: incident.service ?? {
      html_url: `${HTML_BASE}/services/PF9KMXH`,
      id: 'PF9KMXH',
      self: `${API_BASE}/services/PF9KMXH`,
      summary: 'API Service',
      type: 'service_reference',
    },
    // PagerDuty clears assignments when an incident resolves.
    assignees: incident.assignees ?? (status === 'resolved' ? [] : [userReference({ id: 'PTUXL6G', summary: 'User 123' })]),
    escalation_policy: incident.escalation_policy ?? {
      html_url: `${HTML_BASE}/escalation_policies/PUS0KTE`,
      id: 'PUS0KTE',
      self: `${API_BASE}/escalation_policies/PUS0KTE`,
      summary: 'Default',
      type: 'escalation_policy_reference',
    },
    teams: incident.teams ?? [
      {
        html_url: `${HTML_BASE}/teams/PFCVPS0`,
        id: 'PFCVPS0',
        self: `${API_BASE}/teams/PFCVPS0`,
        summary: 'Engineering',
        type: 'team_reference',
      },
    ],
    priority,
    urgency: incident.urgency ?? 'high',
    conference_bridge: incident.conference_bridge ?? null,
    resolve_reason: incident.resolve_reason ?? null,
  };
  return envelope(eventType, 'incident', data, { ...opts, occurredAt });
}

/** What PagerDuty sends when a subscription is tested from its UI or API. */
export function buildPingEvent(opts: EventOptions = {}): object {
  return envelope('pagey.ping', 'pagey', { message: 'Hello from your friend Pagey!', type: 'ping' }, { agent: null, ...opts });
}

/** incident.annotated: `data` is the note, referencing its incident. */
export function buildAnnotatedEvent(incidentId: string, content: string, opts: EventOptions & { noteId?: string } = {}): object {
  const noteId = opts.noteId ?? `PN${createHash('sha256').update(`${incidentId}:${content}`).digest('hex').slice(0, 5).toUpperCase()}`;
  const data = {
    incident: {
      html_url: `${HTML_BASE}/incidents/${incidentId}`,
      id: incidentId,
      self: `${API_BASE}/incidents/${incidentId}`,
      type: 'incident_reference',
    },
    id: noteId,
    content,
    trimmed: false,
    type: 'incident_note',
  };
  return envelope('incident.annotated', 'incident', data, opts);
}
