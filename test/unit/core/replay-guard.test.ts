import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/database.js';
import { DataLayer } from '../../../src/db/data-layer.js';
import { ManualClock } from '../../../src/clock/clock.js';
import { REPLAY_WINDOW_MS, ReplayGuard, requestKey } from '../../../src/core/replay-guard.js';

describe('ReplayGuard', () => {
  const setup = () => {
    const db = openDatabase(':memory:');
    const clock = new ManualClock('2026-03-02T08:00:00Z');
    return { db, clock, guard: new ReplayGuard(DataLayer.sqlite(db), clock) };
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

  it('prunes rows past the window at most once a minute', async () => {
    const { db, clock, guard } = setup();
    const rows = () => db.prepare(`SELECT key FROM slack_requests_seen ORDER BY key`).pluck().all();
    guard.firstTime('trigger:old');
    await guard.flush();
    clock.advance(REPLAY_WINDOW_MS + 1);
    guard.firstTime('trigger:new');
    await guard.flush();
    expect(rows()).toEqual(['trigger:new']);
    clock.advance(30_000);
    guard.firstTime('trigger:newer');
    await guard.flush();
    expect(rows()).toEqual(['trigger:new', 'trigger:newer']);
    clock.advance(REPLAY_WINDOW_MS + 1);
    guard.firstTime('trigger:newest');
    await guard.flush();
    expect(rows()).toEqual(['trigger:newest']);
  });

  it('writes the keys of one event-loop turn in one go, and a guard opened later on the same database still refuses them', async () => {
    const { db, clock, guard } = setup();
    const rows = () => db.prepare(`SELECT key FROM slack_requests_seen ORDER BY key`).pluck().all();
    expect(guard.firstTime('trigger:a')).toBe(true);
    expect(guard.firstTime('trigger:b')).toBe(true);
    expect(rows()).toEqual([]); // decided in memory; written at the end of the turn
    await new Promise((r) => setImmediate(r));
    expect(rows()).toEqual(['trigger:a', 'trigger:b']);
    clock.advance(60_000);
    const afterRestart = new ReplayGuard(DataLayer.sqlite(db), clock);
    await afterRestart.load();
    expect(afterRestart.firstTime('trigger:a')).toBe(false);
    expect(afterRestart.firstTime('trigger:c')).toBe(true);
    clock.advance(REPLAY_WINDOW_MS);
    const later = new ReplayGuard(DataLayer.sqlite(db), clock);
    await later.load();
    expect(later.firstTime('trigger:b')).toBe(true);
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
