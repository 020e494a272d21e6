import { afterEach, describe, expect, it } from 'vitest';
import { SandboxClock } from '../../sandbox/clock.js';

describe('the sandbox clock', () => {
  const WALL = Date.parse('2026-03-02T08:00:00.000Z');
  let clock: SandboxClock | undefined;
  afterEach(() => clock?.stop());

  it('follows the wall clock until moved, then stays that far ahead', async () => {
    let wall = WALL;
    clock = new SandboxClock(() => wall);
    expect(clock.nowMs()).toBe(WALL);
    await clock.advance(10 * 60_000);
    expect(clock.nowMs()).toBe(WALL + 10 * 60_000);
    wall += 1_000;
    expect(clock.nowMs()).toBe(WALL + 10 * 60_000 + 1_000);
    expect(clock.offsetMs()).toBe(10 * 60_000);
  });

  it('fires each timer that falls due on the way at its own instant, in order, including timers those timers set', async () => {
    clock = new SandboxClock(() => WALL);
    const c = clock;
    const fired: Array<[string, number]> = [];
    c.setTimer(3 * 60_000, () => fired.push(['three minutes', c.nowMs() - WALL]));
    c.setTimer(60_000, () => {
      fired.push(['one minute', c.nowMs() - WALL]);
      c.setTimer(60_000, () => fired.push(['set by the first', c.nowMs() - WALL]));
    });
    const cancelled = c.setTimer(2 * 60_000, () => fired.push(['cancelled', c.nowMs() - WALL]));
    c.setTimer(30 * 60_000, () => fired.push(['later', c.nowMs() - WALL]));
    cancelled.cancel();
    await c.advance(5 * 60_000);
    expect(fired).toEqual([
      ['one minute', 60_000],
      ['set by the first', 120_000],
      ['three minutes', 180_000],
    ]);
    expect(c.nowMs()).toBe(WALL + 5 * 60_000);
  });

  it('fires in real time when nobody moves it', async () => {
    clock = new SandboxClock();
    const when = await new Promise<number>((resolve) => clock!.setTimer(5, () => resolve(clock!.nowMs())));
    expect(when).toBeGreaterThan(0);
  });
});
