import { sql } from 'kysely';
import type { Transaction } from 'kysely';
import { DataLayer, afterCommit, all, run, type Executor, type Schema } from '../db/data-layer.js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';

/** A deadline handled more than this after it passed was missed while Waygate was down. */
export const LATE_AFTER_MS = 60_000;
/** Keys to one DELETE in cancelMany(): well below both databases' limits on bound parameters. */
const CANCEL_KEYS = 500;
/** After a failure to fire, wait this long before trying again, doubling up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;

export interface DueDeadline {
  owner: string;
  key: string;
  dueAt: number;
  payload: unknown;
  /** Fired more than LATE_AFTER_MS after it was due (the bot was down): say so to the people told. */
  late: boolean;
}

/**
 * Handles the deadlines of one owner that fell due together, inside the transaction that marks them
 * fired: whatever it writes (state, outbox rows, new deadlines) commits with the firing or not at all.
 */
export type DeadlineHandler = (due: readonly DueDeadline[], now: number, tx: Transaction<Schema>) => void | Promise<void>;

interface Row {
  id: number;
  owner: string;
  key: string;
  due_at: number;
  payload: string;
}

/**
 * Durable deadlines: one table, one timer armed for the earliest. Callers schedule and cancel inside their
 * own transaction, so a deadline exists exactly when the state that needs it was committed. A restart
 * re-arms from the table; deadlines that passed while the bot was down fire at start-up, marked late.
 */
export class Deadlines {
  private readonly handlers = new Map<string, DeadlineHandler>();
  private timer: TimerHandle | undefined;
  private armedFor: number | null = null;
  private running = false;
  private firing: Promise<number> | undefined;
  private retryMs = FIRST_RETRY_MS;
  private lastError: string | null = null;
  private scheduledElsewhere: () => void = () => undefined;

  constructor(
    private readonly data: DataLayer,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
  }

  /** Registers the code that handles an owner's deadlines; one handler per owner. */
  on(owner: string, handler: DeadlineHandler): void {
    if (this.handlers.has(owner)) throw new Error(`deadline owner ${owner} registered twice`);
    this.handlers.set(owner, handler);
  }

  /** Sets (or moves) the deadline `key` of `owner` in the transaction `ex` of the change that needs it. */
  async schedule(ex: Executor, owner: string, key: string, dueAt: number, payload: unknown = {}): Promise<void> {
    await run(
      ex,
      sql`INSERT INTO deadlines (owner, key, due_at, payload, created_at) VALUES (${owner}, ${key}, ${dueAt}, ${JSON.stringify(payload)}, ${this.clock.nowMs()})
          ON CONFLICT (owner, key) WHERE fired_at IS NULL DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload`,
    );
    afterCommit(ex, () => this.armFor(dueAt));
  }

  /** Drops a pending deadline in the caller's transaction `ex`; a no-op when there is none. */
  async cancel(ex: Executor, owner: string, key: string): Promise<void> {
    await run(ex, sql`DELETE FROM deadlines WHERE owner = ${owner} AND key = ${key} AND fired_at IS NULL`);
  }

