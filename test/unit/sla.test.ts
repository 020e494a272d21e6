import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  DEFAULT_BUSINESS_HOURS,
  businessHoursSchema,
  priorityNames,
  slaSchema,
  slaWindowSchema,
  type Priority,
  type SlaPolicy,
} from '../../src/config/sla-schema.js';
import { BusinessCalendar } from '../../src/incidents/business-calendar.js';
import {
  DEFAULT_URGENCY_MAP,
  formatRemaining,
  priorityFromIncident,
  slaOutcome,
  slaTimes,
} from '../../src/incidents/sla.js';

const BERLIN = 'Europe/Berlin';
const MIN = 60_000;
const HOUR = 60 * MIN;

function at(localIso: string, zone = BERLIN): Date {
  const dt = DateTime.fromISO(localIso, { zone });
  if (!dt.isValid) throw new Error(`bad test time ${localIso}`);
  return dt.toJSDate();
}

const iso = (d: Date): string => d.toISOString();

const policy: SlaPolicy = slaSchema.parse({});
const calendar = new BusinessCalendar(businessHoursSchema.parse({ holidays: ['2026-12-25'] }), BERLIN);

/** All issues of a failed parse, asserting each message is one line. */
function issues(schema: z.ZodType, value: unknown): z.core.$ZodIssue[] {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) throw new Error(`expected ${JSON.stringify(value)} to be rejected`);
  for (const issue of result.error.issues) expect(issue.message).not.toMatch(/[\r\n]/);
  return result.error.issues;
}

function only(schema: z.ZodType, value: unknown): { path: PropertyKey[]; message: string; code: string } {
  const list = issues(schema, value);
  expect(list).toHaveLength(1);
  const [issue] = list;
  return { path: issue!.path, message: issue!.message, code: issue!.code };
}

// Thursday 2026-06-04 10:00 CEST = 08:00Z.
const THURSDAY_10 = at('2026-06-04T10:00');

describe('slaTimes: duration windows (SOP-MON-001 defaults, warnAt 0.8)', () => {
  it.each([
    ['P1', 5 * MIN, 4 * MIN, '2026-06-04T08:05:00.000Z', '2026-06-04T08:04:00.000Z'],
    ['P2', 15 * MIN, 12 * MIN, '2026-06-04T08:15:00.000Z', '2026-06-04T08:12:00.000Z'],
    ['P3', HOUR, 48 * MIN, '2026-06-04T09:00:00.000Z', '2026-06-04T08:48:00.000Z'],
  ] as const)('%s: deadline after %i ms, reminder after %i ms', (priority, window, warn, deadline, warnAt) => {
    const times = slaTimes(policy, calendar, priority, THURSDAY_10);
    expect(times.deadline.getTime() - THURSDAY_10.getTime()).toBe(window);
    expect(times.warnAt.getTime() - THURSDAY_10.getTime()).toBe(warn);
    expect(iso(times.deadline)).toBe(deadline);
    expect(iso(times.warnAt)).toBe(warnAt);
  });

  it('duration windows ignore business hours (P1 on a Saturday night is still 5 minutes)', () => {
    const saturday = at('2026-06-06T23:58:30');
    const times = slaTimes(policy, calendar, 'P1', saturday);
    expect(times.deadline.getTime() - saturday.getTime()).toBe(5 * MIN);
  });

  it('keeps millisecond precision', () => {
    const t = new Date('2026-06-04T08:00:00.123Z');
    const times = slaTimes(policy, calendar, 'P1', t);
    expect(iso(times.deadline)).toBe('2026-06-04T08:05:00.123Z');
    expect(iso(times.warnAt)).toBe('2026-06-04T08:04:00.123Z');
  });
});

