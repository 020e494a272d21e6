/**
 * Config schemas for the acknowledgement SLA of SOP-MON-001 and the business hours it is measured against.
 *
 * Meant to be merged into the YAML file schema (src/config/schema.ts), e.g.
 *
 *   sla: slaSchema.prefault({}),
 *   businessHours: businessHoursSchema.prefault({}),
 *
 * Use `.prefault({})` rather than `.default(…)`: zod 4's `.default()` returns its value as the *output*
 * without parsing it, so `.prefault({})` is what fills in the per-field defaults below when the whole
 * section is absent.
 *
 * Every message is a single line and, where the bad value is a short scalar, ends with `(got …)` so the
 * loader does not echo it a second time (it prints `config <file>: <path> <message>`).
 */
import { DateTime } from 'luxon';
import { z } from 'zod';
import { truncate } from '../core/text.js';
import { parseDuration } from './duration.js';

export const priorityNames = ['P1', 'P2', 'P3', 'P4', 'P5'] as const;
export type Priority = (typeof priorityNames)[number];

export const weekdayNames = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof weekdayNames)[number];

/** How long an alert of one priority may stay unacknowledged. */
export type SlaWindow = { kind: 'duration'; ms: number } | { kind: 'next-business-day' };

export interface SlaPolicy {
  windows: Record<Priority, SlaWindow>;
  /** Fraction of the window (0 < warnAt < 1) after which a reminder is posted. */
  warnAt: number;
}

export interface BusinessHours {
  /** Business weekdays, unique, at least one. */
  days: Weekday[];
  /** Opening time, zero-padded 24 h "HH:MM" local to the configured timezone. */
  start: string;
  /** Closing time, "HH:MM", strictly after `start` on the same day. */
  end: string;
  /** Calendar dates ("YYYY-MM-DD", local) that are not business days even when their weekday is. */
  holidays: string[];
}

const NEXT_BUSINESS_DAY = 'next-business-day';

/** SOP-MON-001: P1 5 min, P2 15 min, P3 1 h, P4 next business day; P5 (not in the SOP) like P4. */
export const DEFAULT_SLA_WINDOWS: Readonly<Record<Priority, SlaWindow>> = Object.freeze({
  P1: Object.freeze({ kind: 'duration', ms: 5 * 60_000 }),
  P2: Object.freeze({ kind: 'duration', ms: 15 * 60_000 }),
  P3: Object.freeze({ kind: 'duration', ms: 60 * 60_000 }),
  P4: Object.freeze({ kind: NEXT_BUSINESS_DAY }),
  P5: Object.freeze({ kind: NEXT_BUSINESS_DAY }),
});
export const DEFAULT_WARN_AT = 0.8;

const DEFAULT_DAYS: readonly Weekday[] = Object.freeze(['mon', 'tue', 'wed', 'thu', 'fri']);

/** Mon–Fri 09:00–17:00, no holidays. Frozen: copy before changing. */
export const DEFAULT_BUSINESS_HOURS: {
  readonly days: readonly Weekday[];
  readonly start: string;
  readonly end: string;
  readonly holidays: readonly string[];
} = Object.freeze({ days: DEFAULT_DAYS, start: '09:00', end: '17:00', holidays: Object.freeze([]) });

/** ` (got "5 minutes")` for short scalars; a short description for anything else. Always one line. */
function got(input: unknown): string {
  if (typeof input === 'string') {
    return ` (got ${JSON.stringify(truncate(input, 80, { ellipsis: '...' }))})`;
  }
  if (typeof input === 'number' || typeof input === 'boolean') return ` (got ${String(input)})`;
  if (input === null) return ' (got null)';
  if (input === undefined) return ' (got nothing)';
  if (Array.isArray(input)) return ' (got a list)';
  return ` (got ${typeof input === 'object' ? 'a mapping' : typeof input})`;
}

// ---------------------------------------------------------------------------------------------------------
// SLA windows and policy

const WINDOW_FORMS = `a duration such as 30s, 5m, 1h or 2d, or ${NEXT_BUSINESS_DAY}`;

/** `5m` → `{ kind: 'duration', ms: 300000 }`; `next-business-day` → `{ kind: 'next-business-day' }`. */
export const slaWindowSchema = z
  .string({ error: (issue) => `must be ${WINDOW_FORMS}${got(issue.input)}` })
  .transform((text, ctx): SlaWindow => {
    if (text.trim() === NEXT_BUSINESS_DAY) return { kind: NEXT_BUSINESS_DAY };
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `must be ${WINDOW_FORMS}${got(text)}` });
      return z.NEVER;
    }
    if (ms <= 0) {
      ctx.addIssue({ code: 'custom', message: `must be a duration longer than zero, or ${NEXT_BUSINESS_DAY}${got(text)}` });
      return z.NEVER;
    }
    return { kind: 'duration', ms };
  });

const warnAtSchema = z
  .number({ error: (issue) => `must be a number between 0 and 1 (exclusive), e.g. 0.8${got(issue.input)}` })
  .refine((n) => n > 0 && n < 1, {
    error: (issue) => `must be greater than 0 and less than 1, e.g. 0.8 for 80 % of the window${got(issue.input)}`,
  })
  .default(DEFAULT_WARN_AT);

