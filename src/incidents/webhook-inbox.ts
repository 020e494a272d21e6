import type { Db } from '../db/database.js';
import type { IncidentEvent } from './events.js';

export interface InboxEntry {
  seq: number;
  event: IncidentEvent;
}

/**
 * The transactional inbox for PagerDuty webhooks: one indexed insert per delivery, committed before the
 * 2xx, so ingest costs about what verifying and storing the event costs. Applying events to incidents
 * happens after, in batches, in arrival order (InboxProcessor).
 */
export class WebhookInbox {
  private readonly insert;
  private readonly pendingStmt;
  private readonly markStmt;
  private readonly countStmt;
  private readonly oldestStmt;

  constructor(private readonly db: Db) {
    this.insert = db.prepare('INSERT OR IGNORE INTO webhook_inbox (event_id, event, received_at) VALUES (?, ?, ?)');
    this.pendingStmt = db.prepare('SELECT seq, event FROM webhook_inbox WHERE processed_at IS NULL ORDER BY seq LIMIT ?');
    this.markStmt = db.prepare('UPDATE webhook_inbox SET processed_at = ?, result = ? WHERE seq = ?');
    this.countStmt = db.prepare('SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL').pluck();
    this.oldestStmt = db.prepare('SELECT received_at FROM webhook_inbox WHERE processed_at IS NULL ORDER BY seq LIMIT 1').pluck();
  }

  /** True for a new event; false when this event id was delivered before (a redelivery). */
  accept(event: IncidentEvent, now: number): boolean {
    return this.insert.run(event.eventId, JSON.stringify(event), now).changes === 1;
  }

  private queued: Array<{ event: IncidentEvent; now: number; resolve: (fresh: boolean) => void; reject: (err: unknown) => void }> = [];

  /**
   * Group commit: deliveries that arrive in the same turn of the event loop are inserted in one
   * transaction, and each promise settles only after that commit. A webhook therefore still gets its 2xx
   * only once its event is durable, while a burst shares one WAL commit instead of paying one each.
   */
  acceptSoon(event: IncidentEvent, now: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.queued.push({ event, now, resolve, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queued;
    this.queued = [];
    let fresh: boolean[];
    try {
      fresh = this.db.transaction(() => batch.map((q) => this.accept(q.event, q.now)))();
    } catch (err) {
      for (const q of batch) q.reject(err);
      return;
    }
    batch.forEach((q, i) => q.resolve(fresh[i] ?? false));
  }

  pending(limit: number): InboxEntry[] {
    return (this.pendingStmt.all(limit) as Array<{ seq: number; event: string }>).map((r) => ({
      seq: r.seq,
      event: JSON.parse(r.event) as IncidentEvent,
    }));
  }

  markProcessed(seq: number, result: string, now: number): void {
    this.markStmt.run(now, result, seq);
  }

  /** When the oldest event still waiting to be applied was accepted, or null when none waits. */
  oldestPendingAt(): number | null {
    return (this.oldestStmt.get() as number | undefined) ?? null;
  }

  pendingCount(): number {
    return this.countStmt.get() as number;
  }

  /** Processed entries older than the cut-off; unprocessed ones are never deleted. */
  prune(olderThan: number): number {
    return this.db.prepare('DELETE FROM webhook_inbox WHERE processed_at IS NOT NULL AND received_at < ?').run(olderThan).changes;
  }
}
