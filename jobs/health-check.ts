import type { JobDefinition } from '../src/jobs/types.js';
import type { JobContext } from '../src/context.js';

export const healthCheck: JobDefinition<JobContext> = {
  name: 'health-check',
  description: 'SOP-MAINT-001 / appendix C: samples service.healthUrl; alerts once when it goes down and once when it recovers',
  defaultSchedule: '*/5 * * * *',
  async run(ctx) {
    const { result, observation } = await ctx.health.sample();
    const transition = observation.transition ? ` → ${observation.transition.toUpperCase()}` : '';
    return { summary: `${result.ok ? 'healthy' : 'failing'} (${result.summary})${transition}` };
  },
};
