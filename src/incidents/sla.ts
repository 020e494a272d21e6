/**
 * Acknowledgement SLA of SOP-MON-001: deadline and reminder time per alert, outcome, and display.
 * Pure functions: every instant is a parameter, nothing reads the system clock.
 */
import type { Priority, SlaPolicy } from '../config/sla-schema.js';
import type { BusinessCalendar } from './business-calendar.js';

export type SlaOutcome = 'met' | 'breached';

/** The usual PagerDuty urgency mapping, for callers that have no configured one. */
export const DEFAULT_URGENCY_MAP: Readonly<Record<string, Priority>> = Object.freeze({ high: 'P2', low: 'P4' });

/** Priority used when neither the priority summary nor the urgency tells us anything: err on the urgent side. */
export const FALLBACK_PRIORITY: Priority = 'P2';

/**
 * When the alert must be acknowledged, and when to post the reminder.
 *
 * - Duration windows: deadline = triggeredAt + window.
 * - `next-business-day`: deadline = calendar.nextBusinessDayEnd(triggeredAt) (end of business hours on the
 *   next business day after the alert's local date; see BusinessCalendar).
 * - warnAt = triggeredAt + policy.warnAt × (deadline − triggeredAt), kept at millisecond precision
 *   (rounded to the nearest millisecond, not to the second), so 0.8 of 5 min is exactly 4 min.
 */
export function slaTimes(
  policy: SlaPolicy,
  calendar: BusinessCalendar,
  priority: Priority,
  triggeredAt: Date,
): { deadline: Date; warnAt: Date } {
  const start = triggeredAt.getTime();
  if (Number.isNaN(start)) throw new RangeError('slaTimes: triggeredAt is an invalid Date');
  if (!(policy.warnAt > 0 && policy.warnAt < 1)) {
    throw new RangeError(`slaTimes: policy.warnAt must be between 0 and 1 (got ${policy.warnAt})`);
  }
  const window = policy.windows[priority];
  const deadline =
    window.kind === 'duration' ? new Date(start + window.ms) : calendar.nextBusinessDayEnd(triggeredAt);
  const span = deadline.getTime() - start;
  return { deadline, warnAt: new Date(start + Math.round(policy.warnAt * span)) };
}

/** 'met' when acknowledged at or before the deadline (the deadline instant itself counts as met). */
export function slaOutcome(deadline: Date, acknowledgedAt: Date): SlaOutcome {
  return acknowledgedAt.getTime() <= deadline.getTime() ? 'met' : 'breached';
}

const UNITS = [
  { label: 'd', seconds: 86_400 },
  { label: 'h', seconds: 3_600 },
  { label: 'min', seconds: 60 },
  { label: 's', seconds: 1 },
] as const;

/**
 * Time left as the two largest non-zero units: "42 s", "4 min 12 s", "1 h 5 min", "2 d 3 h", "5 min";
 * smaller units are dropped. Time left is rounded down to the second (never promise more time than there
 * is), overdue time rounded up ("overdue by 1 s" for −1 ms, "overdue by 3 min" for −180 000 ms).
 * 0 (and anything under a second left) is "0 s".
 */
export function formatRemaining(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`formatRemaining: not a finite number of milliseconds (${ms})`);
  if (ms < 0) return `overdue by ${formatSeconds(Math.ceil(-ms / 1000))}`;
  return formatSeconds(Math.floor(ms / 1000));
}

function formatSeconds(total: number): string {
  const parts: string[] = [];
  let rest = total;
  for (const unit of UNITS) {
    const amount = Math.floor(rest / unit.seconds);
    rest -= amount * unit.seconds;
    if (parts.length > 0) {
      // Second unit: always the one right below the first, shown only when non-zero ("1 h", not "1 h 0 min").
      if (amount > 0) parts.push(`${amount} ${unit.label}`);
      break;
    }
    if (amount > 0) parts.push(`${amount} ${unit.label}`);
  }
  return parts.length > 0 ? parts.join(' ') : '0 s';
}

const LEADING_PRIORITY = /^\s*p([1-5])(?!\d)/i;

/**
 * The SLA priority of a PagerDuty incident.
 *
 * 1. The priority summary/name wins when it starts with P1…P5, case-insensitively: "P1", "p2",
 *    "P1 - Critical" (but not "P10" or "SEV-1").
 * 2. Otherwise the urgency ("high"/"low", trimmed, case-insensitive) through `urgencyMap`, typically
 *    DEFAULT_URGENCY_MAP (high → P2, low → P4) or the operator's mapping.
 * 3. Otherwise (no priority, unknown or missing urgency) FALLBACK_PRIORITY, P2: an alert we cannot
 *    classify is treated as urgent rather than left to wait for the next business day.
 */
export function priorityFromIncident(
  priorityName: string | null | undefined,
  urgency: string | null | undefined,
  urgencyMap: Record<string, Priority>,
): Priority {
  const match = priorityName ? LEADING_PRIORITY.exec(priorityName) : null;
  if (match) return `P${match[1]}` as Priority;
  if (urgency) {
    const key = urgency.trim();
    for (const candidate of [key, key.toLowerCase()]) {
      if (Object.hasOwn(urgencyMap, candidate)) {
        const mapped = urgencyMap[candidate];
        if (mapped !== undefined) return mapped;
      }
    }
  }
  return FALLBACK_PRIORITY;
}
