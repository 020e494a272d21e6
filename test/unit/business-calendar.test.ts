import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { businessHoursSchema, type BusinessHours } from '../../src/config/sla-schema.js';
import { BusinessCalendar, MAX_SEARCH_DAYS } from '../../src/incidents/business-calendar.js';

const BERLIN = 'Europe/Berlin';
const NEW_YORK = 'America/New_York';

/** Local wall-clock time in `zone` as a Date, e.g. at('2026-06-04T10:00'). */
function at(localIso: string, zone = BERLIN): Date {
  const dt = DateTime.fromISO(localIso, { zone });
  if (!dt.isValid) throw new Error(`bad test time ${localIso}`);
  return dt.toJSDate();
}

function hours(overrides: Partial<BusinessHours> = {}): BusinessHours {
  return businessHoursSchema.parse({ holidays: ['2026-12-25'], ...overrides });
}

function calendar(overrides: Partial<BusinessHours> = {}, zone = BERLIN): BusinessCalendar {
  return new BusinessCalendar(hours(overrides), zone);
}

const iso = (d: Date): string => d.toISOString();

// June 2026 (CEST, UTC+2): Mon 1, Tue 2, Wed 3, Thu 4, Fri 5, Sat 6, Sun 7, Mon 8, Tue 9.
describe('BusinessCalendar.nextBusinessDayEnd (Europe/Berlin, mon–fri 09:00–17:00)', () => {
  const cal = calendar();

  it.each([
    ['Thursday 10:00 → Friday 17:00', '2026-06-04T10:00', '2026-06-05T15:00:00.000Z'],
    ['Monday 12:00 → Tuesday 17:00', '2026-06-01T12:00', '2026-06-02T15:00:00.000Z'],
    ['Friday 16:00 → Monday 17:00', '2026-06-05T16:00', '2026-06-08T15:00:00.000Z'],
    ['Friday 00:00 → Monday 17:00', '2026-06-05T00:00', '2026-06-08T15:00:00.000Z'],
    ['Saturday 10:00 → Monday 17:00', '2026-06-06T10:00', '2026-06-08T15:00:00.000Z'],
    ['Sunday 23:59 → Monday 17:00', '2026-06-07T23:59', '2026-06-08T15:00:00.000Z'],
    ['Monday 08:00, before opening → Tuesday 17:00', '2026-06-08T08:00', '2026-06-09T15:00:00.000Z'],
    ['Thursday 00:00:00 → Friday 17:00', '2026-06-04T00:00:00', '2026-06-05T15:00:00.000Z'],
    ['Thursday 16:59:59 → Friday 17:00', '2026-06-04T16:59:59', '2026-06-05T15:00:00.000Z'],
    ['Thursday 17:00:00 → Friday 17:00', '2026-06-04T17:00:00', '2026-06-05T15:00:00.000Z'],
    ['Thursday 23:59:59.999 → Friday 17:00', '2026-06-04T23:59:59.999', '2026-06-05T15:00:00.000Z'],
  ])('%s', (_name, local, expected) => {
    expect(iso(cal.nextBusinessDayEnd(at(local)))).toBe(expected);
  });

  it('skips a holiday: Thursday 2026-12-24 → Monday 2026-12-28 17:00 CET', () => {
    expect(iso(cal.nextBusinessDayEnd(at('2026-12-24T10:00')))).toBe('2026-12-28T16:00:00.000Z');
  });

  it('skips consecutive holidays', () => {
    const c = calendar({ holidays: ['2026-12-24', '2026-12-25', '2026-12-28'] });
    expect(iso(c.nextBusinessDayEnd(at('2026-12-23T10:00')))).toBe('2026-12-29T16:00:00.000Z');
  });

  it('uses the calendar date in the zone, not in UTC', () => {
    // 2026-06-04T22:30Z is already Friday 00:30 in Berlin, so the next business day is Monday.
    expect(iso(cal.nextBusinessDayEnd(new Date('2026-06-04T22:30:00Z')))).toBe('2026-06-08T15:00:00.000Z');
    // The same instant in New York is Thursday 18:30 → Friday 17:00 EDT (21:00Z).
    const ny = calendar({}, NEW_YORK);
    expect(iso(ny.nextBusinessDayEnd(new Date('2026-06-04T22:30:00Z')))).toBe('2026-06-05T21:00:00.000Z');
  });

  it('returns a fresh instant strictly after the input', () => {
    const input = at('2026-06-04T23:59:59.999');
    const deadline = cal.nextBusinessDayEnd(input);
    expect(deadline.getTime()).toBeGreaterThan(input.getTime());
    expect(iso(input)).toBe('2026-06-04T21:59:59.999Z');
  });
});

