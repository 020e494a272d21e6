import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { IncidentService } from './incident-service.js';

/**
 * One timer for the earliest SLA reminder or deadline. The deadlines themselves live in SQLite, so a restart
 * re-arms from there and a deadline that passed while the bot was down fires at start-up.
 */
export class SlaTimer {
  private timer: TimerHandle | undefined;
  private armedFor: number | null = null;
  private running = false;

  constructor(
    private readonly incidents: IncidentService,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.running = true;
    this.fire();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.armedFor = null;
  }

  /** Re-reads the earliest due time; call after anything that may have moved it. */
  rearm(): void {
    if (!this.running) return;
    const due = this.incidents.repo.nextDueAt();
    if (due === this.armedFor) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.armedFor = due;
    if (due === null) return;
    this.timer = this.clock.setTimer(due - this.clock.nowMs(), () => {
      this.timer = undefined;
      this.armedFor = null;
      this.fire();
    });
  }

  private fire(): void {
    if (!this.running) return;
    try {
      this.incidents.processDue();
    } catch (err) {
      this.logger.error({ err }, 'SLA processing failed; will retry at the next change');
    }
    this.rearm();
  }
}
