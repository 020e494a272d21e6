/**
 * The compliance calendar of SOP-COMP-001, as pure date logic: which lists are due on a local date, and
 * when each is overdue. The monthly list is posted on the first working day of the month, the quarterly
 * one on the first working day of a quarter, the annual one on the first working day of the year ("working
 * day" is the business calendar's: its weekdays, less its holidays). A list that was not posted on its day
 * (Waygate was down) is posted on the next working day of the same period, never twice.
 *
 * Each list is due by the end of its period (local midnight when the next one starts). The SOP document's
 * own quarterly review is posted with the calendar of the month it falls in and is due at the end of its
 * review date.
 */
import { DateTime } from 'luxon';

export type ListKind = 'monthly' | 'quarterly' | 'annual' | 'sop-review';

export interface DueList {
  kind: ListKind;
  /** Unique per period: `monthly:2026-12`, `quarterly:2027-Q1`, `annual:2027`, `sop-review:2027-01-14`. */
  key: string;
  title: string;
  /** When it is overdue, epoch ms. */
  dueAt: number;
}

/** Which procedure (and which of its steps) each list runs. */
export const LIST_PROCEDURE: Record<ListKind, { definitionId: string; steps?: readonly string[] }> = {
  monthly: { definitionId: 'audit-preparation', steps: ['monthly-tasks'] },
  quarterly: { definitionId: 'audit-preparation', steps: ['quarterly-tasks'] },
  annual: { definitionId: 'audit-preparation', steps: ['annual-tasks'] },
  'sop-review': { definitionId: 'sop-document-review' },
};

/** The first working day on or after `from` (a local date), looking at most a year ahead. */
export function firstWorkingDay(from: DateTime, isWorkingDay: (day: DateTime) => boolean): DateTime | null {
  let day = from.startOf('day');
  for (let i = 0; i < 366; i++, day = day.plus({ days: 1 })) if (isWorkingDay(day)) return day;
  return null;
}

/**
 * The lists to post on `today` (a local date-time in the calendar's zone), before those already posted are
 * taken out. Nothing is due on a day that is not a working day. `since` is the day the calendar first ran:
 * a period that began before it is left alone (no flood of old lists when the calendar is switched on),
 * one that began after it is posted even if its first working day was missed.
 */
export function listsDue(today: DateTime, since: DateTime, isWorkingDay: (day: DateTime) => boolean, sopReviewFrom: string | null): DueList[] {
  const day = today.startOf('day');
  if (!isWorkingDay(day)) return [];
  const lists: DueList[] = [];
  const start = since.startOf('day');
  // Periods whose first working day came before the calendar started are not posted after the fact.
  const reached = (periodStart: DateTime): boolean => {
    const first = firstWorkingDay(periodStart, isWorkingDay);
    return first !== null && first <= day && first >= start;
  };
  const month = day.startOf('month');
  if (reached(month)) {
    lists.push({ kind: 'monthly', key: `monthly:${month.toFormat('yyyy-LL')}`, title: `Monthly compliance tasks — ${month.toFormat('LLLL yyyy')}`, dueAt: month.plus({ months: 1 }).toMillis() });
  }
  const quarter = day.startOf('quarter');
  if (reached(quarter)) {
    lists.push({ kind: 'quarterly', key: `quarterly:${quarter.year}-Q${quarter.quarter}`, title: `Quarterly compliance tasks — Q${quarter.quarter} ${quarter.year}`, dueAt: quarter.plus({ months: 3 }).toMillis() });
  }
  const year = day.startOf('year');
  if (reached(year)) {
    lists.push({ kind: 'annual', key: `annual:${year.year}`, title: `Annual compliance tasks — ${year.year}`, dueAt: year.plus({ years: 1 }).toMillis() });
  }
  const review = sopReviewFrom === null ? null : currentReview(day, sopReviewFrom);
  if (review && reached(review.startOf('month'))) {
    lists.push({ kind: 'sop-review', key: `sop-review:${review.toISODate() ?? ''}`, title: `SOP document quarterly review — due ${review.toFormat('d LLLL yyyy')}`, dueAt: review.plus({ days: 1 }).toMillis() });
  }
  return lists;
}

/** The latest review date (from, from + 3 months, …) whose month has begun by `day`; null before the first. */
export function currentReview(day: DateTime, from: string): DateTime | null {
  const first = DateTime.fromISO(from, { zone: day.zone });
  if (!first.isValid) return null;
  let current: DateTime | null = null;
  for (let k = 0; ; k++) {
    const date = first.plus({ months: 3 * k });
    if (date.startOf('month') > day) return current;
    current = date;
  }
}

/**
 * The weekly reminder goes out on the first working day of each ISO week (Monday, or the Tuesday after a
 * Monday holiday); its key makes it once per week.
 */
export function weeklyReminderKey(today: DateTime, isWorkingDay: (day: DateTime) => boolean): string | null {
  const day = today.startOf('day');
  const first = firstWorkingDay(day.startOf('week'), isWorkingDay);
  if (first === null || +first !== +day) return null;
  return `reminder:${day.toFormat("kkkk-'W'WW")}`;
}
