/** Where an incident stands; PagerDuty's three states. */
export type IncidentStatus = 'triggered' | 'acknowledged' | 'resolved';

/**
 * The one PagerDuty event type the incident domain works with: a verified webhook delivery, normalised
 * (src/pagerduty/webhook-events.ts maps the wire format to it). Stored as JSON in the webhook inbox.
 */
export interface IncidentSnapshot {
  id: string;
  number: number;
  title: string;
  status: IncidentStatus;
  priorityName: string | null;
  urgency: string | null;
  service: string | null;
  htmlUrl: string | null;
  assignees: string[];
  createdAt: number;
  /** PagerDuty's incident key (an Events API alert's dedup key); absent in events stored by older versions. */
  incidentKey?: string | null;
}

/** The dedup key prefix of Waygate's own "service down" alert: such an incident is a P1, whatever the urgency. */
export const SERVICE_DOWN_KEY_PREFIX = 'waygate-mcp-down:';

export interface IncidentEvent {
  eventId: string;
  type: string;
  occurredAt: number;
  /** Who did it in PagerDuty (a user's name), when known. */
  agentName: string | null;
  incidentId: string | null;
  incident?: IncidentSnapshot;
  /** The text of an `incident.annotated` note. */
  note?: string;
}

export type ApplyResult = 'applied' | 'stale' | 'ignored';
