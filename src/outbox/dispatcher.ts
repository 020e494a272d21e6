import type { Db } from '../db/database.js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { Outbox } from './outbox.js';
import type { MessageSender, PagerDutyBulkStatusSender, PagerDutyEventSender, PagerDutyStatusSender } from './slack-delivery.js';
import {
  DeliveryError,
  type DeferredUpdatePayload,
  type DeliveredMessage,
  type DeliveryFailure,
  type MessageContent,
  type OutboxRow,
  type UpdatePayload,
} from './types.js';

export interface DispatcherOptions {
  db: Db;
  outbox: Outbox;
  sender: MessageSender;
  /** Absent when PagerDuty is not configured: such rows then fail with that reason. */
  pagerDuty?: PagerDutyStatusSender;
  pagerDutyBulk?: PagerDutyBulkStatusSender;
  pagerDutyEvents?: PagerDutyEventSender;
  /** Renders a deferred update's content at send time; null when there is nothing to show any more. */
  renderDeferred?: (renderKey: string) => MessageContent | null;
  clock: Clock;
  logger: Logger;
  /** Minimum gap between two sends in one channel lane. */
  paceMs: number;
  maxBackoffMs: number;
  giveUpAfterMs: number;
  /** Lanes delivered at the same time. */
  concurrency?: number;
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

export function backoffMs(attempt: number, maxMs: number): number {
  return Math.min(maxMs, 1000 * 2 ** Math.max(0, attempt - 1));
}

/**
 * Delivers outbox rows: per lane strictly in id order, one at a time, paced; lanes run side by side.
 * All scheduling state that matters lives in the rows (attempts, next_attempt_at), so a restart resumes
 * exactly where the last commit left off. Lane pacing is in memory: after a restart lanes start ready.
 */
export class OutboxDispatcher {
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Earliest time each lane may send again (pacing, Retry-After). */
  private readonly laneReadyAt = new Map<string, number>();
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
  private readonly markDelivered;
  private readonly markRetry;
  private readonly markFailed;
  private readonly storeMessage;
  private readonly findMessage;

  constructor(private readonly opts: DispatcherOptions) {
    const { db } = opts;
    // Only pending rows: a newer update of the same message may have superseded a row while it was on the wire.
    this.markDelivered = db.prepare(
      `UPDATE outbox SET status = 'delivered', delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ? AND status = 'pending'`,
    );
    this.markRetry = db.prepare(
      `UPDATE outbox SET attempts = attempts + ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND status = 'pending'`,
    );
    this.markFailed = db.prepare(
      `UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ? AND status = 'pending'`,
    );
    this.storeMessage = db.prepare(
      `INSERT OR REPLACE INTO slack_messages (key, channel, ts, created_at) VALUES (?, ?, ?, ?)`,
    );
    this.findMessage = db.prepare(`SELECT channel, ts FROM slack_messages WHERE key = ?`);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.opts.outbox.onEnqueue(() => this.nudge());
    this.nudge();
  }

