import { incidentDataSchema, incidentNoteSchema, type WebhookEnvelope } from './webhook-schema.js';
import type { IncidentEvent } from '../incidents/events.js';

export type MappedEvent = { ok: true; event: IncidentEvent } | { ok: false; reason: string };

function firstIssue(error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> }, prefix: string): string {
  const issue = error.issues[0];
  if (!issue) return `${prefix} is invalid`;
  const path = issue.path.map(String).join('.');
  return `${prefix}${path ? `.${path}` : ''}: ${issue.message}`;
}

/** Turns a verified v3 envelope into the incident domain's event; unknown resources pass through as ignorable. */
export function toIncidentEvent(envelope: WebhookEnvelope): MappedEvent {
  const { event } = envelope;
  const base = {
    eventId: event.id,
    type: event.event_type,
    occurredAt: Date.parse(event.occurred_at),
    agentName: event.agent?.summary ?? null,
  };
  if (event.event_type === 'incident.annotated') {
    const note = incidentNoteSchema.safeParse(event.data);
    if (!note.success) return { ok: false, reason: firstIssue(note.error, 'event.data') };
    return { ok: true, event: { ...base, incidentId: note.data.incident_id, note: note.data.content } };
  }
  if (event.resource_type !== 'incident' || !event.event_type.startsWith('incident.')) {
    return { ok: true, event: { ...base, incidentId: null } };
  }
  const data = incidentDataSchema.safeParse(event.data);
  if (!data.success) return { ok: false, reason: firstIssue(data.error, 'event.data') };
  const d = data.data;
  const createdAt = d.created_at ? Date.parse(d.created_at) : base.occurredAt;
  return {
    ok: true,
    event: {
      ...base,
      incidentId: d.id,
      incident: {
        id: d.id,
        number: d.number,
        title: d.title,
        status: d.status,
        priorityName: d.priority?.summary ?? null,
        urgency: d.urgency,
        service: d.service?.summary ?? null,
        htmlUrl: d.html_url ?? null,
        assignees: d.assignees.map((a) => a.summary ?? a.id),
        createdAt,
        incidentKey: d.incident_key ?? null,
      },
    },
  };
}
