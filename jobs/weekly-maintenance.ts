import { DateTime } from 'luxon';
import type { JobDefinition, JobRunInfo } from '../src/jobs/types.js';
import type { JobContext } from '../src/context.js';
import type { OutboxItem } from '../src/outbox/types.js';
import { ReportedJobFailure } from '../src/jobs/reported-failure.js';
import { escapeMrkdwn, oneLine, truncate } from '../src/core/text.js';
import { messageKeys } from '../src/core/keys.js';
import { collectReview, renderReview, reviewChartData, type ReviewData } from '../src/maintenance/performance-review.js';
import { renderReviewChart } from '../src/maintenance/review-chart.js';

/**
 * SOP-MAINT-002 step 5: the performance review and its chart, as outbox items for `channel`. The chart goes
 * in the review's thread; a chart that cannot be drawn leaves the review standing and says why.
 */
async function performanceReview(ctx: JobContext & JobRunInfo, channel: string): Promise<OutboxItem[]> {
  const now = ctx.clock.nowMs();
  const data: ReviewData = collectReview(
    // The review's sources are still synchronous (collectReview).
    { service: (from, until) => ctx.health.figures(from, until), incidents: (from, until) => ctx.incidents.responseFiguresSync(from, until) },
    now,
    ctx.config.file.timezone,
  );
  const key = messageKeys.review(ctx.runId);
  let png: Buffer;
  try {
    png = await renderReviewChart(reviewChartData(data));
  } catch (err) {
    ctx.logger.error({ err }, 'weekly review chart could not be drawn');
    const note = `⚠️ The chart could not be drawn: ${escapeMrkdwn(truncate(oneLine((err as Error).message), 200))}`;
    return [{ kind: 'post', payload: { channel, ...renderReview(data, note) }, messageKey: key }];
  }
  const date = DateTime.fromMillis(now, { zone: ctx.config.file.timezone }).toFormat('yyyy-LL-dd');
  return [
    { kind: 'post', payload: { channel, ...renderReview(data) }, messageKey: key },
    {
      kind: 'file_upload',
      payload: {
        channel,
        threadKey: key,
        filename: `waygate-weekly-review-${date}.png`,
        title: `Weekly performance review ${date}`,
        altText: 'Uptime per day as lines and incidents opened per day as bars, this week against last week',
        contentBase64: png.toString('base64'),
      },
    },
  ];
}

export const weeklyMaintenance: JobDefinition<JobContext> = {
  name: 'weekly-maintenance',
  description: 'SOP-MAINT-002: VACUUM and ANALYZE the service database, list outdated dependencies, post the weekly performance review',
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
    let review: OutboxItem[] = [];
    let reviewProblem: string | null = null;
    if (channels.ops) {
      try {
        review = await performanceReview(ctx, channels.ops);
      } catch (err) {
        reviewProblem = (err as Error).message;
        parts.push(`❌ *Performance review* could not be made: ${escapeMrkdwn(reviewProblem)}`);
      }
    }
    const text = `🧰 *Weekly maintenance*\n${parts.join('\n')}`;
    const ops = channels.ops;
    // One transaction: the report, the review and its chart are queued together, in that order.
    if (ops) {
      await ctx.store.transaction(async (tx) => {
        for (const item of [{ kind: 'post', payload: { channel: ops, text } } as OutboxItem, ...review]) await ctx.outbox.enqueue(tx, item);
      });
    }
    const problem = databaseProblem ? `database maintenance failed: ${databaseProblem}` : reviewProblem ? `performance review failed: ${reviewProblem}` : null;
    if (problem) throw ops ? new ReportedJobFailure(problem) : new Error(problem);
    const reviewed = ops ? '; performance review posted' : '; no ops channel for the performance review';
    return { summary: `database maintained; outdated check ${outdated.result.ok ? 'ran' : 'failed'}${reviewed}` };
  },
};