  /** Stops taking new rows and waits for deliveries already on the wire. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.timer?.cancel();
    this.timer = undefined;
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** True while any delivery is on the wire (tests and shutdown wait on it). */
  busy(): boolean {
    return this.inFlight.size > 0 || this.pumpQueued;
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
      this.pump();
    });
  }

  private pump(): void {
    if (!this.running) return;
    const now = this.opts.clock.nowMs();
    if (now < this.pausedUntil) {
      this.armTimer(this.pausedUntil);
      return;
    }
    let heads: OutboxRow[];
    try {
      heads = this.opts.outbox.laneHeads();
    } catch (err) {
      this.refused('pump', err);
      return;
    }
    if (this.error.source === 'pump') this.recovered();
    const limit = this.opts.concurrency ?? 16;
    let wakeAt = Infinity;
    for (const row of heads) {
      if (this.inFlight.has(row.lane)) continue;
      const readyAt = Math.max(row.next_attempt_at, this.laneReadyAt.get(row.lane) ?? 0);
      if (readyAt > now || this.inFlight.size >= limit) {
        wakeAt = Math.min(wakeAt, Math.max(readyAt, now + 1));
        continue;
      }
      const delivery = this.deliver(row).finally(() => {
        this.inFlight.delete(row.lane);
        this.nudge();
      });
      this.inFlight.set(row.lane, delivery);
    }
    this.armTimer(wakeAt);
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
      this.record(row, () => this.recordDelivered(row, taken.at, taken.delivered));
      return;
    }
    let superseded: boolean;
    try {
      superseded = row.kind === 'update' && this.opts.outbox.hasNewerUpdate(row);
    } catch (err) {
      this.refused('record', err);
      return;
    }
    // Superseded: the newer update carries this content too.
    if (superseded) {
      this.record(row, () => this.recordDelivered(row, clock.nowMs(), undefined));
      return;
    }
    let delivered: DeliveredMessage | undefined;
    try {
      delivered = await this.send(row);
    } catch (err) {
      const failure: DeliveryFailure =
        err instanceof DeliveryError ? err.failure : { kind: 'retryable', detail: (err as Error).message };
      logger.warn(
        { outboxId: row.id, lane: row.lane, kind: row.kind, attempts: row.attempts + 1, failure },
        'outbox delivery failed',
      );
      let final = false;
      if (!this.record(row, () => (final = this.recordFailure(row, failure)))) return;
      this.opts.onFailure?.(row, failure, final);
      return;
    }
    const at = clock.nowMs();
    this.unrecorded.set(row.id, { at, delivered });
    if (!this.record(row, () => this.recordDelivered(row, at, delivered))) return;
    this.laneReadyAt.set(row.lane, clock.nowMs() + (row.lane.startsWith('channel:') ? this.opts.paceMs : 0));
  }

  /** Runs a write of the dispatcher's own; false when the database refused it (the dispatcher then pauses). */
  private record(row: OutboxRow, write: () => void): boolean {
    try {
      write();
    } catch (err) {
      this.refused('record', err);
      return false;
    }
    if (this.error.source === 'record') this.recovered();
    return true;
  }

  private recordDelivered(row: OutboxRow, at: number, delivered: DeliveredMessage | undefined): void {
    this.opts.db.transaction(() => {
      this.markDelivered.run(at, row.id);
      if (delivered && row.message_key) this.storeMessage.run(row.message_key, delivered.channel, delivered.ts, at);
    })();
    this.unrecorded.delete(row.id);
    this.opts.onDelivered?.(row);
  }

  /** Records the failure; true when the row is given up for good. */
  private recordFailure(row: OutboxRow, failure: DeliveryFailure): boolean {
    const now = this.opts.clock.nowMs();
    const expired = now - row.created_at > this.opts.giveUpAfterMs;
    if (failure.kind === 'permanent' || (failure.kind === 'retryable' && expired)) {
      this.markFailed.run(expired ? `gave up: ${failure.detail}` : failure.detail, row.id);
      return true;
    }
    if (failure.kind === 'rate_limited') {
      // Slack asked the whole lane to wait; this is not the row's fault, so it does not count as an attempt.
      this.laneReadyAt.set(row.lane, now + failure.retryAfterMs);
      this.markRetry.run(0, now + failure.retryAfterMs, failure.detail, row.id);
      return false;
    }
    this.markRetry.run(1, now + backoffMs(row.attempts + 1, this.opts.maxBackoffMs), failure.detail, row.id);
    return false;
  }

  private async send(row: OutboxRow): Promise<DeliveredMessage | undefined> {
    const { sender } = this.opts;
    const payload = JSON.parse(row.payload) as Record<string, unknown>;
    switch (row.kind) {
      case 'post': {
        const p = payload as unknown as Parameters<MessageSender['post']>[0];
        const thread = p.threadKey ? this.lookup(p.threadKey) : undefined;
        if (p.threadKey && !thread) {
          throw new DeliveryError({ kind: 'permanent', detail: `thread parent ${p.threadKey} was never delivered` });
        }
        return sender.post(p, thread?.ts);
      }
      case 'update': {
        let p = payload as unknown as UpdatePayload | DeferredUpdatePayload;
        const target = this.lookup(p.messageKey);
        if (!target) {
          throw new DeliveryError({ kind: 'permanent', detail: `message ${p.messageKey} was never delivered` });
        }
        if ('renderKey' in p) {
          const content = this.opts.renderDeferred?.(p.renderKey);
          if (!content) return undefined; // nothing left to show: the update is moot
          p = { channel: p.channel, messageKey: p.messageKey, ...content };
        }
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
      default:
        throw new DeliveryError({ kind: 'permanent', detail: `unknown outbox kind ${String(row.kind)}` });
    }
  }

  private lookup(key: string): DeliveredMessage | undefined {
    return this.findMessage.get(key) as DeliveredMessage | undefined;
  }
}