describe('slaTimes: next-business-day windows (P4 and P5)', () => {
  it.each(['P4', 'P5'] as const)('%s: Thursday 10:00 → Friday 17:00, reminder at 80 %% of the span', (priority) => {
    const times = slaTimes(policy, calendar, priority, THURSDAY_10);
    expect(iso(times.deadline)).toBe('2026-06-05T15:00:00.000Z');
    // Span 31 h; 0.8 × 31 h = 24 h 48 min → Friday 10:48 CEST.
    expect(iso(times.warnAt)).toBe('2026-06-05T08:48:00.000Z');
  });

  it.each([
    ['Friday 16:00', '2026-06-05T16:00', '2026-06-08T15:00:00.000Z'],
    ['Saturday 10:00', '2026-06-06T10:00', '2026-06-08T15:00:00.000Z'],
    ['Sunday 10:00', '2026-06-07T10:00', '2026-06-08T15:00:00.000Z'],
    ['Monday 08:00', '2026-06-08T08:00', '2026-06-09T15:00:00.000Z'],
    ['Thursday 16:59:59', '2026-06-04T16:59:59', '2026-06-05T15:00:00.000Z'],
    ['Thursday 17:00:00', '2026-06-04T17:00:00', '2026-06-05T15:00:00.000Z'],
    ['Thursday 23:59:59', '2026-06-04T23:59:59', '2026-06-05T15:00:00.000Z'],
    ['Thursday 2026-12-24 (12-25 holiday)', '2026-12-24T10:00', '2026-12-28T16:00:00.000Z'],
    ['Friday 2026-03-27 (spring DST)', '2026-03-27T10:00', '2026-03-30T15:00:00.000Z'],
    ['Friday 2026-10-23 (autumn DST)', '2026-10-23T10:00', '2026-10-26T16:00:00.000Z'],
  ])('P4 %s', (_name, local, deadline) => {
    const triggered = at(local);
    const times = slaTimes(policy, calendar, 'P4', triggered);
    expect(iso(times.deadline)).toBe(deadline);
    const span = times.deadline.getTime() - triggered.getTime();
    expect(times.warnAt.getTime()).toBe(triggered.getTime() + Math.round(0.8 * span));
  });

  it('Friday 16:00 → Monday 17:00: reminder 58 h 24 min later (0.8 × 73 h), early Monday', () => {
    const times = slaTimes(policy, calendar, 'P4', at('2026-06-05T16:00'));
    expect(iso(times.warnAt)).toBe(iso(at('2026-06-08T02:24')));
  });
});

describe('slaTimes: custom policies', () => {
  it('warnAt 0.5 puts the reminder half way', () => {
    const half = slaSchema.parse({ warnAt: 0.5 });
    expect(iso(slaTimes(half, calendar, 'P1', THURSDAY_10).warnAt)).toBe('2026-06-04T08:02:30.000Z');
    expect(iso(slaTimes(half, calendar, 'P3', THURSDAY_10).warnAt)).toBe('2026-06-04T08:30:00.000Z');
    // 31 h span → 15 h 30 min → Friday 01:30 CEST.
    expect(iso(slaTimes(half, calendar, 'P4', THURSDAY_10).warnAt)).toBe(iso(at('2026-06-05T01:30')));
  });

  it('operators can change windows per priority', () => {
    const custom = slaSchema.parse({ P1: '30s', P3: 'next-business-day', P5: '2d' });
    expect(slaTimes(custom, calendar, 'P1', THURSDAY_10).deadline.getTime() - THURSDAY_10.getTime()).toBe(30_000);
    expect(slaTimes(custom, calendar, 'P1', THURSDAY_10).warnAt.getTime() - THURSDAY_10.getTime()).toBe(24_000);
    expect(iso(slaTimes(custom, calendar, 'P3', THURSDAY_10).deadline)).toBe('2026-06-05T15:00:00.000Z');
    expect(iso(slaTimes(custom, calendar, 'P5', THURSDAY_10).deadline)).toBe('2026-06-06T08:00:00.000Z');
  });

  it('rejects an invalid Date and an out-of-range warnAt', () => {
    expect(() => slaTimes(policy, calendar, 'P1', new Date(Number.NaN))).toThrow(RangeError);
    expect(() => slaTimes({ ...policy, warnAt: 1 }, calendar, 'P1', THURSDAY_10)).toThrow(/warnAt/);
  });

  it('works end to end from the documented YAML', () => {
    const yaml = parseYaml(
      [
        'timezone: Europe/Berlin',
        'sla: { P1: 5m, P2: 15m, P3: 1h, P4: next-business-day, warnAt: 0.8 }',
        'businessHours: { days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00", holidays: ["2026-12-25"] }',
      ].join('\n'),
    ) as { timezone: string; sla: unknown; businessHours: unknown };
    const p = slaSchema.parse(yaml.sla);
    const cal = new BusinessCalendar(businessHoursSchema.parse(yaml.businessHours), yaml.timezone);
    expect(iso(slaTimes(p, cal, 'P4', at('2026-12-24T10:00')).deadline)).toBe('2026-12-28T16:00:00.000Z');
    expect(iso(slaTimes(p, cal, 'P5', at('2026-12-24T10:00')).deadline)).toBe('2026-12-28T16:00:00.000Z');
  });
});