describe('BusinessCalendar: daylight-saving changes', () => {
  it('spring, Europe/Berlin: Friday 2026-03-27 10:00 CET → Monday 2026-03-30 17:00 CEST (15:00Z)', () => {
    expect(iso(calendar().nextBusinessDayEnd(at('2026-03-27T10:00')))).toBe('2026-03-30T15:00:00.000Z');
  });

  it('autumn, Europe/Berlin: Friday 2026-10-23 10:00 CEST → Monday 2026-10-26 17:00 CET (16:00Z)', () => {
    expect(iso(calendar().nextBusinessDayEnd(at('2026-10-23T10:00')))).toBe('2026-10-26T16:00:00.000Z');
  });

  it('spring, America/New_York (change on Sunday 2026-03-08): Friday → Monday 17:00 EDT (21:00Z)', () => {
    const ny = calendar({}, NEW_YORK);
    expect(iso(ny.nextBusinessDayEnd(at('2026-03-06T10:00', NEW_YORK)))).toBe('2026-03-09T21:00:00.000Z');
    expect(iso(ny.nextBusinessDayStart(at('2026-03-06T10:00', NEW_YORK)))).toBe('2026-03-09T13:00:00.000Z');
    // Before the change the same wall-clock deadline is 22:00Z (EST, UTC−5).
    expect(iso(ny.nextBusinessDayEnd(at('2026-03-04T10:00', NEW_YORK)))).toBe('2026-03-05T22:00:00.000Z');
  });

  it('a business day that is itself the DST-change date still ends at 17:00 local', () => {
    const sunToThu = calendar({ days: ['sun', 'mon', 'tue', 'wed', 'thu'] });
    // Sunday 2026-03-29: clocks go 02:00 CET → 03:00 CEST; 17:00 CEST = 15:00Z.
    expect(iso(sunToThu.nextBusinessDayEnd(at('2026-03-28T10:00')))).toBe('2026-03-29T15:00:00.000Z');
    expect(iso(sunToThu.nextBusinessDayStart(at('2026-03-28T10:00')))).toBe('2026-03-29T07:00:00.000Z');
    // Sunday 2026-10-25: clocks go 03:00 CEST → 02:00 CET; 17:00 CET = 16:00Z.
    expect(iso(sunToThu.nextBusinessDayEnd(at('2026-10-24T10:00')))).toBe('2026-10-25T16:00:00.000Z');
    // New York, Sunday 2026-03-08: 17:00 EDT = 21:00Z.
    const nySunToThu = calendar({ days: ['sun', 'mon', 'tue', 'wed', 'thu'] }, NEW_YORK);
    expect(iso(nySunToThu.nextBusinessDayEnd(at('2026-03-07T10:00', NEW_YORK)))).toBe('2026-03-08T21:00:00.000Z');
  });

  it('an alert in the repeated autumn hour takes its local date as usual', () => {
    // 2026-10-25T00:30Z and 01:30Z are both 02:30 local on Sunday 2026-10-25 → Monday 17:00 CET.
    const cal = calendar();
    expect(iso(cal.nextBusinessDayEnd(new Date('2026-10-25T00:30:00Z')))).toBe('2026-10-26T16:00:00.000Z');
    expect(iso(cal.nextBusinessDayEnd(new Date('2026-10-25T01:30:00Z')))).toBe('2026-10-26T16:00:00.000Z');
  });

  it('moves an opening time that does not exist on a spring-forward date forward by the gap', () => {
    const early = calendar({ days: ['sun'], start: '02:30', end: '12:00' });
    // 02:30 does not exist on 2026-03-29 in Berlin; it becomes 03:30 CEST = 01:30Z.
    expect(iso(early.nextBusinessDayStart(at('2026-03-28T10:00')))).toBe('2026-03-29T01:30:00.000Z');
  });
});

