/**
 * The one source of time. Domain code takes a Clock instead of calling Date.now() or setTimeout,
 * so tests move time by hand and production uses the system clock.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  now(): Date;
  nowMs(): number;
  /** Calls fn once, `ms` from now. */
  setTimer(ms: number, fn: () => void): TimerHandle;
}

export const systemClock: Clock = {
  now: () => new Date(),
  nowMs: () => Date.now(),
  setTimer(ms, fn) {
    // Clamp: Node fires immediately for delays above 2^31-1 ms, which would turn a far deadline into a busy loop.
    const delay = Math.min(Math.max(0, ms), 2_147_483_647);
    const t = setTimeout(fn, delay);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that moves only when told to. Used by tests and by benchmarks that replay time. */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: PendingTimer[] = [];

  constructor(start: Date | string | number = '2026-01-05T08:00:00Z') {
    this.current = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  nowMs(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: PendingTimer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** When the earliest pending timer is due, or null when none is. */
  nextTimerAt(): number | null {
    const due = this.timers.filter((t) => !t.cancelled).map((t) => t.at);
    return due.length > 0 ? Math.min(...due) : null;
  }

  /** Number of timers still waiting to fire. */
  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    this.set(this.current + ms);
  }

  /** Moves time to an absolute instant (never backwards), firing due timers in order. */
  set(to: Date | string | number): void {
    const target = new Date(to).getTime();
    if (target < this.current) throw new Error('ManualClock cannot move backwards');
    for (;;) {
      const due = this.timers
        .filter((t) => !t.cancelled && t.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.current = Math.max(this.current, due.at);
      due.cancelled = true;
      this.timers = this.timers.filter((t) => t !== due);
      due.fn();
    }
    this.current = target;
    this.timers = this.timers.filter((t) => !t.cancelled);
  }
}
