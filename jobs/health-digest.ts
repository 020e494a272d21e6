import type { JobDefinition } from '../src/jobs/types.js';
import type { JobContext } from '../src/context.js';

/** Where the digest goes: its own channel, else the ops channel. */
const channelOf = (ctx: JobContext): string | undefined => ctx.config.file.channels.digest ?? ctx.config.file.channels.ops;

export const healthDigest: JobDefinition<JobContext> = {
  name: 'health-digest',
  description: 'SOP-MAINT-001: the 9 AM digest — status, last 24 h, log errors, backups, incidents, failed jobs',
  defaultSchedule: '0 9 * * *',
  async run(ctx) {
    const { id, channel } = await ctx.health.postDigest({ scheduled: ctx.trigger === 'schedule' });
    return { summary: channel ? `digest #${id} posted` : `digest #${id} recorded (no digest or ops channel configured)` };
  },
  describeOutcome(run, ctx) {
    if (run.outcome !== 'ok') return `❌ The digest could not be built (run #${run.id}): ${run.error ?? 'unknown error'}`;
    const id = /#(\d+)/.exec(run.summary ?? '')?.[1] ?? '?';
    const channel = channelOf(ctx);
    return channel
      ? `Digest #${id} posted in <#${channel}>.`
      : `Digest #${id} recorded, but no \`channels.digest\` or \`channels.ops\` is configured to post it in.`;
  },
};
