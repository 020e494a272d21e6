import { sql } from 'kysely';
import { isStorageError } from '../db/database.js';
import { run, type DataLayer, type Executor } from '../db/data-layer.js';
import type { Clock } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { IncidentEvent } from './events.js';
import type { Change, IncidentLifecycle } from './lifecycle.js';
import { WebhookInbox } from './webhook-inbox.js';

export interface IngestOptions {
  data: DataLayer;
  /** Where accepted events are applied: the leader's fenced layer (decision 021); default `data`. */
  applyData?: DataLayer;
  clock: Clock;
  logger: Logger;
  lifecycle: IncidentLifecycle;
  /** Acts on the changes of an applied event, inside its transaction `tx` (alerts, SLA deadlines). */
  follow: (tx: Executor, changes: readonly Change[], now: number) => Promise<void>;
  /** Called with the outcome of each applied inbox event (metrics). */
  onProcessed?: (result: string) => void;
}

/** What one slice of applying the inbox did. */
export interface InboxSlice {
  applied: number;
  /** False once the inbox was seen empty. */
  more: boolean;
}

/** PagerDuty events in: committed to the inbox before the 2xx, applied later in arrival order. */
export class IncidentIngest {
  readonly inbox: WebhookInbox;
  private readonly acceptedListeners: Array<() => void> = [];

  constructor(private readonly opts: IngestOptions) {
    this.inbox = new WebhookInbox(opts.data);
  }

  /**
   * Commits a verified webhook event to the inbox (before PagerDuty's 2xx) and wakes the processor.
   * A redelivered event id changes nothing.
   */
  async accept(event: IncidentEvent): Promise<'accepted' | 'duplicate'> {
    const fresh = await this.inbox.acceptSoon(event, this.opts.clock.nowMs());
    if (fresh) for (const listener of this.acceptedListeners) listener();
    return fresh ? 'accepted' : 'duplicate';
  }

  /** Calls `listener` after each new event was committed to the inbox (wakes the InboxProcessor). */
  onAccepted(listener: () => void): void {
    this.acceptedListeners.push(listener);
  }

  /**
   * Applies queued events in arrival order, in one transaction: up to `limit`, and no more once `budgetMs` of
   * the clock has passed (at least one, so the inbox always moves). `more` says whether events may be left.
   */
  async processInbox(limit: number, budgetMs = Number.POSITIVE_INFINITY): Promise<InboxSlice> {
    const { clock } = this.opts;
    const data = this.opts.applyData ?? this.opts.data;
    const started = clock.nowMs();
    return data.transaction(async (tx) => this.applySlice(tx, limit, budgetMs, started));
  }

  private async applySlice(tx: Executor, limit: number, budgetMs: number, started: number): Promise<InboxSlice> {
    const { clock, logger, lifecycle } = this.opts;
    const entries = await this.inbox.pending(tx, limit);
    let applied = 0;
    for (const { seq, event } of entries) {
      if (applied > 0 && clock.nowMs() - started >= budgetMs) return { applied, more: true };
      const now = clock.nowMs();
      let result: string;
      // A savepoint per event: one malformed event is recorded as failed without undoing the batch.
      await run(tx, sql`SAVEPOINT inbox_event`);
      try {
        const outcome = await lifecycle.applyEvent(tx, event, now);
        await this.opts.follow(tx, outcome.changes, now);
        result = outcome.result;
        await run(tx, sql`RELEASE SAVEPOINT inbox_event`);
      } catch (err) {
        // A damaged or full database is not this event's fault: roll the batch back so it stays queued.
        if (isStorageError(err)) throw err;
        await run(tx, sql`ROLLBACK TO SAVEPOINT inbox_event`);
        await run(tx, sql`RELEASE SAVEPOINT inbox_event`);
        logger.error({ err, eventId: event.eventId, type: event.type }, 'PagerDuty event could not be applied');
        result = `failed: ${(err as Error).message}`.slice(0, 500);
      }
      this.opts.onProcessed?.(result);
      await this.inbox.markProcessed(tx, seq, result, now);
      applied++;
    }
    return { applied, more: entries.length === limit };
  }
}
