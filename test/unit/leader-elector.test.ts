import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import {
  LeaderElector,
  replicaName,
  type LeaderElectorOptions,
  type LeaseState,
  type LeaseStore,
} from '../../src/cluster/leader-lease.js';

/**
 * A lease kept in memory and measured by the same ManualClock, with knobs for what PostgreSQL cannot be made
 * to do on cue: fail, hang, or hand the lease to someone else.
 */
class FakeLease implements LeaseStore {
  holder: string | null = null;
  token = 0n;
  expiresAtMs = 0;
  failNext: Error | null = null;
  /** When set, tryAcquire waits for this promise before answering. */
  hold: Promise<void> | null = null;
  failRelease = false;
  readonly calls: string[] = [];

  constructor(private readonly clock: ManualClock) {}

  async tryAcquire(holder: string, ttlMs: number): Promise<LeaseState> {
    this.calls.push(`acquire ${holder}`);
    if (this.hold) await this.hold;
    // Measured when the statement runs, as PostgreSQL's now() is.
    const now = this.clock.nowMs();
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = null;
      throw err;
    }
    const expired = this.expiresAtMs <= now;
    if (this.holder === holder || expired) {
      if (this.holder !== holder || expired) this.token += 1n;
      this.holder = holder;
      this.expiresAtMs = now + ttlMs;
    }
    return { leader: this.holder === holder, token: this.token, holder: this.holder!, expiresAt: new Date(this.expiresAtMs) };
  }

  async release(holder: string): Promise<boolean> {
    this.calls.push(`release ${holder}`);
    if (this.failRelease) throw new Error('connection lost');
    if (this.holder !== holder || this.expiresAtMs <= this.clock.nowMs()) return false;
    this.expiresAtMs = this.clock.nowMs();
    return true;
  }

  /** Another replica takes the lease over, as after this one froze. */
  takeOver(holder: string, ttlMs: number): void {
    this.holder = holder;
    this.token += 1n;
    this.expiresAtMs = this.clock.nowMs() + ttlMs;
  }
}

function setup(overrides: Partial<LeaderElectorOptions> = {}) {
  const clock = new ManualClock(0);
  const lease = new FakeLease(clock);
  const events: string[] = [];
  const errors: unknown[] = [];
  const elector = new LeaderElector({
    lease,
    holder: 'replica-a',
    clock,
    onElected: (token) => events.push(`elected ${token}`),
    onDemoted: (reason) => events.push(`demoted ${reason}`),
    onError: (err) => errors.push(err),
    ...overrides,
  });
  /** Moves time and lets the attempts it started answer. */
  const advance = async (ms: number) => {
    clock.advance(ms);
    await elector.whenIdle();
  };
  return { clock, lease, events, errors, elector, advance };
}