describe('BusinessCalendar: custom weeks and hours', () => {
  it('a sun–thu week (Asia/Jerusalem, UTC+3 in June)', () => {
    const cal = calendar({ days: ['sun', 'mon', 'tue', 'wed', 'thu'] }, 'Asia/Jerusalem');
    const tz = 'Asia/Jerusalem';
    expect(iso(cal.nextBusinessDayEnd(at('2026-06-04T10:00', tz)))).toBe('2026-06-07T14:00:00.000Z'); // Thu → Sun
    expect(iso(cal.nextBusinessDayEnd(at('2026-06-05T10:00', tz)))).toBe('2026-06-07T14:00:00.000Z'); // Fri → Sun
    expect(iso(cal.nextBusinessDayEnd(at('2026-06-06T10:00', tz)))).toBe('2026-06-07T14:00:00.000Z'); // Sat → Sun
    expect(iso(cal.nextBusinessDayEnd(at('2026-06-07T10:00', tz)))).toBe('2026-06-08T14:00:00.000Z'); // Sun → Mon
    expect(cal.isBusinessDay(at('2026-06-05T10:00', tz))).toBe(false);
    expect(cal.isBusinessDay(at('2026-06-07T10:00', tz))).toBe(true);
  });

  it('custom hours 08:30–18:45', () => {
    const cal = calendar({ start: '08:30', end: '18:45' });
    expect(iso(cal.nextBusinessDayEnd(at('2026-06-04T10:00')))).toBe('2026-06-05T16:45:00.000Z');
    expect(iso(cal.nextBusinessDayStart(at('2026-06-04T10:00')))).toBe('2026-06-05T06:30:00.000Z');
    expect(cal.isWithinBusinessHours(at('2026-06-04T08:29:59'))).toBe(false);
    expect(cal.isWithinBusinessHours(at('2026-06-04T08:30'))).toBe(true);
    expect(cal.isWithinBusinessHours(at('2026-06-04T18:44:59.999'))).toBe(true);
    expect(cal.isWithinBusinessHours(at('2026-06-04T18:45'))).toBe(false);
  });

  it('a single business day a week', () => {
    const cal = calendar({ days: ['wed'] });
    expect(iso(cal.nextBusinessDayEnd(at('2026-06-03T10:00')))).toBe('2026-06-10T15:00:00.000Z');
  });
});

describe('BusinessCalendar.nextBusinessDayStart', () => {
  const cal = calendar();

  it.each([
    ['Thursday 10:00 → Friday 09:00', '2026-06-04T10:00', '2026-06-05T07:00:00.000Z'],
    ['Friday 16:00 → Monday 09:00', '2026-06-05T16:00', '2026-06-08T07:00:00.000Z'],
    ['Saturday → Monday 09:00', '2026-06-06T12:00', '2026-06-08T07:00:00.000Z'],
    ['Monday 08:00, before opening → Tuesday 09:00', '2026-06-08T08:00', '2026-06-09T07:00:00.000Z'],
    ['holiday skipped: 2026-12-24 → 2026-12-28 09:00 CET', '2026-12-24T10:00', '2026-12-28T08:00:00.000Z'],
  ])('%s', (_name, local, expected) => {
    expect(iso(cal.nextBusinessDayStart(at(local)))).toBe(expected);
  });
});

