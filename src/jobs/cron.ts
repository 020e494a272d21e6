import { createTask, parse, type ParsedFields } from 'node-cron';
import { DateTime } from 'luxon';

export interface CronSchedule {
  readonly expression: string;
  readonly timezone: string;
  /** The first instant strictly after `after` that the expression matches, in the schedule's zone. */
  next(after: Date): Date;
}

interface TimeMatcherLike {
  getNextMatch(date: Date): Date;
}

/**
 * node-cron owns the cron grammar and the zone-aware matching; the firing is ours, driven by the injected
 * Clock and recorded in SQLite (node-cron's own timers use the wall clock and persist nothing).
 * node-cron exposes next-match only from "now", so we reach its TimeMatcher through an unstarted task;
 * test/unit/cron.test.ts pins this so an upgrade that moves it fails loudly.
 */
export function compileCron(expression: string, timezone: string): CronSchedule {
  const task = createTask(expression, () => undefined, { timezone, name: `waygate:${expression}` });
  const matcher = (task as unknown as { timeMatcher?: TimeMatcherLike }).timeMatcher;
  if (!matcher || typeof matcher.getNextMatch !== 'function') {
    throw new Error('node-cron no longer exposes its TimeMatcher; see src/jobs/cron.ts');
  }
  void task.destroy();
  const fields = parse(expression);
  return {
    expression,
    timezone,
    next(after: Date): Date {
      let candidate: Date | undefined;
      // getNextMatch may answer with the very second it was given; step past it to get a strictly later one.
      for (let from = after; !candidate; from = new Date(from.getTime() + 1000)) {
        const c = matcher.getNextMatch(from);
        if (c.getTime() > after.getTime()) candidate = c;
      }
      const skipped = skippedBySpringForward(fields, timezone, after.getTime(), candidate.getTime());
      return skipped !== null && skipped < candidate.getTime() ? new Date(skipped) : candidate;
    },
  };
}

/** The instant a zone's clocks jump forward between two instants, or null when they do not. */
function springForward(zone: string, from: number, to: number): { at: number; gapMinutes: number } | null {
  const before = DateTime.fromMillis(from, { zone }).offset;
  const after = DateTime.fromMillis(to, { zone }).offset;
  if (after <= before) return null;
  let lo = from;
  let hi = to;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (DateTime.fromMillis(mid, { zone }).offset > before) hi = mid;
    else lo = mid;
  }
  return { at: hi, gapMinutes: after - before };
}

/**
 * node-cron never fires at a local time that does not exist (02:30 on the night clocks spring forward), so
 * a nightly 2 AM backup would silently skip that day. Like Vixie cron, we run such a job at the first
 * instant after the jump instead: returns that instant when a skipped local time in (after, candidate)
 * matches the expression, else null.
 */
function skippedBySpringForward(fields: ParsedFields, zone: string, after: number, candidate: number): number | null {
  const jump = springForward(zone, after, candidate);
  if (!jump || jump.at <= after) return null;
  const dom = fields.dayOfMonth.filter((d): d is number => typeof d === 'number');
  const dow = fields.dayOfWeek.filter((d): d is number => typeof d === 'number').map((d) => d % 7);
  if (dom.length !== fields.dayOfMonth.length || dow.length !== fields.dayOfWeek.length) return null; // L, # etc.: leave to node-cron
  // The last real local minute before the jump; the skipped wall-clock minutes follow it.
  const last = DateTime.fromMillis(jump.at - 1, { zone });
  for (let m = 0; m < jump.gapMinutes; m++) {
    const hour = (last.hour + Math.floor((last.minute + 1 + m) / 60)) % 24;
    const minute = (last.minute + 1 + m) % 60;
    const domOk = dom.includes(last.day);
    const dowOk = dow.includes(last.weekday % 7);
    const dayOk = dom.length < 31 && dow.length < 7 ? domOk || dowOk : domOk && dowOk;
    if (fields.hour.includes(hour) && fields.minute.includes(minute) && fields.month.includes(last.month) && dayOk) return jump.at;
  }
  return null;
}
