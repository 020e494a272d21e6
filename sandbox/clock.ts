import type { Clock, TimerHandle } from '../src/clock/clock.js';

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
  real: NodeJS.Timeout | undefined;
}

/** Node fires at once for delays above this; a far timer is re-armed when it wakes early. */
const MAX_DELAY_MS = 2_147_483_647;

/**
 * The sandbox's time: the wall clock plus an offset that only grows. Timers fire in real time like the
 * system clock's; `advance()` jumps forward, firing every timer that falls due on the way, in order, each at
 * its own instant (so a deadline fires on time rather than "late"), as if that much time had passed.
 */
export class SandboxClock implements Clock {
  private offset = 0;
  private seq = 0;
  private readonly timers = new Set<PendingTimer>();
  private advancing = false;

  constructor(private readonly wall: () => number = () => Date.now()) {}

  now(): Date {
    return new Date(this.nowMs());
  }

  nowMs(): number {
    return this.wall() + this.offset;
  }

  /** How far ahead of the wall clock the sandbox is, in ms. */
  offsetMs(): number {
    return this.offset;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: PendingTimer = { at: this.nowMs() + Math.max(0, ms), seq: this.seq++, fn, real: undefined };
    this.timers.add(timer);
    this.arm(timer);
    return {
      cancel: () => {
        if (timer.real) clearTimeout(timer.real);
        this.timers.delete(timer);
      },
    };
  }

  /**
   * Moves time forward by `ms`: each timer due on the way fires at its own instant, with a moment for the
   * work it starts (and the timers that work sets) before the next one.
   */
  async advance(ms: number): Promise<void> {
    if (this.advancing) throw new Error('the sandbox clock is already moving');
    this.advancing = true;
    try {
      for (const t of this.timers) this.disarm(t);
      const target = this.nowMs() + Math.max(0, ms);
      for (let fired = 0; fired < 100_000; fired++) {
        const due = [...this.timers].filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
        if (!due) break;
        this.moveTo(due.at);
        this.timers.delete(due);
        due.fn();
        for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
        for (const t of this.timers) this.disarm(t);
      }
      this.moveTo(target);
    } finally {
      this.advancing = false;
      for (const t of this.timers) this.arm(t);
    }
  }

  /** Stops every timer (the sandbox is shutting down). */
  stop(): void {
    for (const t of this.timers) this.disarm(t);
    this.timers.clear();
  }

  private moveTo(at: number): void {
    // Never backwards: a timer a little overdue fires at the current instant.
    this.offset = Math.max(this.offset, at - this.wall());
  }

  private disarm(t: PendingTimer): void {
    if (t.real) clearTimeout(t.real);
    t.real = undefined;
  }

  private arm(t: PendingTimer): void {
    this.disarm(t);
    if (this.advancing) return;
    const delay = Math.min(Math.max(0, t.at - this.nowMs()), MAX_DELAY_MS);
    t.real = setTimeout(() => {
      t.real = undefined;
      if (!this.timers.has(t)) return;
      if (t.at > this.nowMs()) {
        this.arm(t);
        return;
      }
      this.timers.delete(t);
      t.fn();
    }, delay);
    t.real.unref();
  }
}
