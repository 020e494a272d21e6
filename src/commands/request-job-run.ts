import type { AuditAction } from '../audit/audit-log.js';
import type { CommandContext, CommandReply } from './types.js';

/**
 * Starts a job for the person who asked, the way every "run it now" command does: the run is committed as
 * a queued execution (with its audit row) before Slack gets the ack, starts right after the ack, and its
 * outcome goes back to the asker's response_url. A crash in between leaves the queued row for the next start.
 */
export async function requestJobRun(
  ctx: CommandContext,
  name: string,
  opts: { audit: AuditAction; started: string },
): Promise<CommandReply> {
  const result = await ctx.store.transaction(async (tx) => {
    const requested = await ctx.jobs.request(tx, name, ctx.userId, { responseUrl: ctx.responseUrl });
    if (requested.queued) await ctx.audit.record(tx, { actor: ctx.userId, action: opts.audit, subject: name, details: { runId: requested.runId } });
    return requested;
  });
  if (!result.queued) return { text: `Could not start \`${name}\`: ${result.reason}.` };
  ctx.afterAck(async () => {
    await ctx.jobs.runQueued();
  });
  return { text: opts.started };
}
