import { isStorageError, type Db } from '../db/database.js';
import type { Clock } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { IncidentEvent } from './events.js';
import type { Change, IncidentLifecycle } from './lifecycle.js';
import { WebhookInbox } from './webhook-inbox.js';

export interface IngestOptions {
  db: Db;
  clock: Clock;
  logger: Logger;
  lifecycle: IncidentLifecycle;
  /** Acts on the changes of an applied event, inside its transaction (alerts, SLA deadlines). */
  follow: (changes: readonly Change[], now: number) => void;
  /** Called with the outcome of each applied inbox event (metrics). */
  onProcessed?: (result: string) => void;
}

/** PagerDuty events in: committed to the inbox before the 2xx, applied later in arrival order. */
export class IncidentIngest {
  readonly inbox: WebhookInbox;
  private readonly acceptedListeners: Array<() => void> = [];

  constructor(private readonly opts: IngestOptions) {
    this.inbox = new WebhookInbox(opts.db);
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

  /** Applies up to `limit` queued events in arrival order, in one transaction; returns how many. */
  processInbox(limit: number): number {
    const { db, clock, logger, lifecycle } = this.opts;
    const now = clock.nowMs();
    return db.transaction(() => {
      const entries = this.inbox.pending(limit);
      for (const { seq, event } of entries) {
        let result: string;
        try {
          // A savepoint per event: one malformed event is recorded as failed without undoing the batch.
          result = db.transaction(() => {
            const applied = lifecycle.applyEvent(event, now);
            this.opts.follow(applied.changes, now);
            return applied.result;
          })();
        } catch (err) {
          // A damaged or full database is not this event's fault: roll the batch back so it stays queued.
          if (isStorageError(err)) throw err;
          logger.error({ err, eventId: event.eventId, type: event.type }, 'PagerDuty event could not be applied');
          result = `failed: ${(err as Error).message}`.slice(0, 500);
        }
        this.opts.onProcessed?.(result);
        this.inbox.markProcessed(seq, result, now);
      }
      return entries.length;
    })();
  }
}
