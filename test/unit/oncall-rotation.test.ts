import { describe, expect, it } from 'vitest';
import { Rotation } from '../../src/oncall/rotation.js';
import { oncallSchema, type RotationConfig } from '../../src/oncall/schema.js';

const rotation = (input: Record<string, unknown>, tz = 'Europe/Berlin') => new Rotation(oncallSchema.parse(input) as RotationConfig, tz);
const iso = (ms: number) => new Date(ms).toISOString();

describe('an on-call rotation', () => {
  const weekly = rotation({ rotation: ['UANA', 'UBEN', 'UCAT'], handoff: 'mon 09:00', length: '1w', start: '2026-03-02' });

  it('hands over every Monday at 09:00 local time, in rotation order from the start date', () => {
    expect(weekly.shiftAt(Date.parse('2026-03-02T07:59:00Z')).userId).toBe('UCAT'); // 08:59 in Berlin: the turn before start
    expect(weekly.shiftAt(Date.parse('2026-03-02T08:00:00Z'))).toMatchObject({ userId: 'UANA', index: 0 });
    expect(weekly.shiftAt(Date.parse('2026-03-06T12:00:00Z')).userId).toBe('UANA');
    expect(weekly.shiftAt(Date.parse('2026-03-09T08:00:00Z')).userId).toBe('UBEN');
    expect(weekly.shiftAt(Date.parse('2026-03-16T08:00:00Z')).userId).toBe('UCAT');
    expect(weekly.shiftAt(Date.parse('2026-03-23T08:00:00Z')).userId).toBe('UANA');
  });

  it('keeps 09:00 local across the change to summer time (a 167-hour week)', () => {
    const shift = weekly.shiftAt(Date.parse('2026-03-25T12:00:00Z'));
    expect(iso(shift.startsAt)).toBe('2026-03-23T08:00:00.000Z');
    expect(iso(shift.endsAt)).toBe('2026-03-30T07:00:00.000Z'); // 09:00 CEST
    expect(weekly.shiftAt(Date.parse('2026-03-30T06:59:59Z')).index).toBe(shift.index);
    expect(weekly.shiftAt(Date.parse('2026-03-30T07:00:00Z')).index).toBe(shift.index + 1);
  });

  it('starts on the first handoff weekday on or after the start date', () => {
    const fromWednesday = rotation({ rotation: ['UANA', 'UBEN'], handoff: 'mon 09:00', start: '2026-03-04' });
    expect(iso(fromWednesday.handoffAt(0))).toBe('2026-03-09T08:00:00.000Z');
  });

  it('can hand over daily at a time, whatever the weekday', () => {
    const daily = rotation({ rotation: ['UANA', 'UBEN'], handoff: '18:30', length: '1d', start: '2026-03-02' }, 'UTC');
    expect(daily.shiftAt(Date.parse('2026-03-03T18:29:00Z')).userId).toBe('UANA');
    expect(daily.shiftAt(Date.parse('2026-03-03T18:30:00Z')).userId).toBe('UBEN');
  });

  it('refuses a handoff, length or person it cannot use, saying what it expects', () => {
    const problems = (input: Record<string, unknown>) => oncallSchema.safeParse(input).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(problems({ rotation: ['UANA'], handoff: 'monday 9am' })).toEqual(['handoff: must be a weekday and a time such as "mon 09:00", or a time such as "09:00" (got "monday 9am")']);
    expect(problems({ rotation: ['UANA'], handoff: 'mon 09:00', length: '3d' })).toEqual(['length: must be whole weeks when the handoff names a weekday']);
    expect(problems({ rotation: ['@ana'], handoff: '09:00' })).toEqual(['rotation.0: must be a Slack user id such as U0123ABCD']);
    expect(problems({ rotation: [], handoff: '09:00' })).toEqual(['rotation: must name at least one Slack user']);
    expect(problems({ rotation: ['UANA'] })).toEqual(['handoff: rotation and handoff go together: name both, or neither']);
  });
});