describe('BusinessCalendar.isBusinessDay / isWithinBusinessHours', () => {
  const cal = calendar();

  it('weekdays are business days, weekends and holidays are not', () => {
    expect(cal.isBusinessDay(at('2026-06-01T00:00'))).toBe(true);
    expect(cal.isBusinessDay(at('2026-06-05T23:59:59'))).toBe(true);
    expect(cal.isBusinessDay(at('2026-06-06T12:00'))).toBe(false);
    expect(cal.isBusinessDay(at('2026-06-07T12:00'))).toBe(false);
    expect(cal.isBusinessDay(at('2026-12-25T12:00'))).toBe(false);
    expect(cal.isBusinessDay(at('2026-12-24T12:00'))).toBe(true);
  });

  it('judges the day in the configured zone', () => {
    // Friday 23:30Z is Saturday 01:30 in Berlin.
    expect(cal.isBusinessDay(new Date('2026-06-05T23:30:00Z'))).toBe(false);
    expect(calendar({}, 'UTC').isBusinessDay(new Date('2026-06-05T23:30:00Z'))).toBe(true);
  });

  it('business hours include the opening minute and exclude the closing minute', () => {
    expect(cal.isWithinBusinessHours(at('2026-06-04T08:59:59.999'))).toBe(false);
    expect(cal.isWithinBusinessHours(at('2026-06-04T09:00'))).toBe(true);
    expect(cal.isWithinBusinessHours(at('2026-06-04T12:00'))).toBe(true);
    expect(cal.isWithinBusinessHours(at('2026-06-04T16:59:59.999'))).toBe(true);
    expect(cal.isWithinBusinessHours(at('2026-06-04T17:00'))).toBe(false);
    expect(cal.isWithinBusinessHours(at('2026-06-06T12:00'))).toBe(false); // Saturday
    expect(cal.isWithinBusinessHours(at('2026-12-25T12:00'))).toBe(false); // holiday
  });

  it('uses local wall-clock hours across a DST change', () => {
    // Monday 2026-03-30 09:00 CEST is 07:00Z; a week earlier 09:00 CET was 08:00Z.
    expect(cal.isWithinBusinessHours(new Date('2026-03-30T07:00:00Z'))).toBe(true);
    expect(cal.isWithinBusinessHours(new Date('2026-03-23T07:00:00Z'))).toBe(false);
    expect(cal.isWithinBusinessHours(new Date('2026-03-23T08:00:00Z'))).toBe(true);
  });
});

describe('BusinessCalendar: guards', () => {
  function mondaysFrom(first: string, count: number): string[] {
    const start = DateTime.fromISO(first, { zone: 'utc' });
    return Array.from({ length: count }, (_, i) => start.plus({ weeks: i }).toISODate()!);
  }

  it(`gives up with a clear error when there is no business day within ${MAX_SEARCH_DAYS} days`, () => {
    // Only Mondays are business days, and every Monday for two years is a holiday.
    const cal = calendar({ days: ['mon'], holidays: mondaysFrom('2026-06-01', 110) });
    expect(() => cal.nextBusinessDayEnd(at('2026-06-01T10:00'))).toThrow(
      /no business day within 366 days after 2026-06-01 in Europe\/Berlin; check businessHours\.days/,
    );
    expect(() => cal.nextBusinessDayStart(at('2026-06-01T10:00'))).toThrow(/no business day within 366 days/);
  });

  it('still finds a business day 52 weeks away', () => {
    // Mondays 2026-06-08 … 2027-05-24 are holidays; 2027-05-31 (364 days later) is not.
    const holidays = mondaysFrom('2026-06-08', 51);
    expect(holidays.at(-1)).toBe('2027-05-24');
    const cal = calendar({ days: ['mon'], holidays });
    expect(iso(cal.nextBusinessDayEnd(at('2026-06-01T10:00')))).toBe('2027-05-31T15:00:00.000Z');
  });

  it('rejects an unknown time zone, inverted hours, bad times and an empty week', () => {
    expect(() => new BusinessCalendar(hours(), 'Mars/Olympus')).toThrow(/not an IANA time zone/);
    const base = hours();
    expect(() => new BusinessCalendar({ ...base, start: '17:00', end: '09:00' }, BERLIN)).toThrow(/must be after start/);
    expect(() => new BusinessCalendar({ ...base, start: '9am' }, BERLIN)).toThrow(/"HH:MM"/);
    expect(() => new BusinessCalendar({ ...base, days: [] }, BERLIN)).toThrow(/at least one business day/);
  });

  it('rejects an invalid Date', () => {
    expect(() => calendar().isBusinessDay(new Date(Number.NaN))).toThrow(RangeError);
  });
});
