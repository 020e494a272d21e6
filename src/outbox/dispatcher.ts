import { sql } from 'kysely';
import { DataLayer, first, run, type Executor } from '../db/data-layer.js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { Outbox } from './outbox.js';
import type { MessageSender, PagerDutyBulkStatusSender, PagerDutyChangeSender, PagerDutyEventSender, PagerDutyStatusSender } from './slack-delivery.js';
import {
  DeliveryError,
  type DeferredUpdatePayload,
  type DeliveredMessage,
  type DeliveryFailure,
  type FileUploadPayload,
  type FileUploadProgress,
  type MessageContent,
  type OutboxRow,
  type UpdatePayload,
} from './types.js';

export interface DispatcherOptions {
  data: DataLayer;
  outbox: Outbox;
  sender: MessageSender;
  /** Absent when PagerDuty is not configured: such rows then fail with that reason. */
  pagerDuty?: PagerDutyStatusSender;
  pagerDutyBulk?: PagerDutyBulkStatusSender;
  pagerDutyEvents?: PagerDutyEventSender;
  pagerDutyChange?: PagerDutyChangeSender;
  /** Renders a deferred update's content at send time; null when there is nothing to show any more. */
  renderDeferred?: (renderKey: string) => MessageContent | null | Promise<MessageContent | null>;
  clock: Clock;
  logger: Logger;
  /** Minimum gap between two sends in one channel lane. */
  paceMs: number;
  maxBackoffMs: number;
  giveUpAfterMs: number;
  /** Lanes delivered at the same time. */
  concurrency?: number;
  /**
   * Asked just before each send: false when this process may no longer deliver (a replica that lost the lease,
   * decision 021). The row stays pending for the leader.
   */
  mayDeliver?: () => boolean;
  onDelivered?: (row: OutboxRow) => void;
  /** `final` when the row was given up (permanent failure or too old), not just rescheduled. */
  onFailure?: (row: OutboxRow, failure: DeliveryFailure, final: boolean) => void;
}

/** Slack's response_url stops working 30 minutes after the interaction. */
const RESPONSE_URL_LIFETIME_MS = 30 * 60_000;
/** After the database refused the dispatcher's own reads or writes, pause this long, doubling up to the max. */
const FIRST_PAUSE_MS = 1_000;
const MAX_PAUSE_MS = 60_000;

export interface DispatcherStatus {
  /** Why the dispatcher could not read or record its rows; null once it can again. Delivery failures are the rows'. */
  lastError: string | null;
  lastErrorAt: number | null;
}

/** This process may no longer deliver (it lost the leader lease); the row is left to the leader. */
class NotLeading extends Error {
  constructor() {
    super('this replica no longer leads');
  }
}

export function backoffMs(attempt: number, maxMs: number): number {
  return Math.min(maxMs, 1000 * 2 ** Math.max(0, attempt - 1));
}

/**
 * Delivers outbox rows: per lane one at a time, most urgent first and in id order within a priority, paced;
 * lanes run side by side. All scheduling state lives in the database (rows: attempts, next_attempt_at;
 * outbox_lanes: pace and backoff), so a restart resumes where the last commit left off, and each pump costs
 * index seeks for the lanes it serves, never a pass over the backlog or over waiting lanes.
 */
export class OutboxDispatcher {
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  private running = false;
  private pumpQueued = false;
  private unsubscribe: (() => void) | undefined;
  /** The database refused the dispatcher: nothing is sent before this time. */
  private pausedUntil = 0;
  private pauseMs = FIRST_PAUSE_MS;
  private error: DispatcherStatus & { source: 'pump' | 'record' | null } = { lastError: null, lastErrorAt: null, source: null };
  /** Rows Slack or PagerDuty took whose delivery could not be written down yet: recorded, never sent again. */
  private readonly unrecorded = new Map<number, { at: number; delivered: DeliveredMessage | undefined }>();
  private readonly data: DataLayer;
  /** The pump in progress, if any; a nudge while it runs asks for one more pass after it. */
  private pumping: Promise<void> | undefined;
  private pumpAgain = false;
  /** Deliveries finished so far, and the count when each lane's last one finished. */
  private finished = 0;
  private readonly laneFinished = new Map<string, number>();

