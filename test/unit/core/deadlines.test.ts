import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { Deadlines, type DueDeadline } from '../../../src/core/deadlines.js';
import { openDatabase, type Db } from '../../../src/db/database.js';
import { DataLayer } from '../../../src/db/data-layer.js';
import { ManualClock } from '../../../src/clock/clock.js';

const START = Date.parse('2026-03-02T08:00:00Z');
const MIN = 60_000;
/** Lets a firing the clock started finish (its transaction resolves within the event-loop turn). */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Deadlines', () => {
  let db: Db;
  let data: DataLayer;
  let clock: ManualClock;
  let lines: Array<{ msg: string; level: number }>;
  let deadlines: Deadlines;
  let fired: Array<{ owner: string; keys: string[]; late: boolean[]; at: number }>;

  const record = (owner: string) => (due: readonly DueDeadline[], now: number) => {
    fired.push({ owner, keys: due.map((d) => d.key), late: due.map((d) => d.late), at: now });
  };

  beforeEach(() => {
    db = openDatabase(':memory:');
    data = DataLayer.sqlite(db);
    clock = new ManualClock(START);
    lines = [];
    fired = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string; level: number }) });
    deadlines = new Deadlines(DataLayer.sqlite(db), clock, logger);
    deadlines.on('sla', record('sla'));
    deadlines.on('approval', record('approval'));
  });

  it('fires each deadline once when its time comes, grouping an owner\'s deadlines that fall due together', async () => {
    await deadlines.start();
    await data.transaction(async (tx) => {
      await deadlines.schedule(tx, 'sla', 'a:warn', START + 4 * MIN);
      await deadlines.schedule(tx, 'sla', 'b:warn', START + 4 * MIN);
      await deadlines.schedule(tx, 'approval', 'run-1', START + 10 * MIN, { runId: 1 });
    });
    expect(clock.nextTimerAt()).toBe(START + 4 * MIN);
    clock.advance(4 * MIN - 1);
    await settled();
    expect(fired).toEqual([]);
    clock.advance(1);
    await settled();
    expect(fired).toEqual([{ owner: 'sla', keys: ['a:warn', 'b:warn'], late: [false, false], at: START + 4 * MIN }]);
    expect(clock.nextTimerAt()).toBe(START + 10 * MIN);
    clock.advance(6 * MIN);
    await settled();
    expect(fired.map((f) => f.owner)).toEqual(['sla', 'approval']);
    clock.advance(60 * MIN);
    await settled();
    expect(fired).toHaveLength(2);
    expect(deadlines.status()).toEqual({ nextDueAt: null, lastError: null });
  });

  it('moves a rescheduled deadline and forgets a cancelled one', async () => {
    await deadlines.start();
    await deadlines.schedule(data.db, 'sla', 'a:breach', START + 5 * MIN);
    await deadlines.schedule(data.db, 'sla', 'a:breach', START + 15 * MIN, { priority: 'P2' });
    await deadlines.schedule(data.db, 'sla', 'b:breach', START + 7 * MIN);
    await deadlines.cancel(data.db, 'sla', 'b:breach');
    clock.advance(10 * MIN);
    await settled();
    expect(fired).toEqual([]);
    clock.advance(5 * MIN);
    await settled();
    expect(fired.map((f) => f.keys)).toEqual([['a:breach']]);
  });

  it('fires at start-up what fell due while the bot was down, marked late; a deadline due a moment ago is not late', async () => {
    await deadlines.schedule(data.db, 'sla', 'old', START - 30 * MIN);
    await deadlines.schedule(data.db, 'sla', 'just-now', START - 1_000);
    await deadlines.schedule(data.db, 'sla', 'future', START + MIN);
    expect(fired).toEqual([]); // not started: nothing fires, nothing is armed
    await deadlines.start();
    expect(fired).toEqual([{ owner: 'sla', keys: ['old', 'just-now'], late: [true, false], at: START }]);
    expect(db.prepare(`SELECT key, fired_late FROM deadlines WHERE fired_at IS NOT NULL ORDER BY id`).all()).toEqual([
      { key: 'old', fired_late: 1 },
      { key: 'just-now', fired_late: 0 },
    ]);
  });

  it('keeps what a failing handler was handed for the next try, backing off instead of looping, and says so in status()', async () => {
    let failures = 3;
    const flaky = new Deadlines(DataLayer.sqlite(db), clock, pino({ level: 'silent' }));
    const seen: number[] = [];
    flaky.on('flaky', (_due, now) => {
      seen.push(now - START);
      if (failures-- > 0) throw new Error('database is locked');
    });
    await flaky.schedule(data.db, 'flaky', 'k', START);
    await flaky.start();
    expect(flaky.status().lastError).toBe('database is locked');
    for (let i = 0; i < 10 && clock.nextTimerAt() !== null; i++) {
      clock.set(clock.nextTimerAt() ?? 0);
      await settled();
    }
    // Tries at once, then 1 s, 2 s and 4 s later: three failures, then success.
    expect(seen).toEqual([0, 1_000, 3_000, 7_000]);
    expect(flaky.status()).toEqual({ nextDueAt: null, lastError: null });
    expect(db.prepare(`SELECT COUNT(*) FROM deadlines WHERE fired_at IS NOT NULL`).pluck().get()).toBe(1);
  });

  it('drops deadlines of an owner nobody handles, with one warning', async () => {
    await deadlines.schedule(data.db, 'retired-module', 'x', START - 1);
    await deadlines.start();
    expect(fired).toEqual([]);
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(['deadlines fell due with no handler; dropped']);
  });

  it('refuses a second handler for one owner', async () => {
    expect(() => deadlines.on('sla', () => undefined)).toThrow('registered twice');
  });

  it('prunes fired deadlines older than the cut-off, never pending ones', async () => {
    await deadlines.schedule(data.db, 'sla', 'fired', START - 1);
    await deadlines.schedule(data.db, 'sla', 'pending', START + 90 * 86_400_000);
    await deadlines.start();
    await deadlines.stop();
    clock.advance(2 * 86_400_000);
    await settled();
    expect(await deadlines.pruneFired(data.db, clock.nowMs() - 86_400_000)).toBe(1);
    expect(db.prepare(`SELECT key FROM deadlines`).pluck().all()).toEqual(['pending']);
  });
});
