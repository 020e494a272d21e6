import type { DataLayer } from '../db/data-layer.js';
import type { Clock } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { Outbox } from '../outbox/outbox.js';
import type { MessageContent } from '../outbox/types.js';
import type { Executions } from '../core/executions.js';
import type { ChangeResult } from './lifecycle.js';
import { formatCount } from '../core/text.js';

/** The execution kind of a bulk change (`/waygate ack P1`, a storm's Acknowledge all P1). */
export const BULK_EXECUTION = 'incident-bulk';

/**
 * Incidents changed per transaction: a batch holds the event loop for about 15 ms, and between batches it
 * answers webhooks, clicks and /health. PagerDuty hears of each batch in one bulk update.
 */
export const BULK_BATCH = 100;

export interface BulkChangesOptions {
  data: DataLayer;
  clock: Clock;
  logger: Logger;
  executions: Executions;
  outbox: Outbox;
  /** Changes one batch in one transaction (the facade's acknowledge). */
  acknowledge: (ids: readonly string[], slackUser: string, responseUrl: string | undefined) => Promise<ChangeResult[]>;
}

export interface BulkRequest {
  ids: readonly string[];
  slackUser: string;
  responseUrl: string;
  /** What was asked for, for the record and for a report after a restart, e.g. "`/waygate ack P1`". */
  what: string;
  /** The outcome, posted to the response_url when every batch is done. */
  report: (results: ChangeResult[]) => MessageContent;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const capitalised = (text: string): string => `${text.charAt(0).toUpperCase()}${text.slice(1)}`;

/**
 * Changes to thousands of incidents at once, done in batches after the ack. The request is recorded as an
 * execution before the ack, so a restart in the middle is reported to whoever asked; what was done stands.
 */
export class BulkChanges {
  constructor(private readonly opts: BulkChangesOptions) {}

  /** Records the request (call before the ack); the returned function does the work and reports it. */
  async queue(request: BulkRequest): Promise<() => Promise<void>> {
    const { data, executions, clock } = this.opts;
    const id = await executions.queue(data.db, {
      kind: BULK_EXECUTION,
      name: request.what,
      trigger: 'manual',
      by: request.slackUser,
      at: clock.nowMs(),
      notify: { responseUrl: request.responseUrl },
    });
    return () => this.run(id, request);
  }

  private async run(id: number, request: BulkRequest): Promise<void> {
    const { data, clock, logger, executions, outbox, acknowledge } = this.opts;
    if (!(await executions.begin(data.db, id, clock.nowMs()))) return;
    const { ids, slackUser, responseUrl } = request;
    const results: ChangeResult[] = [];
    try {
      for (let i = 0; i < ids.length; i += BULK_BATCH) {
        if (i > 0) await yieldToEventLoop();
        // PagerDuty trouble is reported to the user once, with the first batch, not once per batch.
        results.push(...(await acknowledge(ids.slice(i, i + BULK_BATCH), slackUser, i === 0 ? responseUrl : undefined)));
      }
    } catch (err) {
      logger.error({ err, what: request.what, done: results.length, of: ids.length }, 'bulk change failed');
      await data.transaction(async (tx) => {
        await executions.finish(tx, id, clock.nowMs(), 'failed', `${results.length} of ${ids.length}`, (err as Error).message);
        await outbox.enqueue(tx, {
          kind: 'respond',
          payload: {
            responseUrl,
            text: `⚠️ ${capitalised(request.what)} stopped after ${formatCount(results.length)} of ${formatCount(ids.length)} incidents: something went wrong, and it has been logged. Those it got to stay acknowledged.`,
          },
        });
      });
      return;
    }
    const report = request.report(results);
    await data.transaction(async (tx) => {
      await executions.finish(tx, id, clock.nowMs(), 'ok', `${results.length} of ${ids.length}`, null);
      await outbox.enqueue(tx, { kind: 'respond', payload: { responseUrl, ...report } });
    });
  }

  /** At start-up: bulk changes the last process did not finish are reported to whoever asked. */
  async recover(): Promise<void> {
    const { data, clock, logger, executions, outbox } = this.opts;
    const unfinished = await data.transaction(async (tx) => {
      const now = clock.nowMs();
      const runs = await executions.interruptRunning(tx, BULK_EXECUTION, now);
      for (const queued of await executions.queued(tx, BULK_EXECUTION)) {
        await executions.failQueued(tx, queued.id, now, 'the bot stopped before this started');
        runs.push(queued);
      }
      for (const run of runs) {
        const responseUrl = run.notify?.responseUrl;
        if (!responseUrl) continue;
        await outbox.enqueue(tx, {
          kind: 'respond',
          payload: {
            responseUrl,
            text: `⚠️ Waygate restarted before it finished ${run.name}. The incidents it got to stay acknowledged; do it again to acknowledge the rest.`,
          },
        });
      }
      return runs.length;
    });
    if (unfinished > 0) logger.warn({ unfinished }, 'bulk incident changes interrupted by the last shutdown');
  }
}