  /** cancel() for many keys of one owner, a few hundred to a statement. */
  async cancelMany(ex: Executor, owner: string, keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += CANCEL_KEYS) {
      await run(ex, sql`DELETE FROM deadlines WHERE owner = ${owner} AND key IN (${sql.join(keys.slice(i, i + CANCEL_KEYS))}) AND fired_at IS NULL`);
    }
  }

  /** Called when a deadline was scheduled while the timer does not run here (a follower replica: the leader fires it). */
  onScheduleElsewhere(fn: () => void): void {
    this.scheduledElsewhere = fn;
  }

  private armFor(dueAt: number): void {
    if (!this.running) this.scheduledElsewhere();
    else if (this.armedFor === null || dueAt < this.armedFor) this.arm(dueAt);
  }

  /** Starts the timer; resolves once what fell due while Waygate was down has fired. */
  async start(): Promise<void> {
    this.running = true;
    await this.fire();
  }

  /** Resolves once no firing is in progress (tests and the sandbox wait on it after moving the clock). */
  async whenIdle(): Promise<void> {
    while (this.firing) await this.firing;
  }

  /** Stops the timer; resolves once a firing in progress has finished, so the database can be closed. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.armedFor = null;
    await this.firing;
  }

  /** When the timer will next fire, or null; and the last firing error while it persists (for /health). */
  status(): { nextDueAt: number | null; lastError: string | null } {
    return { nextDueAt: this.armedFor, lastError: this.lastError };
  }

  /** Fires everything due now. Safe to call any time; resolves to how many deadlines fired. */
  async fire(): Promise<number> {
    if (!this.running) return 0;
    const firing = this.fireAndRearm();
    this.firing = firing;
    try {
      return await firing;
    } finally {
      if (this.firing === firing) this.firing = undefined;
    }
  }

  private async fireAndRearm(): Promise<number> {
    let fired = 0;
    try {
      fired = await this.fireDue();
      this.lastError = null;
      this.retryMs = FIRST_RETRY_MS;
      await this.rearm();
    } catch (err) {
      // A persistent database error must not become a hot loop: back off, and show it in /health.
      this.lastError = (err as Error).message;
      this.logger.error({ err, retryInMs: this.retryMs }, 'firing deadlines failed; retrying');
      this.arm(this.clock.nowMs() + this.retryMs);
      this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
    }
    return fired;
  }

  private async fireDue(): Promise<number> {
    const now = this.clock.nowMs();
    return this.data.transaction(async (tx) => {
      // Firings take turns (the timer, start-up): on PostgreSQL two could otherwise read the same due rows.
      await this.data.serialize(tx, 'deadlines');
      const rows = await all(tx, sql<Row>`SELECT id, owner, key, due_at, payload FROM deadlines WHERE fired_at IS NULL AND due_at <= ${now} ORDER BY due_at, id`);
      const byOwner = new Map<string, DueDeadline[]>();
      for (const row of rows) {
        const late = now - row.due_at > LATE_AFTER_MS;
        await run(tx, sql`UPDATE deadlines SET fired_at = ${now}, fired_late = ${late ? 1 : 0} WHERE id = ${row.id}`);
        const list = byOwner.get(row.owner) ?? [];
        list.push({ owner: row.owner, key: row.key, dueAt: row.due_at, payload: JSON.parse(row.payload) as unknown, late });
        byOwner.set(row.owner, list);
      }
      for (const [owner, due] of byOwner) {
        const handler = this.handlers.get(owner);
        if (!handler) {
          this.logger.warn({ owner, count: due.length }, 'deadlines fell due with no handler; dropped');
          continue;
        }
        await handler(due, now, tx);
      }
      return rows.length;
    });
  }

  private async rearm(): Promise<void> {
    const due = (await all(this.data.db, sql<{ due: number | null }>`SELECT MIN(due_at) AS due FROM deadlines WHERE fired_at IS NULL`))[0]?.due ?? null;
    if (due === null) {
      this.timer?.cancel();
      this.timer = undefined;
      this.armedFor = null;
      return;
    }
    this.arm(due);
  }

  private arm(at: number): void {
    if (!this.running) return;
    this.timer?.cancel();
    this.armedFor = at;
    this.timer = this.clock.setTimer(at - this.clock.nowMs(), () => {
      this.timer = undefined;
      this.armedFor = null;
      // Far deadlines are clamped by the timer, so it can fire early: fire() then just re-arms.
      void this.fire();
    });
  }

  /** Fired deadlines are history only; keep them as long as the caller keeps its own records. */
  async pruneFired(ex: Executor, olderThan: number): Promise<number> {
    return run(ex, sql`DELETE FROM deadlines WHERE fired_at IS NOT NULL AND fired_at < ${olderThan}`);
  }
}
