import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { currentReview, listsDue, weeklyReminderKey } from '../../src/compliance/calendar.js';

const ZONE = 'Europe/Berlin';
const HOLIDAYS = new Set(['2027-01-01', '2027-04-05', '2026-04-06']);
const workingDay = (d: DateTime): boolean => d.weekday <= 5 && !HOLIDAYS.has(d.toISODate() ?? '');
const at = (iso: string): DateTime => DateTime.fromISO(iso, { zone: ZONE });
const keys = (today: string, since = '2026-01-01', review: string | null = null): string[] => listsDue(at(today), at(since), workingDay, review).map((l) => l.key);

describe('which compliance lists are due on a day', () => {
  it('posts the monthly list on the first working day of the month, and the quarterly and annual ones when those begin', () => {
    expect(keys('2026-12-01T09:00', '2026-11-02')).toEqual(['monthly:2026-12']);
    expect(keys('2026-10-01T09:00', '2026-09-01')).toEqual(['monthly:2026-10', 'quarterly:2026-Q4']);
    // 1 January 2027 is a holiday (and a Friday); the weekend follows: Monday the 4th opens the year.
    expect(keys('2027-01-01T09:00', '2026-12-01')).toEqual([]);
    expect(keys('2027-01-02T09:00', '2026-12-01')).toEqual([]);
    expect(keys('2027-01-04T09:00', '2026-12-01')).toEqual(['monthly:2027-01', 'quarterly:2027-Q1', 'annual:2027']);
  });

  it('catches up later in the period when the first working day was missed, but not for periods before the calendar began', () => {
    expect(keys('2026-12-09T09:00', '2026-11-15')).toEqual(['monthly:2026-12']);
    expect(keys('2026-12-09T09:00', '2026-12-05')).toEqual([]);
    expect(keys('2026-12-05T09:00', '2026-11-15')).toEqual([]); // a Saturday: nothing is posted on a day off
  });

  it('is due at the end of its period, local midnight', () => {
    const [monthly, quarterly, annual] = listsDue(at('2027-01-04T09:00'), at('2026-12-01'), workingDay, null);
    expect(DateTime.fromMillis(monthly!.dueAt, { zone: ZONE }).toISO()).toBe('2027-02-01T00:00:00.000+01:00');
    expect(DateTime.fromMillis(quarterly!.dueAt, { zone: ZONE }).toISO()).toBe('2027-04-01T00:00:00.000+02:00');
    expect(DateTime.fromMillis(annual!.dueAt, { zone: ZONE }).toISO()).toBe('2028-01-01T00:00:00.000+01:00');
  });

  it('posts the SOP document review in the month of each quarterly review date, due at the end of that date', () => {
    expect(currentReview(at('2026-12-01'), '2025-04-14')?.toISODate()).toBe('2026-10-14');
    expect(currentReview(at('2027-01-04'), '2025-04-14')?.toISODate()).toBe('2027-01-14');
    expect(currentReview(at('2026-12-31'), '2027-01-14')).toBeNull();
    const review = listsDue(at('2027-01-04T09:00'), at('2026-12-01'), workingDay, '2025-04-14').find((l) => l.kind === 'sop-review')!;
    expect(review).toMatchObject({ key: 'sop-review:2027-01-14', title: 'SOP document quarterly review — due 14 January 2027' });
    expect(DateTime.fromMillis(review.dueAt, { zone: ZONE }).toISO()).toBe('2027-01-15T00:00:00.000+01:00');
  });
});

describe('the weekly reminder day', () => {
  it('is the first working day of each ISO week, once', () => {
    expect(weeklyReminderKey(at('2026-12-07T09:00'), workingDay)).toBe('reminder:2026-W50');
    expect(weeklyReminderKey(at('2026-12-08T09:00'), workingDay)).toBeNull();
    // Easter Monday 2027 is a holiday: Tuesday reminds instead.
    expect(weeklyReminderKey(at('2027-04-05T09:00'), workingDay)).toBeNull();
    expect(weeklyReminderKey(at('2027-04-06T09:00'), workingDay)).toBe('reminder:2027-W14');
  });
});
