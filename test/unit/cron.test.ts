import { describe, expect, it } from 'vitest';
import { compileCron } from '../../src/jobs/cron.js';

/** The next `count` firings after `from`, as ISO strings. */
function firings(expression: string, timezone: string, from: string, count: number): string[] {
  const schedule = compileCron(expression, timezone);
  const out: string[] = [];
  let at = new Date(from);
  for (let i = 0; i < count; i++) {
    at = schedule.next(at);
    out.push(at.toISOString());
  }
  return out;
}

describe('compileCron', () => {
  it('keeps the expression and zone it was compiled with', () => {
    const schedule = compileCron('0 9 * * *', 'Europe/Berlin');
    expect(schedule.expression).toBe('0 9 * * *');
    expect(schedule.timezone).toBe('Europe/Berlin');
  });

  it('keeps 09:00 Berlin local time across the March 2026 DST change (08:00Z, then 07:00Z)', () => {
    expect(firings('0 9 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z', 4)).toEqual([
      '2026-03-28T08:00:00.000Z',
      '2026-03-29T07:00:00.000Z',
      '2026-03-30T07:00:00.000Z',
      '2026-03-31T07:00:00.000Z',
    ]);
  });

  it('keeps 09:00 Berlin local time across the October 2026 DST change (07:00Z, then 08:00Z)', () => {
    expect(firings('0 9 * * *', 'Europe/Berlin', '2026-10-23T12:00:00Z', 4)).toEqual([
      '2026-10-24T07:00:00.000Z',
      '2026-10-25T08:00:00.000Z',
      '2026-10-26T08:00:00.000Z',
      '2026-10-27T08:00:00.000Z',
    ]);
  });

  it('fires the same daily expression at 09:00Z in UTC regardless of DST elsewhere', () => {
    expect(firings('0 9 * * *', 'UTC', '2026-03-28T12:00:00Z', 2)).toEqual([
      '2026-03-29T09:00:00.000Z',
      '2026-03-30T09:00:00.000Z',
    ]);
  });

  it('returns an instant strictly after the one given, even when that instant matches', () => {
    const schedule = compileCron('*/5 * * * *', 'UTC');
    expect(schedule.next(new Date('2026-01-01T00:05:00.000Z')).toISOString()).toBe('2026-01-01T00:10:00.000Z');
  });

  it('returns the upcoming match when given a moment just before it', () => {
    const schedule = compileCron('*/5 * * * *', 'UTC');
    expect(schedule.next(new Date('2026-01-01T00:04:59.500Z')).toISOString()).toBe('2026-01-01T00:05:00.000Z');
    expect(schedule.next(new Date('2026-01-01T00:05:00.500Z')).toISOString()).toBe('2026-01-01T00:10:00.000Z');
  });

  it('can be asked repeatedly without advancing by itself', () => {
    const schedule = compileCron('*/5 * * * *', 'UTC');
    const from = new Date('2026-01-01T00:07:00Z');
    expect(schedule.next(from).toISOString()).toBe('2026-01-01T00:10:00.000Z');
    expect(schedule.next(from).toISOString()).toBe('2026-01-01T00:10:00.000Z');
  });

  it('fires weekly on Tuesday 14:00 Berlin, at 13:00Z in winter and 12:00Z in summer', () => {
    // 2026-01-01 is a Thursday.
    expect(firings('0 14 * * 2', 'Europe/Berlin', '2026-01-01T00:00:00Z', 2)).toEqual([
      '2026-01-06T13:00:00.000Z',
      '2026-01-13T13:00:00.000Z',
    ]);
    expect(firings('0 14 * * 2', 'Europe/Berlin', '2026-06-01T00:00:00Z', 1)).toEqual(['2026-06-02T12:00:00.000Z']);
  });

  it('supports a 6-field expression with a seconds field', () => {
    expect(firings('*/15 * * * * *', 'UTC', '2026-01-01T00:00:00Z', 5)).toEqual([
      '2026-01-01T00:00:15.000Z',
      '2026-01-01T00:00:30.000Z',
      '2026-01-01T00:00:45.000Z',
      '2026-01-01T00:01:00.000Z',
      '2026-01-01T00:01:15.000Z',
    ]);
  });

  it('finds the next 29 February, years ahead', () => {
    expect(firings('0 0 29 2 *', 'UTC', '2026-03-01T00:00:00Z', 1)).toEqual(['2028-02-29T00:00:00.000Z']);
    expect(firings('30 12 29 2 *', 'Europe/Berlin', '2026-03-01T00:00:00Z', 1)).toEqual(['2028-02-29T11:30:00.000Z']);
  });
});

describe('local times skipped when clocks spring forward', () => {
  it('runs a 02:00 Berlin job at the jump (03:00 CEST) instead of skipping 29 March 2026', () => {
    const cron = compileCron('0 2 * * *', 'Europe/Berlin');
    expect(cron.next(new Date('2026-03-28T12:00:00Z')).toISOString()).toBe('2026-03-29T01:00:00.000Z');
    // and then carries on normally, without a second run that day
    expect(cron.next(new Date('2026-03-29T01:00:00Z')).toISOString()).toBe('2026-03-30T00:00:00.000Z');
  });

  it('does the same for a time inside the gap, and leaves jobs outside the gap alone', () => {
    expect(compileCron('30 2 * * *', 'Europe/Berlin').next(new Date('2026-03-28T12:00:00Z')).toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(compileCron('0 3 * * *', 'Europe/Berlin').next(new Date('2026-03-28T12:00:00Z')).toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(compileCron('0 9 * * *', 'Europe/Berlin').next(new Date('2026-03-28T12:00:00Z')).toISOString()).toBe('2026-03-29T07:00:00.000Z');
    expect(compileCron('0 2 * * 1', 'Europe/Berlin').next(new Date('2026-03-28T12:00:00Z')).toISOString()).toBe('2026-03-30T00:00:00.000Z');
  });

  it('runs a frequent job once at the jump, not once per skipped slot', () => {
    const cron = compileCron('*/15 * * * *', 'Europe/Berlin');
    expect(cron.next(new Date('2026-03-29T00:50:00Z')).toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(cron.next(new Date('2026-03-29T01:00:00Z')).toISOString()).toBe('2026-03-29T01:15:00.000Z');
  });
});
