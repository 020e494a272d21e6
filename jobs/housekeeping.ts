import type { JobDefinition } from '../src/jobs/types.js';
import { JobRunRepository } from '../src/jobs/job-runs.js';

const DAY_MS = 86_400_000;
/** Delivered messages are only kept for debugging; a week covers any "did it post?" question. */
export const DELIVERED_RETENTION_MS = 7 * DAY_MS;
/** Job history feeds /health and the digest; 90 days covers a quarterly audit (SOP-COMP-001). */
export const JOB_RUN_RETENTION_MS = 90 * DAY_MS;
/** PagerDuty redelivers within hours; a month of seen event ids is ample for deduplication. */
export const WEBHOOK_EVENT_RETENTION_MS = 30 * DAY_MS;

export const housekeeping: JobDefinition = {
  name: 'housekeeping',
  description: "Prunes the bot's own store: delivered messages after 7 days, seen webhook ids after 30, job history after 90",
  defaultSchedule: '30 3 * * *',
  run(ctx) {
    const removed = ctx.db.transaction(() => ({
      messages: ctx.outbox.pruneDelivered(DELIVERED_RETENTION_MS),
      runs: new JobRunRepository(ctx.db).pruneFinished(ctx.clock.nowMs() - JOB_RUN_RETENTION_MS),
      webhookIds: ctx.incidents.inbox.prune(ctx.clock.nowMs() - WEBHOOK_EVENT_RETENTION_MS),
    }))();
    ctx.db.pragma('wal_checkpoint(TRUNCATE)');
    return Promise.resolve({
      summary: `removed ${removed.messages} delivered message(s), ${removed.webhookIds} old webhook id(s) and ${removed.runs} old job run record(s)`,
    });
  },
};
