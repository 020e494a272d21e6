import { sql } from 'kysely';
import { all, first, run, type DataLayer, type Executor } from '../db/data-layer.js';
import type { IncidentEvent } from './events.js';

export interface InboxEntry {
  seq: number;
  event: IncidentEvent;
}

const oldestPending = sql<{ received_at: number }>`SELECT received_at FROM webhook_inbox WHERE processed_at IS NULL ORDER BY seq LIMIT 1`;
const countPending = sql<{ n: number }>`SELECT COUNT(*) AS n FROM webhook_inbox WHERE processed_at IS NULL`;
/** Rows per INSERT of a group commit: 3 parameters each, far below either database's limit per statement. */
const INSERT_ROWS = 500;

/**
 * The transactional inbox for PagerDuty webhooks: one indexed insert per delivery, committed before the
 * 2xx, so ingest costs about what verifying and storing the event costs. Applying events to incidents
 * happens after, in batches, in arrival order (InboxProcessor).
 */
export class WebhookInbox {
  constructor(private readonly data: DataLayer) {}

  /** True for a new event; false when this event id was delivered before (a redelivery). */
  async accept(ex: Executor, event: IncidentEvent, now: number): Promise<boolean> {
    const changed = await run(
      ex,
      sql`INSERT INTO webhook_inbox (event_id, event, received_at) VALUES (${event.eventId}, ${JSON.stringify(event)}, ${now})
          ON CONFLICT (event_id) DO NOTHING`,
    );
    return changed === 1;
  }

  private queued: Array<{ event: IncidentEvent; now: number; resolve: (fresh: boolean) => void; reject: (err: unknown) => void }> = [];

  /**
   * Group commit: deliveries that arrive in the same turn of the event loop are inserted together, and each
   * promise settles only after that commit. A webhook therefore still gets its 2xx only once its event is
   * durable, while a burst shares one commit instead of paying one each. One multi-row statement, not a
   * statement per event: on PostgreSQL each statement is a round trip to the server.
   */
  acceptSoon(event: IncidentEvent, now: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.queued.push({ event, now, resolve, reject }) === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queued;
    this.queued = [];
    let fresh: boolean[];
    try {
      // One statement commits by itself; a larger burst takes several, in one transaction.
      fresh =
        batch.length <= INSERT_ROWS
          ? await this.insert(this.data.db, batch)
          : await this.data.transaction(async (tx) => {
              const accepted: boolean[] = [];
              for (let i = 0; i < batch.length; i += INSERT_ROWS) accepted.push(...(await this.insert(tx, batch.slice(i, i + INSERT_ROWS))));
              return accepted;
            });
    } catch (err) {
      for (const q of batch) q.reject(err);
      return;
    }
    batch.forEach((q, i) => q.resolve(fresh[i] ?? false));
  }

  /** Inserts the events in order; true for each one that is new (the first of two with one event id in a batch). */
  private async insert(ex: Executor, rows: ReadonlyArray<{ event: IncidentEvent; now: number }>): Promise<boolean[]> {
    const values = sql.join(rows.map((q) => sql`(${q.event.eventId}, ${JSON.stringify(q.event)}, ${q.now})`));
    const inserted = await all(
      ex,
      sql<{ event_id: string }>`INSERT INTO webhook_inbox (event_id, event, received_at) VALUES ${values}
          ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
    );
    const fresh = new Set(inserted.map((r) => r.event_id));
    return rows.map((q) => fresh.delete(q.event.eventId));
  }

  async pending(ex: Executor, limit: number): Promise<InboxEntry[]> {
    const rows = await all(ex, sql<{ seq: number; event: string }>`SELECT seq, event FROM webhook_inbox WHERE processed_at IS NULL ORDER BY seq LIMIT ${limit}`);
    return rows.map((r) => ({ seq: r.seq, event: JSON.parse(r.event) as IncidentEvent }));
  }

  async markProcessed(ex: Executor, seq: number, result: string, now: number): Promise<void> {
    await run(ex, sql`UPDATE webhook_inbox SET processed_at = ${now}, result = ${result} WHERE seq = ${seq}`);
  }

  /** When the oldest event still waiting to be applied was accepted, or null when none waits. */
  async oldestPendingAt(ex: Executor = this.data.db): Promise<number | null> {
    return (await first(ex, oldestPending))?.received_at ?? null;
  }

  async pendingCount(ex: Executor = this.data.db): Promise<number> {
    return Number((await first(ex, countPending))?.n ?? 0);
  }

  /** Processed entries older than the cut-off; unprocessed ones are never deleted. */
  async prune(ex: Executor, olderThan: number): Promise<number> {
    return run(ex, sql`DELETE FROM webhook_inbox WHERE processed_at IS NOT NULL AND received_at < ${olderThan}`);
  }
}
