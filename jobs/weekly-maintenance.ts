import type { JobDefinition } from '../src/jobs/types.js';
import type { JobContext } from '../src/context.js';
import { ReportedJobFailure } from '../src/jobs/reported-failure.js';
import { escapeMrkdwn } from '../src/core/text.js';

export const weeklyMaintenance: JobDefinition<JobContext> = {
  name: 'weekly-maintenance',
  description: 'SOP-MAINT-002: VACUUM and ANALYZE the service database, list outdated dependencies',
  defaultSchedule: '0 14 * * 2',
  async run(ctx) {
    const { service, channels } = ctx.config.file;
    const parts: string[] = [];
    let databaseProblem: string | null = null;
    try {
      parts.push(ctx.maintenance.vacuumServiceDatabase(ctx.clock.nowMs(), ctx.config.file.timezone));
    } catch (err) {
      databaseProblem = `${service.database}: ${(err as Error).message}`;
      parts.push(`❌ *Database* \`${escapeMrkdwn(service.database)}\`: ${escapeMrkdwn((err as Error).message)}`);
    }
    const outdated = await ctx.maintenance.run('outdated', 'Outdated dependencies');
    parts.push(outdated.text);
    const text = `🧰 *Weekly maintenance*\n${parts.join('\n')}`;
    if (channels.ops) ctx.outbox.enqueue({ kind: 'post', payload: { channel: channels.ops, text } });
    if (databaseProblem) {
      const message = `database maintenance failed: ${databaseProblem}`;
      throw channels.ops ? new ReportedJobFailure(message) : new Error(message);
    }
    return { summary: `database maintained; outdated check ${outdated.result.ok ? 'ran' : 'failed'}` };
  },
};
