import type { JobDefinition } from '../src/jobs/types.js';
import type { JobContext } from '../src/context.js';

export const healthDigest: JobDefinition<JobContext> = {
  name: 'health-digest',
  description: 'SOP-MAINT-001: the 9 AM digest — status, last 24 h, log errors, backups, incidents, failed jobs',
  defaultSchedule: '0 9 * * *',
  async run(ctx) {
    const { id, channel } = await ctx.health.postDigest();
    return { summary: channel ? `digest #${id} posted` : `digest #${id} recorded (no digest or ops channel configured)` };
  },
};