  constructor(private readonly opts: DispatcherOptions) {
    this.data = opts.data;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      // Pace and backoff waits are kept across restarts only in the rows: every lane starts ready, as Slack's
      // burst allowance absorbs, and a row still backing off holds its lane again at the first look.
      await run(
        this.data.db,
        sql`UPDATE outbox_lanes SET paced_until = 0, ready_at = CASE WHEN pending > 0 THEN 0 ELSE NULL END, waiting_priority = NULL
            WHERE paced_until <> 0 OR ready_at <> 0 OR waiting_priority IS NOT NULL`,
      );
    } catch (err) {
      this.refused('pump', err); // the lanes keep their old waits; the first pump that gets through moves on
    }
    this.unsubscribe = this.opts.outbox.onEnqueue(() => this.nudge());
    this.nudge();
  }

  /** Stops taking new rows and waits for deliveries already on the wire. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.timer?.cancel();
    this.timer = undefined;
    await this.pumping;
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** True while any delivery is on the wire (tests and shutdown wait on it). */
  busy(): boolean {
    return this.inFlight.size > 0 || this.pumpQueued || this.pumping !== undefined;
  }

  /** Shown on /health: the dispatcher itself is stuck, whatever the rows say. */
  status(): DispatcherStatus {
    return { lastError: this.error.lastError, lastErrorAt: this.error.lastErrorAt };
  }

  /** The next time a pending row becomes deliverable, or null when nothing waits. */
  nextWakeAt(): number | null {
    return Number.isFinite(this.timerAt) ? this.timerAt : null;
  }

  nudge(): void {
    if (!this.running || this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pumpSerially();
    });
  }

  /** One pump at a time: the lanes it reads must not be handed out twice. */
  private pumpSerially(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = (async () => {
      do {
        this.pumpAgain = false;
        await this.pump();
      } while (this.pumpAgain && this.running);
    })().finally(() => {
      this.pumping = undefined;
    });
  }

  /**
   * Starts deliveries on the lanes that may send now, up to the concurrency limit. A lane whose next row is
   * still backing off is held until then and not looked at again before; lanes in flight and lanes waiting
   * cost nothing here. Deliveries nudge when they finish; the timer covers the earliest waiting lane.
   */
  private async pump(): Promise<void> {
    if (!this.running) return;
    const { outbox, clock } = this.opts;
    const now = clock.nowMs();
    if (now < this.pausedUntil) {
      this.armTimer(this.pausedUntil);
      return;
    }
    const limit = this.opts.concurrency ?? 16;
    let wakeAt: number | null;
    try {
      for (let progressed = true; progressed && this.inFlight.size < limit; ) {
        progressed = false;
        // In-flight lanes may fill part of the answer; `limit` rows always leave room for the free slots.
        const finishedBefore = this.finished;
        for (const lane of await outbox.readyLanes(now, limit)) {
          if (this.inFlight.size >= limit) break;
          if (this.inFlight.has(lane)) continue;
          // A delivery on the lane that finished after the lanes were read has paced it since (on PostgreSQL the
          // read takes a round trip): the nudge it sent looks again.
          if ((this.laneFinished.get(lane) ?? -1) >= finishedBefore) continue;
          progressed = true;
          const row = await outbox.nextRow(lane);
          if (!row) {
            // Its count was out of step with the rows, which are what counts.
            await outbox.resetIfEmpty(lane);
            continue;
          }
          if (row.next_attempt_at > now) {
            await this.holdLane(this.data.db, lane, row.next_attempt_at, row.priority);
            continue;
          }
          const delivery = this.deliver(row).finally(() => {
            this.laneFinished.set(lane, this.finished++);
            this.inFlight.delete(lane);
            this.nudge();
          });
          this.inFlight.set(lane, delivery);
        }
      }
      wakeAt = await outbox.nextReadyAt(now);
    } catch (err) {
      this.refused('pump', err);
      return;
    }
    if (this.error.source === 'pump') this.recovered();
    this.armTimer(wakeAt ?? Infinity);
  }

  private armTimer(at: number): void {
    if (at === this.timerAt) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = at;
    if (!Number.isFinite(at)) return;
    this.timer = this.opts.clock.setTimer(at - this.opts.clock.nowMs(), () => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.nudge();
    });
  }

  /**
   * The database refused the dispatcher's own bookkeeping (damaged, full, read-only): say so on /health and
   * pause everything with a growing back-off instead of spinning on the same row.
   */
  private refused(source: 'pump' | 'record', err: unknown): void {
    const now = this.opts.clock.nowMs();
    this.opts.logger.error({ err, retryInMs: this.pauseMs }, 'outbox dispatcher cannot use the database');
    this.error = { lastError: (err as Error).message, lastErrorAt: now, source };
    this.pausedUntil = now + this.pauseMs;
    this.pauseMs = Math.min(this.pauseMs * 2, MAX_PAUSE_MS);
    this.armTimer(this.pausedUntil);
  }

  private recovered(): void {
    this.error = { lastError: null, lastErrorAt: null, source: null };
    this.pauseMs = FIRST_PAUSE_MS;
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const { clock, logger } = this.opts;
    const taken = this.unrecorded.get(row.id);
    if (taken) {
      await this.record(() => this.recordDelivered(row, taken.at, taken.delivered));
      return;
    }
    let superseded: boolean;
    try {
      superseded = row.kind === 'update' && (await this.opts.outbox.hasNewerUpdate(row));
    } catch (err) {
      this.refused('record', err);
      return;
    }
    // Superseded: the newer update carries this content too.
    if (superseded) {
      await this.record(() => this.recordDelivered(row, clock.nowMs(), undefined, false));
      return;
    }
    let delivered: DeliveredMessage | undefined;
    try {
      this.stillLeading();
      delivered = await this.send(row);
    } catch (err) {
      // Not a failure of the row: the replica that leads now delivers it.
      if (err instanceof NotLeading) return;
      const failure: DeliveryFailure =
        err instanceof DeliveryError ? err.failure : { kind: 'retryable', detail: (err as Error).message };
      logger.warn(
        { outboxId: row.id, lane: row.lane, kind: row.kind, attempts: row.attempts + 1, failure },
        'outbox delivery failed',
      );
      let final = false;
      if (!(await this.record(async () => void (final = await this.recordFailure(row, failure))))) return;
      this.opts.onFailure?.(row, failure, final);
      return;
    }
    const at = clock.nowMs();
    this.unrecorded.set(row.id, { at, delivered });
    await this.record(() => this.recordDelivered(row, at, delivered));
  }

  /** Runs a write of the dispatcher's own; false when the database refused it (the dispatcher then pauses). */
  private async record(write: () => Promise<void>): Promise<boolean> {
    try {
      await write();
    } catch (err) {
      this.refused('record', err);
      return false;
    }
    if (this.error.source === 'record') this.recovered();
    return true;
  }

  /** `sent` is false for a row superseded before it went out: nothing was sent, so the lane need not wait. */
  private async recordDelivered(row: OutboxRow, at: number, delivered: DeliveredMessage | undefined, sent = true): Promise<void> {
    await this.data.transaction(async (tx) => {
      // Before the row and the counters its change updates, as every writer of the outbox (DataLayer.writerTurn).
      await this.data.writerTurn(tx);
      // Only pending rows: a newer update of the same message may have superseded a row while it was on the wire.
      await run(tx, sql`UPDATE outbox SET status = 'delivered', delivered_at = ${at}, attempts = attempts + 1, last_error = NULL WHERE id = ${row.id} AND status = 'pending'`);
      if (delivered && row.message_key) {
        await run(
          tx,
          sql`INSERT INTO slack_messages (key, channel, ts, created_at) VALUES (${row.message_key}, ${delivered.channel}, ${delivered.ts}, ${at})
              ON CONFLICT (key) DO UPDATE SET channel = excluded.channel, ts = excluded.ts, created_at = excluded.created_at`,
        );
      }
      if (sent) await this.paceLane(tx, row.lane, at + (row.lane.startsWith('channel:') ? this.opts.paceMs : 0));
    });
    this.unrecorded.delete(row.id);
    this.opts.onDelivered?.(row);
  }

  /** No send on the lane before `until`; a lane emptied by this very delivery stays out of the ready index until its next row comes. */
  private async paceLane(ex: Executor, lane: string, until: number): Promise<void> {
    // The casts tell PostgreSQL the type of a parameter that only a CASE uses (it would guess text).
    await run(ex, sql`UPDATE outbox_lanes SET paced_until = ${until}, ready_at = CASE WHEN pending > 0 THEN CAST(${until} AS BIGINT) ELSE NULL END, waiting_priority = NULL WHERE lane = ${lane}`);
  }

  /** Until the row's backoff ends; a more urgent row queued meanwhile clears this (see the outbox triggers). */
  private async holdLane(ex: Executor, lane: string, until: number, priority: number): Promise<void> {
    await run(
      ex,
      sql`UPDATE outbox_lanes SET ready_at = CASE WHEN paced_until > CAST(${until} AS BIGINT) THEN paced_until ELSE CAST(${until} AS BIGINT) END, waiting_priority = ${priority} WHERE lane = ${lane}`,
    );
  }

  /** Records the failure; true when the row is given up for good. */
  private async recordFailure(row: OutboxRow, failure: DeliveryFailure): Promise<boolean> {
    const now = this.opts.clock.nowMs();
    const expired = now - row.created_at > this.opts.giveUpAfterMs;
    if (failure.kind === 'permanent' || (failure.kind === 'retryable' && expired)) {
      const reason = expired ? `gave up: ${failure.detail}` : failure.detail;
      await this.data.transaction(async (tx) => {
        await this.data.writerTurn(tx);
        await run(tx, sql`UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ${reason} WHERE id = ${row.id} AND status = 'pending'`);
      });
      return true;
    }
    const retry = (tx: Executor, attempts: number, at: number): Promise<number> =>
      run(tx, sql`UPDATE outbox SET attempts = attempts + ${attempts}, next_attempt_at = ${at}, last_error = ${failure.detail} WHERE id = ${row.id} AND status = 'pending'`);
    await this.data.transaction(async (tx) => {
      await this.data.writerTurn(tx);
      if (failure.kind === 'rate_limited') {
        // Slack asked the whole lane to wait, however urgent the next row; not the row's fault, so no attempt.
        await this.paceLane(tx, row.lane, now + failure.retryAfterMs);
        await retry(tx, 0, now + failure.retryAfterMs);
        return;
      }
      const retryAt = now + backoffMs(row.attempts + 1, this.opts.maxBackoffMs);
      // A row superseded while on the wire holds nothing back: its replacement may go.
      if ((await retry(tx, 1, retryAt)) > 0) await this.holdLane(tx, row.lane, retryAt, row.priority);
    });
    return false;
  }

  private async send(row: OutboxRow): Promise<DeliveredMessage | undefined> {
    const { sender } = this.opts;
    const payload = JSON.parse(row.payload) as Record<string, unknown>;
    switch (row.kind) {
      case 'post': {
        const p = payload as unknown as Parameters<MessageSender['post']>[0];
        const thread = p.threadKey ? await this.lookup(p.threadKey) : undefined;
        if (p.threadKey && !thread) {
          throw new DeliveryError({ kind: 'permanent', detail: `thread parent ${p.threadKey} was never delivered` });
        }
        this.stillLeading();
        return sender.post(p, thread?.ts);
      }
      case 'update': {
        let p = payload as unknown as UpdatePayload | DeferredUpdatePayload;
        const target = await this.lookup(p.messageKey);
        if (!target) {
          throw new DeliveryError({ kind: 'permanent', detail: `message ${p.messageKey} was never delivered` });
        }
        if ('renderKey' in p) {
          const content = await this.opts.renderDeferred?.(p.renderKey);
          if (!content) return undefined; // nothing left to show: the update is moot
          p = { channel: p.channel, messageKey: p.messageKey, ...content };
        }
        this.stillLeading();
        await sender.update(p, target);
        return undefined;
      }
      case 'ephemeral':
        await sender.ephemeral(payload as unknown as Parameters<MessageSender['ephemeral']>[0]);
        return undefined;
      case 'respond':
        if (this.opts.clock.nowMs() - row.created_at > RESPONSE_URL_LIFETIME_MS) {
          throw new DeliveryError({ kind: 'permanent', detail: 'response_url expired (30 minutes)' });
        }
        await sender.respond(payload as unknown as Parameters<MessageSender['respond']>[0]);
        return undefined;
      case 'file_upload':
        await this.upload(row, payload as unknown as FileUploadPayload & { progress?: FileUploadProgress | null });
        return undefined;
      case 'pd_status':
        if (!this.opts.pagerDuty) throw new DeliveryError({ kind: 'permanent', detail: 'PagerDuty is not configured' });
        await this.opts.pagerDuty(payload as unknown as Parameters<PagerDutyStatusSender>[0]);
        return undefined;
      case 'pd_status_bulk':
        if (!this.opts.pagerDutyBulk) throw new DeliveryError({ kind: 'permanent', detail: 'PagerDuty is not configured' });
        await this.opts.pagerDutyBulk(payload as unknown as Parameters<PagerDutyBulkStatusSender>[0]);
        return undefined;
      case 'pd_event':
        if (!this.opts.pagerDutyEvents) throw new DeliveryError({ kind: 'permanent', detail: 'PagerDuty Events API is not configured' });
        await this.opts.pagerDutyEvents(payload as unknown as Parameters<PagerDutyEventSender>[0]);
        return undefined;
      case 'pd_change':
        if (!this.opts.pagerDutyChange) throw new DeliveryError({ kind: 'permanent', detail: 'PagerDuty is not configured' });
        await this.opts.pagerDutyChange(payload as unknown as Parameters<PagerDutyChangeSender>[0]);
        return undefined;
      default:
        throw new DeliveryError({ kind: 'permanent', detail: `unknown outbox kind ${String(row.kind)}` });
    }
  }

  private async upload(row: OutboxRow, payload: FileUploadPayload & { progress?: FileUploadProgress | null }): Promise<void> {
    const { progress, ...file } = payload;
    const { sender } = this.opts;
    if (!sender.uploadFile) throw new DeliveryError({ kind: 'permanent', detail: 'this sender cannot upload files' });
    const thread = file.threadKey ? await this.lookup(file.threadKey) : undefined;
    if (file.threadKey && !thread) throw new DeliveryError({ kind: 'permanent', detail: `thread parent ${file.threadKey} was never delivered` });
    this.stillLeading();
    let current = progress ?? undefined;
    // A file upload's progress lives in its own row, so a retry (or the next start) continues that upload.
    const save = async (next: FileUploadProgress | undefined): Promise<void> => {
      await run(this.data.db, sql`UPDATE outbox SET payload = ${this.data.jsonWith('payload', 'progress', JSON.stringify(next ?? null))} WHERE id = ${row.id} AND status = 'pending'`);
    };
    const outcome = await sender.uploadFile(file, thread?.ts, {
      get current() {
        return current;
      },
      async save(next) {
        await save(next);
        current = next;
      },
    });
    if (outcome === 'shared_earlier') {
      this.opts.logger.warn({ outboxId: row.id, fileId: current?.fileId }, 'file upload: an earlier attempt whose answer was lost shared the file');
    }
  }

  /**
   * Asked after every await that comes before a send: a replica that froze while leading (and lost the lease
   * meanwhile) finds out here, before it sends anything, because it checks the clock now, not a timer.
   */
  private stillLeading(): void {
    if (this.opts.mayDeliver && !this.opts.mayDeliver()) throw new NotLeading();
  }

  private async lookup(key: string): Promise<DeliveredMessage | undefined> {
    return first(this.data.db, sql<DeliveredMessage>`SELECT channel, ts FROM slack_messages WHERE key = ${key}`);
  }
}