describe('slaOutcome', () => {
  const deadline = new Date('2026-06-04T08:05:00.000Z');

  it('is met when acknowledged before or exactly at the deadline', () => {
    expect(slaOutcome(deadline, new Date('2026-06-04T08:00:00.000Z'))).toBe('met');
    expect(slaOutcome(deadline, new Date('2026-06-04T08:05:00.000Z'))).toBe('met');
  });

  it('is breached 1 ms after the deadline', () => {
    expect(slaOutcome(deadline, new Date('2026-06-04T08:05:00.001Z'))).toBe('breached');
  });
});

describe('formatRemaining', () => {
  it.each([
    [0, '0 s'],
    [999, '0 s'],
    [1_000, '1 s'],
    [42_000, '42 s'],
    [59_999, '59 s'],
    [60_000, '1 min'],
    [252_000, '4 min 12 s'],
    [252_999, '4 min 12 s'],
    [5 * MIN, '5 min'],
    [HOUR, '1 h'],
    [HOUR + 5 * MIN, '1 h 5 min'],
    [HOUR + 5 * MIN + 59_000, '1 h 5 min'],
    [HOUR + 30_000, '1 h'],
    [24 * HOUR, '1 d'],
    [51 * HOUR, '2 d 3 h'],
    [48 * HOUR + 30 * MIN, '2 d'],
    [-1, 'overdue by 1 s'],
    [-3 * MIN, 'overdue by 3 min'],
    [-(3 * MIN + 12_000), 'overdue by 3 min 12 s'],
    [-(HOUR + 2 * MIN + 5_000), 'overdue by 1 h 2 min'],
    [-(51 * HOUR), 'overdue by 2 d 3 h'],
  ])('%i ms → "%s"', (ms, text) => {
    expect(formatRemaining(ms)).toBe(text);
  });

  it('rejects non-finite input', () => {
    expect(() => formatRemaining(Number.NaN)).toThrow(RangeError);
    expect(() => formatRemaining(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});

describe('priorityFromIncident', () => {
  it.each<[string | null | undefined, string | null | undefined, Priority]>([
    ['P1', 'low', 'P1'],
    ['p2', null, 'P2'],
    ['P3', undefined, 'P3'],
    ['P4', 'high', 'P4'],
    ['P5', 'high', 'P5'],
    ['P1 - Critical', 'low', 'P1'],
    ['  p3: minor', 'high', 'P3'],
    ['P10', 'low', 'P4'], // not a P1..P5 prefix → urgency
    ['P6', 'low', 'P4'],
    ['SEV-1', 'low', 'P4'],
    ['', 'low', 'P4'],
    [null, 'high', 'P2'],
    [undefined, 'low', 'P4'],
    [null, 'LOW', 'P4'],
    [null, ' high ', 'P2'],
    [null, 'medium', 'P2'], // unknown urgency → P2
    [null, 'constructor', 'P2'], // not an own key of the map
    [null, null, 'P2'],
    [undefined, undefined, 'P2'],
    [null, '', 'P2'],
  ])('priority %j, urgency %j → %s', (priorityName, urgency, expected) => {
    expect(priorityFromIncident(priorityName, urgency, { ...DEFAULT_URGENCY_MAP })).toBe(expected);
  });

  it('uses the caller’s urgency map', () => {
    const map: Record<string, Priority> = { high: 'P1', low: 'P3' };
    expect(priorityFromIncident(null, 'high', map)).toBe('P1');
    expect(priorityFromIncident(null, 'low', map)).toBe('P3');
    expect(priorityFromIncident('P4', 'high', map)).toBe('P4');
  });

  it('the default map is high → P2, low → P4', () => {
    expect(DEFAULT_URGENCY_MAP).toEqual({ high: 'P2', low: 'P4' });
  });
});

describe('slaSchema', () => {
  it('defaults to SOP-MON-001', () => {
    expect(slaSchema.parse({})).toEqual({
      windows: {
        P1: { kind: 'duration', ms: 5 * MIN },
        P2: { kind: 'duration', ms: 15 * MIN },
        P3: { kind: 'duration', ms: HOUR },
        P4: { kind: 'next-business-day' },
        P5: { kind: 'next-business-day' },
      },
      warnAt: 0.8,
    });
    expect(Object.keys(policy.windows)).toEqual([...priorityNames]);
  });

  it('fills in the defaults for a missing section through prefault({})', () => {
    expect(slaSchema.prefault({}).parse(undefined)).toEqual(policy);
  });

  it('accepts the documented values and overrides only what is given', () => {
    const parsed = slaSchema.parse({ P1: '5m', P2: '15m', P3: '1h', P4: 'next-business-day', warnAt: 0.8 });
    expect(parsed).toEqual(policy);
    const custom = slaSchema.parse({ P2: '2d', P4: '30s', warnAt: 0.5 });
    expect(custom.windows.P2).toEqual({ kind: 'duration', ms: 2 * 24 * HOUR });
    expect(custom.windows.P4).toEqual({ kind: 'duration', ms: 30_000 });
    expect(custom.windows.P1).toEqual({ kind: 'duration', ms: 5 * MIN });
    expect(custom.warnAt).toBe(0.5);
  });

  it('rejects "5 minutes" naming the allowed forms and echoing the value', () => {
    const issue = only(slaSchema, { P1: '5 minutes' });
    expect(issue.path).toEqual(['P1']);
    expect(issue.message).toBe('must be a duration such as 30s, 5m, 1h or 2d, or next-business-day (got "5 minutes")');
  });

  it('rejects a non-string window and a zero duration', () => {
    expect(only(slaSchema, { P2: 5 }).message).toBe(
      'must be a duration such as 30s, 5m, 1h or 2d, or next-business-day (got 5)',
    );
    expect(only(slaSchema, { P3: '0m' }).message).toMatch(/longer than zero.*\(got "0m"\)/);
    expect(only(slaWindowSchema, 'next business day').message).toContain('(got "next business day")');
  });

  it.each([1.5, 1, 0, -0.2])('rejects warnAt %s', (value) => {
    const issue = only(slaSchema, { warnAt: value });
    expect(issue.path).toEqual(['warnAt']);
    expect(issue.message).toBe(`must be greater than 0 and less than 1, e.g. 0.8 for 80 % of the window (got ${value})`);
  });

  it('rejects a non-numeric warnAt', () => {
    const issue = only(slaSchema, { warnAt: '80%' });
    expect(issue.message).toBe('must be a number between 0 and 1 (exclusive), e.g. 0.8 (got "80%")');
  });

  it('rejects unknown keys', () => {
    const issue = only(slaSchema, { P1: '5m', P6: '1h' });
    expect(issue.code).toBe('unrecognized_keys');
    expect(issue.message).toContain('P6');
  });

  it('rejects a section that is not a mapping', () => {
    expect(only(slaSchema, 'fast').message).toMatch(/^must be a mapping such as .*\(got "fast"\)$/);
    expect(only(slaSchema, ['P1']).message).toMatch(/\(got a list\)$/);
  });
});

describe('businessHoursSchema', () => {
  it('defaults to mon–fri 09:00–17:00 without holidays', () => {
    expect(businessHoursSchema.parse({})).toEqual({
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      start: '09:00',
      end: '17:00',
      holidays: [],
    });
    expect(businessHoursSchema.prefault({}).parse(undefined)).toEqual(DEFAULT_BUSINESS_HOURS);
  });

  it('accepts a custom week, hours and holidays, normalising H:MM', () => {
    expect(
      businessHoursSchema.parse({ days: ['sun', 'mon', 'tue', 'wed', 'thu'], start: '7:30', end: '23:59', holidays: ['2028-02-29'] }),
    ).toEqual({ days: ['sun', 'mon', 'tue', 'wed', 'thu'], start: '07:30', end: '23:59', holidays: ['2028-02-29'] });
  });

  it('accepts a holiday a YAML 1.1 loader turned into a Date', () => {
    expect(businessHoursSchema.parse({ holidays: [new Date('2026-12-25T00:00:00Z')] }).holidays).toEqual(['2026-12-25']);
  });

  it('rejects an unknown weekday', () => {
    const issue = only(businessHoursSchema, { days: ['funday'] });
    expect(issue.path).toEqual(['days', 0]);
    expect(issue.message).toBe('must be one of mon, tue, wed, thu, fri, sat, sun (got "funday")');
  });

  it('rejects an empty or repeating week', () => {
    expect(only(businessHoursSchema, { days: [] })).toMatchObject({ path: ['days'], message: 'must list at least one business day' });
    expect(only(businessHoursSchema, { days: ['mon', 'tue', 'mon'] })).toMatchObject({
      path: ['days', 2],
      message: 'lists "mon" more than once',
    });
    expect(only(businessHoursSchema, { days: 'mon' }).message).toMatch(/^must be a list of weekdays .*\(got "mon"\)$/);
  });

  it.each(['25:00', '9', '09:60', '9am', '24:00'])('rejects start %j', (value) => {
    const issue = only(businessHoursSchema, { start: value });
    expect(issue.path).toEqual(['start']);
    expect(issue.message).toBe(`must be a 24-hour time "HH:MM" from 00:00 to 23:59 (got ${JSON.stringify(value)})`);
  });

  it('rejects a numeric time', () => {
    expect(only(businessHoursSchema, { end: 1700 }).message).toBe('must be a 24-hour time "HH:MM" such as "09:00" (got 1700)');
  });

  it('rejects an end before or equal to start', () => {
    expect(only(businessHoursSchema, { end: '08:00' })).toMatchObject({
      path: ['end'],
      message: 'must be later than start (09:00) on the same day (got "08:00")',
    });
    expect(only(businessHoursSchema, { start: '10:00', end: '10:00' }).path).toEqual(['end']);
  });

  it.each(['2026-02-30', '2026-02-29', '2026-13-01', '2026-2-3', '25.12.2026'])('rejects holiday %j', (value) => {
    const issue = only(businessHoursSchema, { holidays: ['2026-12-25', value] });
    expect(issue.path).toEqual(['holidays', 1]);
    expect(issue.message).toBe(
      `must be a real calendar date written YYYY-MM-DD such as "2026-12-25" (got ${JSON.stringify(value)})`,
    );
  });

  it('rejects unknown keys', () => {
    const issue = only(businessHoursSchema, { days: ['mon'], timezone: 'UTC' });
    expect(issue.code).toBe('unrecognized_keys');
    expect(issue.message).toContain('timezone');
  });

  it('keeps messages on one line even for a value with line breaks', () => {
    const issue = only(businessHoursSchema, { start: '09:00\n17:00' });
    expect(issue.message).toContain('\\n');
  });
});
