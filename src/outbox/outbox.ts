import type { Db } from '../db/database.js';
import type { Clock } from '../clock/clock.js';
import { OUTBOX_PRIORITY, type DeferredUpdatePayload, type OutboxItem, type OutboxRow } from './types.js';
import { lanes, type Lane } from '../core/keys.js';

/**
 * The write side of the transactional outbox. Call it inside the same db.transaction() as the state change
 * that causes the message: either both commit or neither does. The dispatcher is nudged once the current
 * synchronous work (and so the transaction) has finished.
 */
export class Outbox {
  private readonly insert;
  private readonly supersede;
  private readonly parentPriority;
  private readonly nudgeListeners = new Set<() => void>();
  private nudgeQueued = false;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {
    this.insert = db.prepare(
      `INSERT INTO outbox (lane, kind, payload, message_key, priority, next_attempt_at, created_at)
       VALUES (@lane, @kind, @payload, @messageKey, @priority, @now, @now)`,
    );
    this.supersede = db.prepare(
      `UPDATE outbox SET status = 'delivered', delivered_at = @now
       WHERE status = 'pending' AND kind = 'update' AND message_key = @messageKey AND lane = @lane`,
    );
    this.parentPriority = db
      .prepare(`SELECT priority FROM outbox WHERE status = 'pending' AND kind = 'post' AND message_key = ? ORDER BY id LIMIT 1`)
      .pluck();
  }

  enqueue(item: OutboxItem): number {
    const now = this.clock.nowMs();
    const lane = laneOf(item);
    const messageKey = item.kind === 'post' ? (item.messageKey ?? null) : item.kind === 'update' ? item.payload.messageKey : null;
    let priority: number = item.kind === 'update' ? OUTBOX_PRIORITY.refresh : item.kind === 'post' && item.urgent ? OUTBOX_PRIORITY.urgent : OUTBOX_PRIORITY.normal;
    if (item.kind === 'post' && item.payload.threadKey) {
      // A reply overtaking its parent would have no thread to go to.
      const parent = this.parentPriority.get(item.payload.threadKey) as number | undefined;
      if (parent !== undefined) priority = Math.min(priority, parent);
    }
    // The newest content of a message makes every older pending update of it pointless: a card refreshed
    // ten times while the channel is backed up is sent once.
    if (item.kind === 'update') this.supersede.run({ now, messageKey, lane });
    const info = this.insert.run({ lane, kind: item.kind, payload: JSON.stringify(item.payload), messageKey, priority, now });
    this.queueNudge();
    return Number(info.lastInsertRowid);
  }

  /** Registers the dispatcher's wake-up. */
  onEnqueue(listener: () => void): () => void {
    this.nudgeListeners.add(listener);
    return () => this.nudgeListeners.delete(listener);
  }

  /** For /health and /metrics: index lookups only, since delivered rows pile up between housekeeping runs. */
  stats(): { pending: number; oldestPendingAt: number | null; failed: number } {
    const row = this.db
      .prepare(
        `SELECT (SELECT COUNT(*) FROM outbox WHERE status = 'pending') AS pending,
                (SELECT MIN(created_at) FROM outbox WHERE status = 'pending') AS oldest,
                (SELECT COUNT(*) FROM outbox WHERE status = 'failed') AS failed`,
      )
      .get() as { pending: number; oldest: number | null; failed: number };
    return { pending: row.pending, oldestPendingAt: row.oldest, failed: row.failed };
  }

  pendingInLane(lane: Lane): number {
    return this.db.prepare(`SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND lane = ?`).pluck().get(lane) as number;
  }

  /** Urgent rows waiting in a lane, counted up to `atMost`: how long a new alert would wait there. */
  urgentPendingInLane(lane: Lane, atMost: number): number {
    return this.db
      .prepare(`SELECT id FROM outbox WHERE status = 'pending' AND lane = ? AND priority >= ${OUTBOX_PRIORITY.urgent} LIMIT ?`)
      .all(lane, atMost).length;
  }

  /**
   * Queues a deferred update unless one for the same message is already waiting: that one will render the
   * newest state anyway. Returns whether a row was added (it replaces a waiting update with fixed content).
   */
  enqueueDeferredUpdate(payload: DeferredUpdatePayload): boolean {
    const waiting = this.db
      .prepare(
        `SELECT 1 FROM outbox WHERE status = 'pending' AND kind = 'update' AND message_key = ? AND lane = ?
           AND json_extract(payload, '$.renderKey') IS NOT NULL LIMIT 1`,
      )
      .get(payload.messageKey, lanes.channel(payload.channel));
    if (waiting !== undefined) return false;
    this.enqueue({ kind: 'update', payload });
    return true;
  }

  /** A newer pending update of the same message makes an older one pointless (alert storms update often). */
  hasNewerUpdate(row: OutboxRow): boolean {
    return (
      this.db
        .prepare(
          `SELECT 1 FROM outbox WHERE status = 'pending' AND kind = 'update' AND message_key = ? AND lane = ? AND id > ? LIMIT 1`,
        )
        .get(row.message_key, row.lane, row.id) !== undefined
    );
  }

  /**
   * The next row of every lane: its most urgent pending row, the oldest of those. Only a lane's head may be
   * delivered; updates are the least urgent and replies no more urgent than their parent, so no message
   * overtakes the one it refers to.
   */
  laneHeads(): OutboxRow[] {
    return this.db
      .prepare(
        `SELECT o.id, o.lane, o.kind, o.payload, o.message_key, o.priority, o.attempts, o.next_attempt_at, o.created_at
         FROM (SELECT DISTINCT lane FROM outbox WHERE status = 'pending') l
         JOIN outbox o ON o.id = (SELECT id FROM outbox WHERE status = 'pending' AND lane = l.lane ORDER BY priority DESC, id LIMIT 1)`,
      )
      .all() as OutboxRow[];
  }

  /** Removes delivered rows older than the cut-off; pending and failed rows stay for inspection. */
  pruneDelivered(olderThanMs: number): number {
    return this.db
      .prepare(`DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < ?`)
      .run(this.clock.nowMs() - olderThanMs).changes;
  }

  private queueNudge(): void {
    if (this.nudgeQueued) return;
    this.nudgeQueued = true;
    // setImmediate, not a timer: this is "after the current transaction", not a point in time.
    setImmediate(() => {
      this.nudgeQueued = false;
      for (const listener of this.nudgeListeners) listener();
    });
  }
}

/** Messages to one Slack channel share a lane (order + pacing); each response_url is its own lane. */
export function laneOf(item: OutboxItem): Lane {
  switch (item.kind) {
    case 'post':
    case 'update':
    case 'ephemeral':
      return lanes.channel(item.payload.channel);
    case 'respond':
      return lanes.response(item.payload.responseUrl);
    case 'pd_status':
      return lanes.pagerDutyIncident(item.payload.incidentId);
    case 'pd_status_bulk':
      return lanes.pagerDutyBulk(item.payload.incidentIds[0] ?? '');
    case 'pd_event':
      return lanes.pagerDutyEvent(item.payload.dedup_key);
  }
}