describe('LeaderElector', () => {
  it('becomes leader on its first attempt and renews every 3 s with a 10 s ttl by default', async () => {
    const { elector, lease, events, advance } = setup();
    expect(elector.status()).toEqual({ role: 'follower', token: null, holder: null, lastAnswerAtMs: null });
    await elector.start();
    expect(events).toEqual(['elected 1']);
    expect(elector.isLeader).toBe(true);
    expect(elector.currentToken).toBe(1n);
    expect(lease.expiresAtMs).toBe(10_000);
    await advance(3_000);
    expect(lease.calls).toEqual(['acquire replica-a', 'acquire replica-a']);
    expect(lease.expiresAtMs).toBe(13_000);
    await advance(3_000);
    expect(events).toEqual(['elected 1']);
    expect(elector.status()).toEqual({ role: 'leader', token: 1n, holder: 'replica-a', lastAnswerAtMs: 6_000 });
    await elector.stop();
  });

  it('stays a follower while another replica holds the lease, and takes over once it runs out', async () => {
    const { elector, lease, events, advance } = setup();
    lease.takeOver('replica-b', 5_000);
    await elector.start();
    expect(elector.status()).toMatchObject({ role: 'follower', token: null, holder: 'replica-b', lastAnswerAtMs: 0 });
    await advance(3_000);
    expect(elector.isLeader).toBe(false);
    await advance(3_000);
    expect(events).toEqual(['elected 2']);
    expect(elector.status()).toMatchObject({ role: 'leader', holder: 'replica-a' });
    await elector.stop();
  });

  it('demotes itself when a renewal finds another holder', async () => {
    const { elector, lease, events, advance } = setup();
    await elector.start();
    lease.takeOver('replica-b', 10_000);
    await advance(3_000);
    expect(events).toEqual(['elected 1', 'demoted another-holder']);
    expect(elector.status()).toMatchObject({ role: 'follower', token: null, holder: 'replica-b' });
  });

  it('demotes itself when a renewal fails, reports the error, and is elected again by a later renewal', async () => {
    const { elector, lease, events, errors, advance } = setup();
    await elector.start();
    lease.failNext = new Error('connection refused');
    await advance(3_000);
    expect(events).toEqual(['elected 1', 'demoted renewal-failed']);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('connection refused');
    // Its lease had not run out, so the next renewal keeps the token: the same term, started again.
    await advance(3_000);
    expect(events).toEqual(['elected 1', 'demoted renewal-failed', 'elected 1']);
  });

  it('a follower whose attempt fails stays a follower and keeps trying', async () => {
    const { elector, lease, events, errors, advance } = setup();
    lease.failNext = new Error('connection refused');
    await elector.start();
    expect(events).toEqual([]);
    expect(errors).toHaveLength(1);
    await advance(3_000);
    expect(events).toEqual(['elected 1']);
  });

  it('demotes itself when its lease runs out before a renewal answers, counted from when that renewal was sent', async () => {
    const { clock, elector, lease, events } = setup();
    await elector.start();
    // Renewals hang (a partition): the one sent at 3 s never answers.
    let answer!: () => void;
    lease.hold = new Promise((resolve) => (answer = resolve));
    clock.advance(3_000);
    clock.advance(6_999);
    expect(events).toEqual(['elected 1']);
    clock.advance(1);
    // 10 s after the last renewal that answered was sent.
    expect(events).toEqual(['elected 1', 'demoted lease-ran-out']);
    expect(elector.isLeader).toBe(false);
    // The hung renewal finally answers: the lease ran out meanwhile, so it comes back with a new token.
    lease.hold = null;
    answer();
    await elector.whenIdle();
    expect(events).toEqual(['elected 1', 'demoted lease-ran-out', 'elected 2']);
    await elector.stop();
  });

  it('treats a new token while leading as a new term: demoted, then elected with it', async () => {
    const { elector, lease, events, advance } = setup({ ttlMs: 4_000, renewEveryMs: 1_000 });
    await elector.start();
    // The renewal is late (the process was paused) and finds its own lease ran out and nobody took it.
    lease.expiresAtMs = 0;
    await advance(1_000);
    expect(events).toEqual(['elected 1', 'demoted lease-ran-out', 'elected 2']);
    expect(elector.currentToken).toBe(2n);
    await elector.stop();
  });

  it('stops trying on stop(), releases the lease and reports the demotion; stop() twice is harmless', async () => {
    const { clock, elector, lease, events, advance } = setup();
    await elector.start();
    await elector.stop();
    await elector.stop();
    expect(events).toEqual(['elected 1', 'demoted stopped']);
    expect(lease.calls).toEqual(['acquire replica-a', 'release replica-a']);
    expect(lease.expiresAtMs).toBe(0);
    await advance(30_000);
    expect(lease.calls).toHaveLength(2);
    expect(clock.pendingTimers()).toBe(0);
    // Starting a stopped elector does nothing.
    await elector.start();
    expect(lease.calls).toHaveLength(2);
  });

  it('a follower stops without releasing anything', async () => {
    const { clock, elector, lease, events } = setup();
    lease.takeOver('replica-b', 60_000);
    await elector.start();
    await elector.stop();
    expect(events).toEqual([]);
    expect(lease.calls).toEqual(['acquire replica-a']);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('waits for an attempt under way before stopping, and releases what that attempt won', async () => {
    const { elector, lease, events } = setup();
    let answer!: () => void;
    lease.hold = new Promise((resolve) => (answer = resolve));
    const starting = elector.start();
    const stopping = elector.stop();
    answer();
    await starting;
    await stopping;
    expect(events).toEqual(['elected 1', 'demoted stopped']);
    expect(lease.calls).toEqual(['acquire replica-a', 'release replica-a']);
  });

  it('reports a failed release on stop and still stops (the lease runs out by itself)', async () => {
    const { clock, elector, lease, events, errors } = setup();
    await elector.start();
    lease.failRelease = true;
    await elector.stop();
    expect(events).toEqual(['elected 1', 'demoted stopped']);
    expect((errors[0] as Error).message).toBe('connection lost');
    expect(clock.pendingTimers()).toBe(0);
  });

  it('start() twice makes one attempt', async () => {
    const { elector, lease } = setup();
    await Promise.all([elector.start(), elector.start()]);
    expect(lease.calls).toEqual(['acquire replica-a']);
    await elector.stop();
  });

  it('carries on when a callback or the error reporter throws', async () => {
    const { elector, lease, advance } = setup({
      onElected: () => {
        throw new Error('could not start the dispatcher');
      },
      onDemoted: () => {
        throw new Error('could not stop the dispatcher');
      },
      onError: () => {
        throw new Error('the logger is broken too');
      },
    });
    await elector.start();
    expect(elector.isLeader).toBe(true);
    lease.takeOver('replica-b', 10_000);
    await advance(3_000);
    expect(elector.isLeader).toBe(false);
    // replica-b's lease runs out at 10 s; the attempt at 12 s takes it.
    for (let i = 0; i < 3; i++) await advance(3_000);
    expect(elector.isLeader).toBe(true);
    await elector.stop();
    expect(elector.isLeader).toBe(false);
  });

  it('works without any callbacks', async () => {
    const clock = new ManualClock(0);
    const lease = new FakeLease(clock);
    const elector = new LeaderElector({ lease, holder: 'replica-a', clock });
    await elector.start();
    lease.failNext = new Error('connection refused');
    clock.advance(3_000);
    await elector.whenIdle();
    expect(elector.isLeader).toBe(false);
    await elector.stop();
  });

  it('refuses a renewal interval that is not below the ttl', () => {
    const clock = new ManualClock(0);
    const lease = new FakeLease(clock);
    expect(() => new LeaderElector({ lease, holder: 'a', clock, ttlMs: 3_000, renewEveryMs: 3_000 })).toThrow(RangeError);
    expect(() => new LeaderElector({ lease, holder: 'a', clock, renewEveryMs: 0 })).toThrow(/renewEveryMs \(0\)/);
  });
});

describe('replicaName', () => {
  it('names the host and pid, with a random part that differs between two processes with the same pid', () => {
    expect(replicaName('bot-7f9c', 1)).toMatch(/^bot-7f9c:1:[0-9a-f]{8}$/);
    expect(replicaName('bot-7f9c', 1)).not.toBe(replicaName('bot-7f9c', 1));
    expect(replicaName().startsWith(`${hostname()}:${process.pid}:`)).toBe(true);
  });
});
