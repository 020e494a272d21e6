/**
 * Zod schemas for PagerDuty Webhooks v3 bodies: `{"event": {id, event_type, resource_type, occurred_at,
 * agent, client, data}}`. Lenient where PagerDuty is (optional links, extra fields kept, references whose
 * details vary), strict on the values the bot acts on (incident id, number, status, title, urgency).
 */
import { z } from 'zod';

/** Incident event types a v3 subscription can deliver (plus `pagey.ping`, sent when testing a subscription). */
export const INCIDENT_EVENT_TYPES = [
  'incident.triggered',
  'incident.acknowledged',
  'incident.unacknowledged',
  'incident.resolved',
  'incident.reopened',
  'incident.escalated',
  'incident.reassigned',
  'incident.delegated',
  'incident.priority_updated',
  'incident.annotated',
  'incident.responder.added',
  'incident.responder.replied',
  'incident.status_update_published',
] as const;
export type IncidentEventType = (typeof INCIDENT_EVENT_TYPES)[number];
export const PING_EVENT_TYPE = 'pagey.ping';

const isoTimestamp = z.iso.datetime({ offset: true });

/** `{id, summary, type: '…_reference', self, html_url}`; PagerDuty sends null links on some references. */
export const referenceSchema = z.looseObject({
  id: z.string().min(1),
  type: z.string(),
  summary: z.string().optional(),
  self: z.string().nullable().optional(),
  html_url: z.string().nullable().optional(),
});
export type PagerDutyReference = z.infer<typeof referenceSchema>;

/** Who did it: usually a user_reference, but automated actions carry a service or integration reference. */
export const agentSchema = referenceSchema;

export const priorityReferenceSchema = referenceSchema.extend({
  /** The priority's name as configured on the account: P1…P5 by default, but accounts can rename them. */
  summary: z.string(),
});

export const incidentStatusSchema = z.enum(['triggered', 'acknowledged', 'resolved']);
export type IncidentStatus = z.infer<typeof incidentStatusSchema>;

export const incidentDataSchema = z.looseObject({
  id: z.string().min(1),
  type: z.literal('incident'),
  self: z.string().optional(),
  html_url: z.string().optional(),
  number: z.number().int().positive(),
  status: incidentStatusSchema,
  incident_key: z.string().nullable().optional(),
  created_at: isoTimestamp.optional(),
  title: z.string(),
  service: referenceSchema.optional(),
  assignees: z.array(referenceSchema).default([]),
  escalation_policy: referenceSchema.optional(),
  teams: z.array(referenceSchema).default([]),
  priority: priorityReferenceSchema.nullable().optional(),
  urgency: z.enum(['high', 'low']),
  conference_bridge: z
    .looseObject({
      conference_number: z.union([z.string(), z.number()]).nullable().optional(),
      conference_url: z.string().nullable().optional(),
    })
    .nullable()
    .optional(),
  /** e.g. `{type: 'merge_resolve_reason', incident: {…}}` when resolved by a merge; null otherwise. */
  resolve_reason: z.looseObject({ type: z.string() }).nullable().optional(),
});
export type IncidentData = z.infer<typeof incidentDataSchema>;

/**
 * `data` of `incident.annotated`: the note. PagerDuty's deliveries reference the incident as
 * `incident: {id, type: 'incident_reference', …}`; `trigger_object` is accepted too. At least one is
 * required, and the parsed note carries the id as `incident_id` whichever one it came from.
 */
export const incidentNoteSchema = z
  .looseObject({
    id: z.string().min(1),
    type: z.literal('incident_note'),
    content: z.string(),
    trimmed: z.boolean().optional(),
    incident: referenceSchema.optional(),
    trigger_object: referenceSchema.optional(),
  })
  .refine((note) => note.incident !== undefined || note.trigger_object !== undefined, {
    message: 'an incident note must reference its incident (incident or trigger_object)',
  })
  .transform((note) => ({ ...note, incident_id: (note.incident ?? note.trigger_object)?.id ?? '' }));
export type IncidentNote = z.infer<typeof incidentNoteSchema>;

export const webhookEnvelopeSchema = z.object({
  event: z.looseObject({
    id: z.string().min(1),
    event_type: z.string().min(1),
    resource_type: z.string(),
    occurred_at: isoTimestamp,
    agent: agentSchema.nullable().optional(),
    client: z.unknown().optional(),
    /** Shape depends on event_type: parse with incidentDataSchema / incidentNoteSchema. */
    data: z.unknown(),
  }),
});
export type WebhookEnvelope = z.infer<typeof webhookEnvelopeSchema>;
