import type { JobDefinition } from '../src/jobs/types.js';
import type { JobContext } from '../src/context.js';

/**
 * SOP-COMP-001 on the calendar. Runs every day; posts only on working days (the business calendar's), so a
 * holiday on the 1st moves the month's lists to the next working day, and a day Waygate was down is caught
 * up on the next run. Each list and each weekly reminder happens once, whatever the schedule.
 */
export const complianceCalendar: JobDefinition<JobContext> = {
  name: 'compliance-calendar',
  description: 'SOP-COMP-001: posts the monthly, quarterly and annual compliance lists on the first working day, and reminds overdue items weekly',
  defaultSchedule: '0 9 * * *',
  async run(ctx) {
    const outcome = await ctx.compliance.runCalendar();
    // A list that could not be posted is a failed run: the generic job-failure alert says so in ops.
    if (outcome.problems.length > 0) throw new Error(outcome.problems.join('; '));
    const posted = outcome.posted.length === 0 ? 'nothing due today' : `posted ${outcome.posted.join(', ')}`;
    return { summary: `${posted}${outcome.reminded > 0 ? `; reminded ${outcome.reminded} overdue list(s)` : ''}` };
  },
};
