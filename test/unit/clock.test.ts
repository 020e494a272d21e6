import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../src/clock/clock.js';

describe('ManualClock', () => {
  it('starts at the given instant and stays there until moved', () => {
    const clock = new ManualClock('2026-02-01T10:00:00Z');
    expect(clock.now().toISOString()).toBe('2026-02-01T10:00:00.000Z');
    expect(clock.nowMs()).toBe(Date.parse('2026-02-01T10:00:00Z'));
    expect(clock.nowMs()).toBe(Date.parse('2026-02-01T10:00:00Z'));
  });

  it('has a fixed default start so tests are reproducible', () => {
    expect(new ManualClock().now().toISOString()).toBe('2026-01-05T08:00:00.000Z');
  });

  it('advances by the given number of milliseconds', () => {
    const clock = new ManualClock(0);
    clock.advance(1500);
    expect(clock.nowMs()).toBe(1500);
  });

  it('fires timers in time order, ties in creation order, when advancing past them', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimer(300, () => fired.push('c@300'));
    clock.setTimer(100, () => fired.push('a@100'));
    clock.setTimer(200, () => fired.push('b1@200'));
    clock.setTimer(200, () => fired.push('b2@200'));
    clock.advance(250);
    expect(fired).toEqual(['a@100', 'b1@200', 'b2@200']);
    clock.advance(50);
    expect(fired).toEqual(['a@100', 'b1@200', 'b2@200', 'c@300']);
  });

  it('shows each timer the time it was due, then ends at the target time', () => {
    const clock = new ManualClock(0);
    const seen: number[] = [];
    clock.setTimer(100, () => seen.push(clock.nowMs()));
    clock.setTimer(400, () => seen.push(clock.nowMs()));
    clock.advance(1000);
    expect(seen).toEqual([100, 400]);
    expect(clock.nowMs()).toBe(1000);
  });

  it('does not fire a timer before it is due', () => {
    const clock = new ManualClock(0);
    let fired = 0;
    clock.setTimer(100, () => fired++);
    clock.advance(99);
    expect(fired).toBe(0);
    clock.advance(1);
    expect(fired).toBe(1);
  });

  it('fires a timer only once', () => {
    const clock = new ManualClock(0);
    let fired = 0;
    clock.setTimer(10, () => fired++);
    clock.advance(10);
    clock.advance(1000);
    expect(fired).toBe(1);
  });

  it('treats a negative delay as due now', () => {
    const clock = new ManualClock(1000);
    let fired = 0;
    clock.setTimer(-50, () => fired++);
    clock.advance(0);
    expect(fired).toBe(1);
    expect(clock.nowMs()).toBe(1000);
  });

  it('does not fire a cancelled timer and no longer counts it as pending', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    const a = clock.setTimer(100, () => fired.push('a'));
    clock.setTimer(100, () => fired.push('b'));
    expect(clock.pendingTimers()).toBe(2);
    a.cancel();
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(500);
    expect(fired).toEqual(['b']);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('lets a firing timer cancel a later one due in the same advance', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    const handles: { cancel(): void }[] = [];
    clock.setTimer(100, () => {
      fired.push('first');
      handles[0]?.cancel();
    });
    handles.push(clock.setTimer(200, () => fired.push('second')));
    clock.advance(1000);
    expect(fired).toEqual(['first']);
  });

  it('fires a timer set from inside a firing timer when it falls due within the same advance', () => {
    const clock = new ManualClock(0);
    const fired: [string, number][] = [];
    clock.setTimer(100, () => {
      fired.push(['outer', clock.nowMs()]);
      clock.setTimer(50, () => fired.push(['inner', clock.nowMs()]));
      clock.setTimer(5000, () => fired.push(['late', clock.nowMs()]));
    });
    clock.setTimer(200, () => fired.push(['other', clock.nowMs()]));
    clock.advance(1000);
    expect(fired).toEqual([
      ['outer', 100],
      ['inner', 150],
      ['other', 200],
    ]);
    expect(clock.pendingTimers()).toBe(1);
  });

  it('supports a timer that re-arms itself (a repeating tick)', () => {
    const clock = new ManualClock(0);
    const ticks: number[] = [];
    const tick = (): void => {
      ticks.push(clock.nowMs());
      clock.setTimer(1000, tick);
    };
    clock.setTimer(1000, tick);
    clock.advance(3500);
    expect(ticks).toEqual([1000, 2000, 3000]);
  });

  it('set() moves to an absolute instant and fires due timers', () => {
    const clock = new ManualClock('2026-01-05T08:00:00Z');
    let fired = false;
    clock.setTimer(60_000, () => (fired = true));
    clock.set('2026-01-05T08:01:00Z');
    expect(fired).toBe(true);
    expect(clock.now().toISOString()).toBe('2026-01-05T08:01:00.000Z');
  });

  it('set() refuses to move backwards and leaves the time unchanged', () => {
    const clock = new ManualClock('2026-01-05T08:00:00Z');
    expect(() => clock.set('2026-01-05T07:59:59Z')).toThrow(/backwards/);
    expect(() => clock.advance(-1)).toThrow(/backwards/);
    expect(clock.now().toISOString()).toBe('2026-01-05T08:00:00.000Z');
  });

  it('set() to the current instant is allowed and fires timers due now', () => {
    const clock = new ManualClock(500);
    let fired = 0;
    clock.setTimer(0, () => fired++);
    clock.set(500);
    expect(fired).toBe(1);
  });

  it('pendingTimers() counts timers still waiting', () => {
    const clock = new ManualClock(0);
    expect(clock.pendingTimers()).toBe(0);
    clock.setTimer(100, () => undefined);
    clock.setTimer(200, () => undefined);
    clock.setTimer(300, () => undefined);
    expect(clock.pendingTimers()).toBe(3);
    clock.advance(150);
    expect(clock.pendingTimers()).toBe(2);
    clock.advance(1000);
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('systemClock', () => {
  it('reads the wall clock', () => {
    const before = Date.now();
    const now = systemClock.nowMs();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(Math.abs(systemClock.now().getTime() - now)).toBeLessThan(5_000);
  });

  it('setTimer calls the function', async () => {
    const fired = await new Promise<boolean>((resolve) => {
      systemClock.setTimer(1, () => resolve(true));
    });
    expect(fired).toBe(true);
  });

  it('setTimer with a negative delay still fires', async () => {
    const fired = await new Promise<boolean>((resolve) => {
      systemClock.setTimer(-10, () => resolve(true));
    });
    expect(fired).toBe(true);
  });

  it('a cancelled systemClock timer does not fire before a later one does', async () => {
    const fired: string[] = [];
    const handle = systemClock.setTimer(1, () => fired.push('cancelled'));
    handle.cancel();
    await new Promise<void>((resolve) => {
      systemClock.setTimer(20, () => {
        fired.push('later');
        resolve();
      });
    });
    expect(fired).toEqual(['later']);
  });
});
