import type { JobDefinition } from '../src/jobs/types.js';
import type { JobContext } from '../src/context.js';

const DAY_MS = 86_400_000;
/** Delivered messages are only kept for debugging; a week covers any "did it post?" question. */
export const DELIVERED_RETENTION_MS = 7 * DAY_MS;
/** Job history feeds /health and the digest; 90 days covers a quarterly audit (SOP-COMP-001). */
export const JOB_RUN_RETENTION_MS = 90 * DAY_MS;
/** PagerDuty redelivers within hours; a month of seen event ids is ample for deduplication. */
export const WEBHOOK_EVENT_RETENTION_MS = 30 * DAY_MS;

export const housekeeping: JobDefinition<JobContext> = {
  name: 'housekeeping',
  description: "Prunes the bot's own store: delivered messages after 7 days, seen webhook ids after 30, job history after 90",
  defaultSchedule: '30 3 * * *',
  async run(ctx) {
    const now = ctx.clock.nowMs();
    const removed = await ctx.store.transaction(async (tx) => ({
      messages: await ctx.outbox.pruneDelivered(tx, DELIVERED_RETENTION_MS),
      history: await ctx.store.pruneHistory(tx, now - JOB_RUN_RETENTION_MS),
      webhookIds: await ctx.incidents.pruneInbox(tx, now - WEBHOOK_EVENT_RETENTION_MS),
      // Echoes and declarations PagerDuty never answered within a month will not be answered.
      slackChanges: await ctx.incidents.pruneSlackChanges(tx, now - WEBHOOK_EVENT_RETENTION_MS),
    }));
    ctx.store.checkpoint();
    return {
      summary: `removed ${removed.messages} delivered message(s), ${removed.webhookIds} old webhook id(s), ${removed.slackChanges} unanswered change record(s) sent to PagerDuty and ${removed.history.executions} old job run record(s)`,
    };
  },
};
