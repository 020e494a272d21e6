import { createHash } from 'node:crypto';
import type { Reply } from '../shared/reply.js';
import type { IncidentStore, StandInIncident } from './incidents.js';
import type { PagerDutyRecordedCall } from './recorder.js';

const ROUTING_KEY_LENGTH = 32;
const DEDUP_KEY_MAX = 255;
const SUMMARY_MAX = 1024;
const SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);
const EVENT_ACTIONS = new Set(['trigger', 'acknowledge', 'resolve']);

function invalidEvent(...errors: string[]): Reply {
  return { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors } };
}

/**
 * Events API v2 at `/v2/enqueue`: validates events as PagerDuty does (202 with the dedup key, or 400 with
 * the reasons) and lets them drive incidents as alerts do.
 */
export class EventsApi {
  private generated = 0;

  constructor(
    private readonly incidents: IncidentStore,
    /** Called with an incident a trigger opened. */
    private readonly onOpened?: (incident: StandInIncident) => void,
  ) {}

  handle(call: PagerDutyRecordedCall): Reply {
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
    this.apply(action as string, key, e.payload as { summary: string; severity: string } | undefined);
    return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: key } };
  }

  private generatedKey(): string {
    return createHash('sha256').update(`standin-dedup-${++this.generated}`).digest('hex').slice(0, 32);
  }

  /** A trigger opens one incident per dedup_key; acknowledge and resolve move the open one. */
  private apply(action: string, key: string, payload: { summary: string; severity: string } | undefined): void {
    const open = this.incidents.openWithKey(key);
    if (action === 'trigger') {
      if (open || !payload) return;
      const number = this.incidents.nextNumber;
      const opened = this.incidents.add({
        id: `QSTANDIN${String(number).padStart(6, '0')}`,
        number,
        title: payload.summary,
        urgency: payload.severity === 'critical' || payload.severity === 'error' ? 'high' : 'low',
        incident_key: key,
      });
      const stored = this.incidents.find(opened.id);
      if (stored) this.onOpened?.(stored);
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
