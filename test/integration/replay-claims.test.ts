import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { REPLAY_WINDOW_MS, ReplayGuard } from '../../src/core/replay-guard.js';
import { all, type DataLayer } from '../../src/db/data-layer.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startPostgres, type PostgresHandle } from '../support/postgres-cluster.js';

let server: PostgresHandle;
let data: DataLayer;
beforeAll(async () => {
  server = await startPostgres();
  data = await openPostgres(server.url);
}, 60_000);
afterAll(async () => {
  await data?.close();
  await server?.stop();
});

describe('replicas claiming Slack requests in the database, a turn’s worth at a time', () => {
  it('takes each key once across replicas, tells a replay within the same turn, takes a key again after the window, and forgets keys older than it', async () => {
    const clock = new ManualClock('2026-03-02T08:00:00Z');
    const one = new ReplayGuard(data, clock, undefined, true);
    const two = new ReplayGuard(data, clock, undefined, true);
    // Arriving in one turn: one insert for each replica's batch.
    const first = await Promise.all([one.firstTimeShared('trigger:a'), one.firstTimeShared('trigger:b'), one.firstTimeShared('trigger:a')]);
    expect(first).toEqual([true, true, false]);
    // Slack's retry reaching the other replica.
    expect(await Promise.all([two.firstTimeShared('trigger:a'), two.firstTimeShared('trigger:c')])).toEqual([false, true]);
    // Both replicas at once, for the same new key: exactly one of them takes it.
    const raced = await Promise.all([one.firstTimeShared('trigger:d'), two.firstTimeShared('trigger:d')]);
    expect(raced.filter(Boolean)).toHaveLength(1);
    // Seen here before: answered from memory.
    expect(await one.firstTimeShared('trigger:b')).toBe(false);
    clock.advance(REPLAY_WINDOW_MS + 1);
    expect(await two.firstTimeShared('trigger:a')).toBe(true);
    const rows = await all(data.db, sql<{ key: string }>`SELECT key FROM slack_requests_seen ORDER BY key`);
    // Keys no signature check would accept any more are deleted as claims go on: the table does not grow forever.
    expect(rows.map((r) => r.key)).toEqual(['trigger:a']);
  });

  it('takes a turn with more keys than one statement holds', async () => {
    const clock = new ManualClock('2026-03-03T08:00:00Z');
    const guard = new ReplayGuard(data, clock, undefined, true);
    const keys = Array.from({ length: 1_201 }, (_, i) => `trigger:many-${i}`);
    expect((await Promise.all(keys.map((key) => guard.firstTimeShared(key)))).every(Boolean)).toBe(true);
    expect(await new ReplayGuard(data, clock, undefined, true).firstTimeShared(keys[600]!)).toBe(false);
  });
});
