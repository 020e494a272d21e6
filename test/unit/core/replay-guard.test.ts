import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/database.js';
import { ManualClock } from '../../../src/clock/clock.js';
import { REPLAY_WINDOW_MS, ReplayGuard, requestKey } from '../../../src/core/replay-guard.js';

describe('ReplayGuard', () => {
  const setup = () => {
    const db = openDatabase(':memory:');
    const clock = new ManualClock('2026-03-02T08:00:00Z');
    return { db, clock, guard: new ReplayGuard(db, clock) };
  };

  it('refuses a key for the whole window and accepts it again after, even before the row is pruned', () => {
    const { clock, guard } = setup();
    expect(guard.firstTime('trigger:a')).toBe(true);
    clock.advance(REPLAY_WINDOW_MS - 1);
    expect(guard.firstTime('trigger:a')).toBe(false);
    clock.advance(1);
    expect(guard.firstTime('trigger:a')).toBe(false);
    clock.advance(1);
    expect(guard.firstTime('trigger:a')).toBe(true);
    // Taking the stale row over restarts its window.
    expect(guard.firstTime('trigger:a')).toBe(false);
  });

  it('prunes rows past the window at most once a minute', () => {
    const { db, clock, guard } = setup();
    const rows = () => db.prepare(`SELECT key FROM slack_requests_seen ORDER BY key`).pluck().all();
    guard.firstTime('trigger:old');
    clock.advance(REPLAY_WINDOW_MS + 1);
    guard.firstTime('trigger:new');
    expect(rows()).toEqual(['trigger:new']);
    clock.advance(REPLAY_WINDOW_MS + 1);
    guard.firstTime('trigger:newer');
    expect(rows()).toEqual(['trigger:newer']);
  });

  it('keys commands, clicks and modals by trigger_id, events by event_id, and nothing else', () => {
    expect(requestKey({ command: '/waygate', trigger_id: '1.2.x' })).toBe('trigger:1.2.x');
    expect(requestKey({ type: 'view_submission', trigger_id: '3.4.y' })).toBe('trigger:3.4.y');
    expect(requestKey({ type: 'event_callback', event_id: 'Ev01' })).toBe('event:Ev01');
    expect(requestKey({ type: 'view_closed' })).toBeUndefined();
    expect(requestKey({ trigger_id: '' })).toBeUndefined();
    expect(requestKey(null)).toBeUndefined();
  });
});
