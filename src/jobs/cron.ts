import { createTask } from 'node-cron';

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
  return {
    expression,
    timezone,
    next(after: Date): Date {
      // getNextMatch may answer with the very second it was given; step past it to get a strictly later one.
      for (let from = after; ; from = new Date(from.getTime() + 1000)) {
        const candidate = matcher.getNextMatch(from);
        if (candidate.getTime() > after.getTime()) return candidate;
      }
    },
  };
}