const objectError = (example: string) => (issue: { code: string; input?: unknown }) =>
  issue.code === 'invalid_type' ? `must be a mapping such as ${example}${got(issue.input)}` : undefined;

export const slaSchema = z
  .object(
    {
      P1: slaWindowSchema.optional(),
      P2: slaWindowSchema.optional(),
      P3: slaWindowSchema.optional(),
      P4: slaWindowSchema.optional(),
      P5: slaWindowSchema.optional(),
      warnAt: warnAtSchema,
    },
    { error: objectError(`{ P1: 5m, P4: ${NEXT_BUSINESS_DAY}, warnAt: 0.8 }`) },
  )
  .strict()
  .transform(
    (raw): SlaPolicy => ({
      windows: {
        P1: raw.P1 ?? DEFAULT_SLA_WINDOWS.P1,
        P2: raw.P2 ?? DEFAULT_SLA_WINDOWS.P2,
        P3: raw.P3 ?? DEFAULT_SLA_WINDOWS.P3,
        P4: raw.P4 ?? DEFAULT_SLA_WINDOWS.P4,
        P5: raw.P5 ?? DEFAULT_SLA_WINDOWS.P5,
      },
      warnAt: raw.warnAt,
    }),
  );

// ---------------------------------------------------------------------------------------------------------
// Business hours

const TIME = /^(\d{1,2}):(\d{2})$/;

/** Minutes after midnight for "H:MM"/"HH:MM" (00:00–23:59), undefined otherwise. */
export function parseTimeOfDay(text: string): number | undefined {
  const match = TIME.exec(text.trim());
  if (!match) return undefined;
  const hour = Number(match[1]);
  const minute = Number(match[2]);
  if (hour > 23 || minute > 59) return undefined;
  return hour * 60 + minute;
}

function formatTimeOfDay(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

const timeOfDaySchema = z
  .string({ error: (issue) => `must be a 24-hour time "HH:MM" such as "09:00"${got(issue.input)}` })
  .transform((text, ctx) => {
    const minutes = parseTimeOfDay(text);
    if (minutes === undefined) {
      ctx.addIssue({ code: 'custom', message: `must be a 24-hour time "HH:MM" from 00:00 to 23:59${got(text)}` });
      return z.NEVER;
    }
    return formatTimeOfDay(minutes);
  });

const weekdaySchema = z.enum(weekdayNames, {
  error: (issue) => `must be one of ${weekdayNames.join(', ')}${got(issue.input)}`,
});

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** True for a real calendar date written YYYY-MM-DD (2026-02-30 is not one). */
export function isCalendarDate(text: string): boolean {
  const match = ISO_DATE.exec(text);
  if (!match) return false;
  return DateTime.fromObject(
    { year: Number(match[1]), month: Number(match[2]), day: Number(match[3]) },
    { zone: 'utc' },
  ).isValid;
}

const holidaySchema = z.preprocess(
  // A YAML 1.1 loader turns an unquoted 2026-12-25 into a Date at UTC midnight; take its calendar date back.
  (value) => (value instanceof Date && !Number.isNaN(value.getTime()) ? value.toISOString().slice(0, 10) : value),
  z
    .string({ error: (issue) => `must be a date written YYYY-MM-DD such as "2026-12-25"${got(issue.input)}` })
    .refine((text) => isCalendarDate(text.trim()), {
      error: (issue) => `must be a real calendar date written YYYY-MM-DD such as "2026-12-25"${got(issue.input)}`,
    })
    .transform((text) => text.trim()),
);

export const businessHoursSchema = z
  .object(
    {
      days: z
        .array(weekdaySchema, {
          error: (issue) => `must be a list of weekdays such as [mon, tue, wed, thu, fri]${got(issue.input)}`,
        })
        .min(1, { error: 'must list at least one business day' })
        .superRefine((days, ctx) => {
          const seen = new Set<Weekday>();
          days.forEach((day, index) => {
            if (seen.has(day)) {
              ctx.addIssue({ code: 'custom', path: [index], message: `lists "${day}" more than once` });
            }
            seen.add(day);
          });
        })
        .default([...DEFAULT_BUSINESS_HOURS.days]),
      start: timeOfDaySchema.default(DEFAULT_BUSINESS_HOURS.start),
      end: timeOfDaySchema.default(DEFAULT_BUSINESS_HOURS.end),
      holidays: z
        .array(holidaySchema, {
          error: (issue) => `must be a list of dates such as ["2026-12-25"]${got(issue.input)}`,
        })
        .default([]),
    },
    { error: objectError('{ days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00" }') },
  )
  .strict()
  .superRefine((hours, ctx) => {
    // Both are normalised "HH:MM", so string order is time order.
    if (hours.end <= hours.start) {
      ctx.addIssue({
        code: 'custom',
        path: ['end'],
        message: `must be later than start (${hours.start}) on the same day (got "${hours.end}")`,
      });
    }
  })
  .transform((hours): BusinessHours => hours);
