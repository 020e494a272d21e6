import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { IncidentIngest } from './ingest.js';

/** Events applied per transaction; the processor yields to the event loop between batches. */
const BATCH = 25;
/** While deliveries keep arriving, applying may wait this long before it takes its turn regardless. */
export const MAX_APPLY_LAG_MS = 1_000;

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
  private stopped = false;

  constructor(
    private readonly incidents: Pick<IncidentIngest, 'processInbox' | 'inbox'>,
    private readonly logger: Logger,
    private readonly clock: Clock,
    /** True while HTTP requests are being answered. */
    private readonly busy: () => boolean = () => false,
  ) {}

  nudge(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.running) this.running = this.drain(false).finally(() => (this.running = undefined));
    });
  }

  /** Applies everything queued now, load or not, and resolves once nothing is queued (tests, shutdown). */
  async whenIdle(): Promise<void> {
    for (;;) {
      while (this.scheduled || this.running) await (this.running ?? new Promise((r) => setImmediate(r)));
      if (this.incidents.inbox.pendingCount() === 0) return;
      this.running = this.drain(true).finally(() => (this.running = undefined));
    }
  }

  /** Stops taking nudges and applies everything already accepted, so a graceful stop leaves nothing queued. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.lagTimer?.cancel();
    await this.running;
    try {
      while (this.incidents.processInbox(BATCH) === BATCH) {
        // a short batch means the inbox is empty
      }
    } catch (err) {
      this.logger.error({ err }, 'applying PagerDuty events at shutdown failed; they stay queued for the next start');
    }
  }

  private overdue(): boolean {
    const oldest = this.incidents.inbox.oldestPendingAt();
    return oldest !== null && this.clock.nowMs() - oldest >= MAX_APPLY_LAG_MS;
  }

  private armLagTimer(): void {
    if (this.lagTimer || this.stopped) return;
    this.lagTimer = this.clock.setTimer(MAX_APPLY_LAG_MS, () => {
      this.lagTimer = undefined;
      this.nudge();
    });
  }

  private async drain(force: boolean): Promise<void> {
    for (;;) {
      if (!force && this.busy() && !this.overdue()) {
        this.armLagTimer(); // the server's next quiet moment nudges us sooner
        return;
      }
      let applied: number;
      try {
        applied = this.incidents.processInbox(BATCH);
      } catch (err) {
        // The batch rolled back; its events stay queued for the next nudge (the next delivery or restart).
        this.logger.error({ err }, 'applying PagerDuty events failed');
        return;
      }
      if (applied < BATCH || (this.stopped && !force)) return;
      await new Promise((r) => setImmediate(r));
    }
  }
}
