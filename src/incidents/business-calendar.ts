import { DateTime, IANAZone } from 'luxon';
import { parseTimeOfDay, weekdayNames, type BusinessHours } from '../config/sla-schema.js';

/** How far ahead the calendar looks for a business day before giving up (covers a leap year). */
export const MAX_SEARCH_DAYS = 366;

interface LocalDate {
  year: number;
  month: number;
  day: number;
}

/**
 * Business days and hours in one IANA time zone, for SLA deadlines such as "next business day".
 *
 * The calendar never reads the system clock: every method takes the instant it reasons about.
 *
 * The "next business day" rule (SOP-MON-001, P4 and by default P5): take the calendar date of the instant
 * in the configured zone, then the first LATER date that is a business day (its weekday is listed in
 * `days` and it is not in `holidays`). The time of day of the instant does not matter:
 *   - Thursday 10:00 → Friday;  Thursday 23:59:59 → Friday
 *   - Friday 16:00 → Monday;  Saturday or Sunday → Monday
 *   - Monday 08:00, before opening, → Tuesday (not Monday: the rule is the day AFTER the alert's day)
 *   - Thursday 2026-12-24 with 2026-12-25 a holiday → Monday 2026-12-28
 * Deadlines are wall-clock times on that date (`end` for nextBusinessDayEnd, `start` for
 * nextBusinessDayStart) resolved in the zone, so a 17:00 deadline stays 17:00 local across DST changes.
 * A wall-clock time that does not exist on a spring-forward date (e.g. 02:30) is moved forward by the gap.
 */
export class BusinessCalendar {
  readonly timezone: string;
  private readonly days: ReadonlySet<number>;
  private readonly holidays: ReadonlySet<string>;
  private readonly startMinutes: number;
  private readonly endMinutes: number;

  constructor(hours: BusinessHours, timezone: string) {
    if (!IANAZone.isValidZone(timezone)) {
      throw new Error(`BusinessCalendar: "${timezone}" is not an IANA time zone such as Europe/Berlin`);
    }
    const start = parseTimeOfDay(hours.start);
    const end = parseTimeOfDay(hours.end);
    if (start === undefined || end === undefined) {
      throw new Error(`BusinessCalendar: business hours must be "HH:MM" (got start "${hours.start}", end "${hours.end}")`);
    }
    if (end <= start) {
      throw new Error(`BusinessCalendar: business hours end (${hours.end}) must be after start (${hours.start})`);
    }
    if (hours.days.length === 0) throw new Error('BusinessCalendar: at least one business day is required');
    this.timezone = timezone;
    this.startMinutes = start;
    this.endMinutes = end;
    // luxon weekdays: 1 = Monday … 7 = Sunday, the order of weekdayNames.
    this.days = new Set(hours.days.map((day) => weekdayNames.indexOf(day) + 1));
    this.holidays = new Set(hours.holidays.map((date) => date.trim()));
  }

  /** True when the calendar date of `at` in the zone is a listed weekday and not a holiday. */
  isBusinessDay(at: Date): boolean {
    return this.isBusinessDate(this.local(at));
  }

  /** True on a business day from `start` (inclusive) to `end` (exclusive), local wall-clock time. */
  isWithinBusinessHours(at: Date): boolean {
    const local = this.local(at);
    if (!this.isBusinessDate(local)) return false;
    const minutes = local.hour * 60 + local.minute + local.second / 60 + local.millisecond / 60_000;
    return minutes >= this.startMinutes && minutes < this.endMinutes;
  }

  /** End of business hours on the next business day after the calendar date of `after` (see class doc). */
  nextBusinessDayEnd(after: Date): Date {
    return this.at(this.nextBusinessDate(after), this.endMinutes);
  }

  /** Start of business hours on the next business day after the calendar date of `after` (see class doc). */
  nextBusinessDayStart(after: Date): Date {
    return this.at(this.nextBusinessDate(after), this.startMinutes);
  }

  private local(at: Date): DateTime {
    if (Number.isNaN(at.getTime())) throw new RangeError('BusinessCalendar: invalid Date');
    return DateTime.fromJSDate(at, { zone: this.timezone });
  }

  private isBusinessDate(local: DateTime): boolean {
    return this.days.has(local.weekday) && !this.holidays.has(local.toISODate() ?? '');
  }

  private nextBusinessDate(after: Date): LocalDate {
    // Noon of the local date: whole-day steps from there never land in a DST gap or a repeated hour.
    const noon = this.local(after).set({ hour: 12, minute: 0, second: 0, millisecond: 0 });
    for (let offset = 1; offset <= MAX_SEARCH_DAYS; offset += 1) {
      const candidate = noon.plus({ days: offset });
      if (this.isBusinessDate(candidate)) {
        return { year: candidate.year, month: candidate.month, day: candidate.day };
      }
    }
    throw new Error(
      `BusinessCalendar: no business day within ${MAX_SEARCH_DAYS} days after ${noon.toISODate() ?? '?'} ` +
        `in ${this.timezone}; check businessHours.days and businessHours.holidays`,
    );
  }

  private at(date: LocalDate, minutes: number): Date {
    return DateTime.fromObject(
      { ...date, hour: Math.floor(minutes / 60), minute: minutes % 60 },
      { zone: this.timezone },
    ).toJSDate();
  }
}
