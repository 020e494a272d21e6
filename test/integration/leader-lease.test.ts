import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock/clock.js';
import { assertToken, FencedOut, LeaderElector, LeaderLease, type DemotionReason } from '../../src/cluster/leader-lease.js';
import { startPostgres, type PostgresHandle } from '../support/postgres-cluster.js';

// The lease is measured by PostgreSQL's clock, which tests cannot move: the expiry tests wait for real, so
// their ttl is short. Everything else is driven by hand.
const SHORT_TTL_MS = 300;
const LONG_TTL_MS = 60_000;

let server: PostgresHandle;
let pool: pg.Pool;
let lease: LeaderLease;

beforeAll(async () => {
  server = await startPostgres();
  pool = new pg.Pool({ connectionString: server.url, max: 6 });
  lease = new LeaderLease(pool);
  await lease.ensureTable();
  await pool.query('CREATE TABLE deliveries (id serial PRIMARY KEY, body text NOT NULL)');
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
});

beforeEach(async () => {
  await pool.query('TRUNCATE waygate_leader, deliveries');
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (by polling, never guessing a delay) until PostgreSQL's clock is past `at`. */
async function untilDatabasePast(at: Date): Promise<void> {
  for (;;) {
    const { rows } = await pool.query<{ past: boolean }>('SELECT now() > $1::timestamptz AS past', [at]);
    if (rows[0]!.past) return;
    await sleep(25);
  }
}

/** One leader-side transaction: check the token, then write, as delivery will. */
async function guardedDelivery(token: bigint, body: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('INSERT INTO deliveries (body) VALUES ($1)', [body]);
    await assertToken(client, token);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

async function deliveries(): Promise<string[]> {
  return (await pool.query<{ body: string }>('SELECT body FROM deliveries ORDER BY id')).rows.map((r) => r.body);
}

describe('leader lease on PostgreSQL', () => {
  it('creates its table once, and again harmlessly from a second replica', async () => {
    await new LeaderLease(pool).ensureTable();
    await Promise.all([new LeaderLease(pool).ensureTable(), new LeaderLease(pool).ensureTable()]);
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'waygate_leader'");
    expect(rows[0].n).toBe(1);
  });

  it('lets exactly one of two contending holders lead, and tells the other who does', async () => {
    const results = await Promise.all([lease.tryAcquire('replica-a', LONG_TTL_MS), lease.tryAcquire('replica-b', LONG_TTL_MS)]);
    expect(results.filter((r) => r.leader)).toHaveLength(1);
    const [first, second] = results;
    const [winner, loser] = first.leader ? [first, second] : [second, first];
    expect(loser).toMatchObject({ leader: false, holder: winner.holder, token: winner.token });
    expect(winner.token).toBe(1n);
  });

  it('renews the leader with the same token and a later expiry by the database clock', async () => {
    const first = await lease.tryAcquire('replica-a', LONG_TTL_MS);
    const { rows } = await pool.query<{ now: Date }>('SELECT now()');
    expect(first.expiresAt.getTime()).toBeGreaterThan(rows[0]!.now.getTime() + LONG_TTL_MS - 5_000);
    const renewed = await lease.tryAcquire('replica-a', LONG_TTL_MS);
    expect(renewed).toMatchObject({ leader: true, holder: 'replica-a', token: first.token });
    expect(renewed.expiresAt.getTime()).toBeGreaterThan(first.expiresAt.getTime());
    // A follower's attempt changes nothing.
    expect(await lease.tryAcquire('replica-b', LONG_TTL_MS)).toMatchObject({ leader: false, holder: 'replica-a', token: first.token });
    expect(await lease.current()).toMatchObject({ holder: 'replica-a', token: first.token, expiresAt: renewed.expiresAt, expired: false });
  });

  it('hands an expired lease to the other holder with a higher token, and fences the old leader out', async () => {
    const a = await lease.tryAcquire('replica-a', SHORT_TTL_MS);
    expect(a.leader).toBe(true);
    await guardedDelivery(a.token, 'sent while leading');
    expect(await lease.tryAcquire('replica-b', SHORT_TTL_MS)).toMatchObject({ leader: false, holder: 'replica-a' });

    // replica-a freezes: it does not renew, and its lease runs out by PostgreSQL's clock.
    await untilDatabasePast(a.expiresAt);
    expect((await lease.current())?.expired).toBe(true);
    const b = await lease.tryAcquire('replica-b', LONG_TTL_MS);
    expect(b).toMatchObject({ leader: true, holder: 'replica-b' });
    expect(b.token).toBe(a.token + 1n);

    // replica-a wakes up and delivers as if it still led: the write rolls back.
    const fenced = await guardedDelivery(a.token, 'sent after the takeover').catch((err: unknown) => err);
    expect(fenced).toBeInstanceOf(FencedOut);
    expect(fenced).toMatchObject({ name: 'FencedOut', expected: a.token, actual: b.token });
    expect((fenced as Error).message).toMatch(/token 1 is not the lease's \(2\)/);
    // Its renewal does not take the lease back either.
    expect(await lease.tryAcquire('replica-a', LONG_TTL_MS)).toMatchObject({ leader: false, holder: 'replica-b', token: b.token });

    await guardedDelivery(b.token, 'sent by the new leader');
    expect(await deliveries()).toEqual(['sent while leading', 'sent by the new leader']);
  });

  it('makes a takeover wait for a guarded transaction that already passed the check', async () => {
    const a = await lease.tryAcquire('replica-a', SHORT_TTL_MS);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await assertToken(client, a.token);
      await untilDatabasePast(a.expiresAt);
      let tookOver = false;
      const takeover = lease.tryAcquire('replica-b', LONG_TTL_MS).then((state) => {
        tookOver = true;
        return state;
      });
      // The takeover is queued behind replica-a's share lock (seen from pg_stat_activity, not guessed).
      for (;;) {
        const { rows } = await pool.query(
          "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO waygate_leader%'",
        );
        if (rows.length > 0) break;
        await sleep(10);
      }
      expect(tookOver).toBe(false);
      await client.query("INSERT INTO deliveries (body) VALUES ('committed before the takeover')");
      await client.query('COMMIT');
      expect(await takeover).toMatchObject({ leader: true, holder: 'replica-b', token: a.token + 1n });
    } finally {
      client.release();
    }
    expect(await deliveries()).toEqual(['committed before the takeover']);
  });

  it('fences out a transaction when there is no lease at all', async () => {
    await expect(guardedDelivery(1n, 'no lease')).rejects.toThrow(/token 1 is not the lease's \(no lease\)/);
    expect(await deliveries()).toEqual([]);
  });

  it('gives the lease up at once on release, and only for its holder', async () => {
    const a = await lease.tryAcquire('replica-a', LONG_TTL_MS);
    expect(await lease.release('replica-b')).toBe(false);
    expect(await lease.tryAcquire('replica-b', LONG_TTL_MS)).toMatchObject({ leader: false });
    expect(await lease.release('replica-a')).toBe(true);
    expect(await lease.release('replica-a')).toBe(false);
    const b = await lease.tryAcquire('replica-b', LONG_TTL_MS);
    expect(b).toMatchObject({ leader: true, holder: 'replica-b', token: a.token + 1n });
  });

  it('takes the lease again with a new token when its own lease ran out', async () => {
    const first = await lease.tryAcquire('replica-a', SHORT_TTL_MS);
    await untilDatabasePast(first.expiresAt);
    const again = await lease.tryAcquire('replica-a', LONG_TTL_MS);
    expect(again).toMatchObject({ leader: true, token: first.token + 1n });
  });

  it('reports no lease before anyone took it', async () => {
    expect(await lease.current()).toBeNull();
  });

  it('rejects an empty holder and a ttl that is not positive', async () => {
    await expect(lease.tryAcquire('', 1_000)).rejects.toThrow(/holder/);
    await expect(lease.tryAcquire('replica-a', 0)).rejects.toThrow(/ttlMs/);
    await expect(lease.tryAcquire('replica-a', Number.NaN)).rejects.toThrow(/ttlMs/);
  });

  it('tries to create the table again after a failed attempt', async () => {
    const broken = new pg.Pool({ connectionString: server.url.replace(/\/postgres$/, '/no_such_database'), max: 1 });
    const flaky = new LeaderLease(broken);
    try {
      await expect(flaky.ensureTable()).rejects.toThrow(/no_such_database/);
      await expect(flaky.ensureTable()).rejects.toThrow(/no_such_database/);
    } finally {
      await broken.end();
    }
  });
});

describe('two leader electors on one database', () => {
  it('elect one leader, and the other takes over within a renewal after the leader stops', async () => {
    const events: string[] = [];
    const elector = (name: string) =>
      new LeaderElector({
        lease,
        holder: name,
        clock: systemClock,
        ttlMs: 10_000,
        renewEveryMs: 50,
        onElected: (token) => events.push(`${name} elected ${token}`),
        onDemoted: (reason: DemotionReason) => events.push(`${name} demoted ${reason}`),
      });
    const a = elector('replica-a');
    const b = elector('replica-b');
    try {
      await a.start();
      await b.start();
      expect(a.status()).toMatchObject({ role: 'leader', token: 1n, holder: 'replica-a' });
      expect(b.status()).toMatchObject({ role: 'follower', token: null, holder: 'replica-a' });

      await a.stop();
      // Released, not left to run out: replica-b's next attempt (50 ms later) takes it, long before the ttl.
      await expect.poll(() => b.isLeader, { timeout: 5_000, interval: 10 }).toBe(true);
      expect(b.currentToken).toBe(2n);
      expect(events).toEqual(['replica-a elected 1', 'replica-a demoted stopped', 'replica-b elected 2']);
    } finally {
      await a.stop();
      await b.stop();
    }
    expect(events.at(-1)).toBe('replica-b demoted stopped');
    expect(await lease.current()).toMatchObject({ expired: true });
  });
});

describe('startPostgres with WAYGATE_TEST_DATABASE_URL', () => {
  it('creates a database of its own on that server and drops it on stop', async () => {
    const db = await startPostgres({ env: { WAYGATE_TEST_DATABASE_URL: server.url } });
    const name = new URL(db.url).pathname.slice(1);
    expect(name).toMatch(/^waygate_test_[0-9a-f]{12}$/);
    const client = new pg.Client({ connectionString: db.url });
    // DROP … WITH (FORCE) ends this session; pg reports that as an 'error' event.
    client.on('error', () => undefined);
    await client.connect();
    expect((await client.query('SELECT current_database() AS db')).rows[0].db).toBe(name);
    // A session a failed test left open does not keep the database alive.
    await db.stop();
    await db.stop();
    await client.end().catch(() => undefined);
    const { rows } = await pool.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    expect(rows).toEqual([]);
  });
});
