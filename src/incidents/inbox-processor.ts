import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { IncidentIngest } from './ingest.js';

/**
 * Events applied per slice (one transaction) at most. Applying runs on the event loop that answers webhooks
 * and Slack: a request arriving meanwhile waits for the slice to end, so slices stay short, and the
 * processor yields between them.
 */
export const SLICE_MAX_EVENTS = 10;
/** A slice also ends once this much time (on the injected clock) has gone into it, however few events it applied. */
export const SLICE_BUDGET_MS = 4;
/**
 * The slice budget on PostgreSQL. There a slice's statements are awaited round trips, so requests are answered
 * while it runs; what a longer slice holds up is other writers waiting for the writers' turn it took (a
 * command queueing its reply), for tens of milliseconds at most. Four milliseconds there was one event per
 * slice, each paying its own BEGIN, fence check, read of the queue and COMMIT (a WAL flush).
 */
export const POSTGRES_SLICE_BUDGET_MS = 50;
/** At shutdown nobody waits for an answer: bigger transactions finish sooner. */
const SHUTDOWN_BATCH = 100;
/** While deliveries keep arriving, applying may wait this long before it takes its turn regardless. */
export const MAX_APPLY_LAG_MS = 1_000;
/** After a failed batch, try again after this long, doubling up to MAX_RETRY_MS, without a new delivery. */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;

export interface InboxProcessorStatus {
  /** Why the last batch could not be applied; null once a batch is applied again. */
  lastError: string | null;
  lastErrorAt: number | null;
}

/**
 * Applies accepted webhook events to incidents in arrival order. Answering PagerDuty comes first: while
 * requests are in flight, applying waits for a quiet moment, but never longer than MAX_APPLY_LAG_MS behind
 * the oldest accepted event (docs/decisions/006). Woken after every delivery, when the server goes quiet,
 * by the lag timer, and at start-up (events accepted before a crash).
 */
export class InboxProcessor {
  private scheduled = false;
  private running: Promise<void> | undefined;
  private lagTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private retryMs = FIRST_RETRY_MS;
  private lastError: InboxProcessorStatus = { lastError: null, lastErrorAt: null };
  private stopped = false;

  constructor(
    private readonly incidents: Pick<IncidentIngest, 'processInbox' | 'inbox'>,
    private readonly logger: Logger,
    private readonly clock: Clock,
    /** True while HTTP requests are being answered. */
    private readonly busy: () => boolean = () => false,
    /**
     * Set when only the leader applies events (decision 021): the processor starts stopped, start() runs it,
     * and a nudge while it is stopped wakes the leader instead (events accepted on a follower).
     */
    private readonly leaderOnly?: { wakeLeader: () => void },
    /** SLICE_BUDGET_MS, or POSTGRES_SLICE_BUDGET_MS on PostgreSQL. */
    private readonly sliceBudgetMs: number = SLICE_BUDGET_MS,
  ) {
    if (leaderOnly) this.stopped = true;
  }

  /** Runs it (again) after stop(): this process leads now. Applies what is queued. */
  start(): void {
    this.stopped = false;
    this.nudge();
  }

  nudge(): void {
    if (this.stopped) {
      this.leaderOnly?.wakeLeader();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.running) this.running = this.drain(false).then(() => undefined).finally(() => (this.running = undefined));
    });
  }

  /**
   * Applies everything queued now, load or not, and resolves once nothing is queued (tests, shutdown), or
   * once a batch failed: what is left then waits for the retry.
   */
  async whenIdle(): Promise<void> {
    for (;;) {
      while (this.scheduled || this.running) await (this.running ?? new Promise((r) => setImmediate(r)));
      if ((await this.incidents.inbox.pendingCount()) === 0) return;
      // A nudge may have started a drain while the count was read: wait for that one instead.
      if (this.running) continue;
      let applied = true;
      this.running = this.drain(true)
        .then((ok) => void (applied = ok))
        .finally(() => (this.running = undefined));
      await this.running;
      if (!applied) return;
    }
  }

  /** Shown on /health: a batch that keeps failing means PagerDuty's events are answered but not applied. */
  status(): InboxProcessorStatus {
    return { ...this.lastError };
  }

  /**
   * Stops taking nudges and, when `final` (shutdown), applies everything already accepted, so a graceful stop
   * leaves nothing queued. Not final (this replica stopped leading): the leader applies the rest.
   */
  async stop(final = true): Promise<void> {
    this.stopped = true;
    this.lagTimer?.cancel();
    this.lagTimer = undefined;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    await this.running;
    if (!final) return;
    try {
      while ((await this.incidents.processInbox(SHUTDOWN_BATCH)).more) {
        // until a batch finds the inbox empty
      }
    } catch (err) {
      this.logger.error({ err }, 'applying PagerDuty events at shutdown failed; they stay queued for the next start');
    }
  }

  private async overdue(): Promise<boolean> {
    const oldest = await this.incidents.inbox.oldestPendingAt();
    return oldest !== null && this.clock.nowMs() - oldest >= MAX_APPLY_LAG_MS;
  }

  private armLagTimer(): void {
    if (this.lagTimer || this.stopped) return;
    this.lagTimer = this.clock.setTimer(MAX_APPLY_LAG_MS, () => {
      this.lagTimer = undefined;
      this.nudge();
    });
  }

  /** False when a batch failed. */
  private async drain(force: boolean): Promise<boolean> {
    for (;;) {
      if (!force && this.busy() && !(await this.overdue())) {
        this.armLagTimer(); // the server's next quiet moment nudges us sooner
        return true;
      }
      let more: boolean;
      try {
        ({ more } = await this.incidents.processInbox(SLICE_MAX_EVENTS, this.sliceBudgetMs));
      } catch (err) {
        // The slice rolled back; its events stay queued for the retry, the next delivery or the next start.
        this.failed(err);
        return false;
      }
      this.lastError = { lastError: null, lastErrorAt: null };
      this.retryMs = FIRST_RETRY_MS;
      if (!more || (this.stopped && !force)) return true;
      await yieldToRequests();
    }
  }

  private failed(err: unknown): void {
    this.logger.error({ err }, 'applying PagerDuty events failed');
    this.lastError = { lastError: (err as Error).message, lastErrorAt: this.clock.nowMs() };
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = this.clock.setTimer(this.retryMs, () => {
      this.retryTimer = undefined;
      this.nudge();
    });
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }
}

/**
 * Lets the event loop answer what arrived during the slice before the next one starts. One setImmediate is
 * not enough: a webhook read in this turn commits its inbox row in a setImmediate of its own (group commit),
 * queued behind ours, so the next slice would run first; a second hop puts that commit, and the 200, ahead.
 */
async function yieldToRequests(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
}
