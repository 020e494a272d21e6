import { sql } from 'kysely';
import { DataLayer, afterCommit, all, first, run, type Executor } from '../db/data-layer.js';
import type { Clock } from '../clock/clock.js';
import { OUTBOX_PRIORITY, type DeferredUpdatePayload, type DeliveredMessage, type OutboxItem, type OutboxRow } from './types.js';
import { lanes, type Lane, type MessageKey } from '../core/keys.js';

const PRIORITIES_DESCENDING = Object.values(OUTBOX_PRIORITY).sort((a, b) => b - a);

/**
 * The write side of the transactional outbox. Call enqueue() with the transaction of the state change that
 * causes the message: either both commit or neither does. The dispatcher is nudged once it has committed.
 */
export class Outbox {
  private readonly nudgeListeners = new Set<() => void>();
  private nudgeQueued = false;

  constructor(
    private readonly data: DataLayer,
    private readonly clock: Clock,
  ) {
  }

  /**
   * Queues a message in the caller's transaction `ex`: it is sent only if that transaction commits, and the
   * dispatcher is woken once it has.
   */
  async enqueue(ex: Executor, item: OutboxItem): Promise<number> {
    const { now, lane, messageKey, payload } = this.describe(item);
    // Before the first write to the outbox's rows and counters, which the transaction then holds (PostgreSQL).
    await this.data.writerTurn(ex);
    let priority = basePriority(item);
    const threadKey = threadKeyOf(item);
    if (threadKey !== undefined) {
      const parent = await first(
        ex,
        sql<{ priority: number }>`SELECT priority FROM outbox WHERE status = 'pending' AND kind = 'post' AND message_key = ${threadKey} ORDER BY id LIMIT 1`,
      );
      if (parent !== undefined) priority = Math.min(priority, parent.priority);
    }
    if (item.kind === 'update') {
      const waiting = await first(
        ex,
        sql`SELECT 1 FROM outbox WHERE status = 'pending' AND kind = 'update' AND message_key = ${messageKey} AND lane = ${lane} LIMIT 1`,
      );
      if (waiting !== undefined) {
        await run(
          ex,
          sql`UPDATE outbox SET status = 'delivered', delivered_at = ${now}
              WHERE status = 'pending' AND kind = 'update' AND message_key = ${messageKey} AND lane = ${lane}`,
        );
      }
    }
    const row = await first(
      ex,
      sql<{ id: number }>`INSERT INTO outbox (lane, kind, payload, message_key, priority, next_attempt_at, created_at)
        VALUES (${lane}, ${item.kind}, ${payload}, ${messageKey}, ${priority}, ${now}, ${now}) RETURNING id`,
    );
    afterCommit(ex, () => this.queueNudge());
    return Number(row?.id);
  }

  private describe(item: OutboxItem): { now: number; lane: Lane; messageKey: string | null; payload: string } {
    const messageKey = item.kind === 'post' ? (item.messageKey ?? null) : item.kind === 'update' ? item.payload.messageKey : null;
    return { now: this.clock.nowMs(), lane: laneOf(item), messageKey, payload: JSON.stringify(item.payload) };
  }

  /** Registers the dispatcher's wake-up. */
  onEnqueue(listener: () => void): () => void {
    this.nudgeListeners.add(listener);
    return () => this.nudgeListeners.delete(listener);
  }

  /** Where the message posted under `key` ended up, once delivered. */
  delivered(key: MessageKey, ex: Executor = this.data.db): Promise<DeliveredMessage | undefined> {
    return first(ex, sql<DeliveredMessage>`SELECT channel, ts FROM slack_messages WHERE key = ${key}`);
  }

  /** For /health and /metrics: counters the schema keeps and one index seek, however long the backlog. */
  async stats(): Promise<{ pending: number; oldestPendingAt: number | null; failed: number }> {
    const row = await first(
      this.data.db,
      sql<{ pending: number | null; oldest: number | null; failed: number | null }>`SELECT
        (SELECT n FROM outbox_counts WHERE status = 'pending') AS pending,
        (SELECT MIN(created_at) FROM outbox WHERE status = 'pending') AS oldest,
        (SELECT n FROM outbox_counts WHERE status = 'failed') AS failed`,
    );
    return { pending: row?.pending ?? 0, oldestPendingAt: row?.oldest ?? null, failed: row?.failed ?? 0 };
  }

  async pendingInLane(lane: Lane, ex: Executor = this.data.db): Promise<number> {
    return (await first(ex, sql<{ pending: number }>`SELECT pending FROM outbox_lanes WHERE lane = ${lane}`))?.pending ?? 0;
  }

  /** Urgent rows waiting in a lane, counted up to `atMost`: how long a new alert would wait there. */
  async urgentPendingInLane(lane: Lane, atMost: number, ex: Executor = this.data.db): Promise<number> {
    return (await all(ex, sql`SELECT id FROM outbox WHERE status = 'pending' AND lane = ${lane} AND priority >= ${OUTBOX_PRIORITY.urgent} LIMIT ${atMost}`)).length;
  }

  /**
   * Queues a deferred update unless one for the same message is already waiting: that one will render the
   * newest state anyway. Returns whether a row was added (it replaces a waiting update with fixed content).
   */
  async enqueueDeferredUpdate(ex: Executor, payload: DeferredUpdatePayload): Promise<boolean> {
    const waiting = await first(
      ex,
      sql`SELECT 1 FROM outbox WHERE status = 'pending' AND kind = 'update' AND message_key = ${payload.messageKey}
            AND lane = ${lanes.channel(payload.channel)} AND ${this.data.jsonText('payload', 'renderKey')} IS NOT NULL LIMIT 1`,
    );
    if (waiting !== undefined) return false;
    await this.enqueue(ex, { kind: 'update', payload });
    return true;
  }

  /** A newer pending update of the same message makes an older one pointless (alert storms update often). */
  async hasNewerUpdate(row: OutboxRow): Promise<boolean> {
    const newer = await first(
      this.data.db,
      sql`SELECT 1 FROM outbox WHERE status = 'pending' AND kind = 'update' AND message_key = ${row.message_key} AND lane = ${row.lane} AND id > ${row.id} LIMIT 1`,
    );
    return newer !== undefined;
  }

  /**
   * Up to `limit` lanes with rows waiting that may send at `now`: those holding urgent rows first, then by
   * how long they have been ready. One index range per priority.
   */
  async readyLanes(now: number, limit: number): Promise<string[]> {
    const found: string[] = [];
    for (const priority of PRIORITIES_DESCENDING) {
      if (found.length >= limit) break;
      const rows = await all(
        this.data.db,
        sql<{ lane: string }>`SELECT lane FROM outbox_lanes WHERE top_priority = ${priority} AND ready_at <= ${now} ORDER BY ready_at LIMIT ${limit - found.length}`,
      );
      for (const row of rows) found.push(row.lane);
    }
    return found;
  }

  /**
   * A lane's next row: its most urgent pending row, the oldest of those. Only that row may be sent; updates
   * are the least urgent and replies no more urgent than their parent, so no message overtakes the one it
   * refers to.
   */
  async nextRow(lane: string, ex: Executor = this.data.db): Promise<OutboxRow | undefined> {
    return first(
      ex,
      sql<OutboxRow>`SELECT id, lane, kind, payload, message_key, priority, attempts, next_attempt_at, created_at
        FROM outbox WHERE status = 'pending' AND lane = ${lane} ORDER BY priority DESC, id LIMIT 1`,
    );
  }

  /**
   * For a lane its counters call ready but that had no pending row: the counters were out of step with the rows,
   * which are what counts, so they are reset. Looked at again in the writers' turn, when no transaction is
   * queueing (on PostgreSQL a row committed between the look and the reset would otherwise be counted away,
   * and wait forever). Resolves to whether the lane was reset.
   */
  async resetIfEmpty(lane: string): Promise<boolean> {
    return this.data.transaction(async (tx) => {
      await this.data.writerTurn(tx);
      if ((await this.nextRow(lane, tx)) !== undefined) return false;
      await run(tx, sql`UPDATE outbox_lanes SET pending = 0, top_priority = NULL, ready_at = NULL, waiting_priority = NULL WHERE lane = ${lane}`);
      return true;
    });
  }

  /** The earliest time after `now` at which a lane with rows waiting may send, or null. */
  async nextReadyAt(now: number): Promise<number | null> {
    let earliest: number | null = null;
    for (const priority of PRIORITIES_DESCENDING) {
      const at = (await first(this.data.db, sql<{ at: number | null }>`SELECT MIN(ready_at) AS at FROM outbox_lanes WHERE top_priority = ${priority} AND ready_at > ${now}`))?.at ?? null;
      if (at !== null && (earliest === null || at < earliest)) earliest = at;
    }
    return earliest;
  }

  /** Removes delivered rows older than the cut-off; pending and failed rows stay for inspection. */
  async pruneDelivered(ex: Executor, olderThanMs: number): Promise<number> {
    const cutOff = this.clock.nowMs() - olderThanMs;
    // Lanes idle since the cut-off (every response_url is one) have no pacing left to remember.
    await run(ex, sql`DELETE FROM outbox_lanes WHERE ready_at IS NULL AND paced_until < ${cutOff}`);
    return run(ex, sql`DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < ${cutOff}`);
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

function basePriority(item: OutboxItem): number {
  if (item.kind === 'update') return OUTBOX_PRIORITY.refresh;
  return item.kind === 'post' && item.urgent ? OUTBOX_PRIORITY.urgent : OUTBOX_PRIORITY.normal;
}

/** The message a post or upload replies under, if any. */
function threadKeyOf(item: OutboxItem): string | undefined {
  return (item.kind === 'post' || item.kind === 'file_upload') && item.payload.threadKey ? item.payload.threadKey : undefined;
}

/** Messages to one Slack channel share a lane (order + pacing); each response_url is its own lane. */
export function laneOf(item: OutboxItem): Lane {
  switch (item.kind) {
    case 'post':
    case 'update':
    case 'ephemeral':
    case 'file_upload':
      return lanes.channel(item.payload.channel);
    case 'respond':
      return lanes.response(item.payload.responseUrl);
    case 'pd_status':
      return lanes.pagerDutyIncident(item.payload.incidentId);
    case 'pd_change':
      // Behind any acknowledgement or resolution of the same incident made before it.
      return lanes.pagerDutyIncident(item.payload.incidentId);
    case 'pd_status_bulk':
      return lanes.pagerDutyBulk(item.payload.incidentIds[0] ?? '');
    case 'pd_event':
      return lanes.pagerDutyEvent(item.payload.dedup_key);
  }
}
