/**
 * One leader among replicas that share a PostgreSQL database (decision 020).
 *
 * The lease is one row, `waygate_leader`: who holds it, until when, and a fencing token that goes up by one
 * every time the lease changes hands (or is taken again after it ran out). Expiry is measured by the
 * database's clock (`now()`) in the statement that takes or renews the lease, so replicas whose clocks
 * disagree still agree on who leads.
 *
 * Holding the lease is not enough to act on it: a leader that froze (SIGSTOP, a long GC pause, a partition)
 * still believes it leads when it wakes up. Every leader-side transaction therefore calls assertToken()
 * first: it reads the token under a share lock, so the write rolls back when another replica took over,
 * and a takeover waits for guarded transactions already past the check to finish.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { QueryResult, QueryResultRow } from 'pg';
import type { Clock, TimerHandle } from '../clock/clock.js';

/** What leader-lease needs of a pg Pool, PoolClient or Client. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

export interface LeaseState {
  /** True when `holder` is the caller, i.e. the caller leads until expiresAt. */
  leader: boolean;
  /** Goes up each time the lease changes hands; a renewal keeps it. */
  token: bigint;
  holder: string;
  /** By the database's clock. */
  expiresAt: Date;
}

/** Thrown inside a leader-side transaction when the lease moved on: the transaction must roll back. */
export class FencedOut extends Error {
  constructor(
    /** Null when this replica does not lead at all. */
    readonly expected: bigint | null,
    readonly actual: bigint | null,
  ) {
    super(
      expected === null
        ? 'fenced out: this replica does not lead'
        : actual === null
        ? `fenced out: this replica's leader token ${expected} is not the lease's (no lease)`
        : `fenced out: this replica's leader token ${expected} is not the lease's (${actual})`,
    );
    this.name = 'FencedOut';
  }
}

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS waygate_leader (
  id int PRIMARY KEY CHECK (id = 1),
  holder text NOT NULL,
  token bigint NOT NULL,
  expires_at timestamptz NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT now()
)`;

/**
 * Takes the lease when it is free or ran out, renews it when it is the caller's, and otherwise leaves it as
 * it is; in every case the row as it now stands comes back. A follower's call rewrites the row unchanged:
 * that takes the row lock, so the answer is the newest version, never one from an older snapshot.
 */
const ACQUIRE = `INSERT INTO waygate_leader AS l (id, holder, token, expires_at, acquired_at)
VALUES (1, $1, 1, now() + $2::double precision * interval '1 millisecond', now())
ON CONFLICT (id) DO UPDATE SET
  acquired_at = CASE WHEN l.holder = $1 AND l.expires_at > now() THEN l.acquired_at WHEN l.expires_at <= now() THEN now() ELSE l.acquired_at END,
  holder = CASE WHEN l.holder = $1 OR l.expires_at <= now() THEN $1 ELSE l.holder END,
  token = CASE
    WHEN l.holder = $1 AND l.expires_at > now() THEN l.token
    WHEN l.expires_at <= now() THEN l.token + 1
    ELSE l.token
  END,
  expires_at = CASE WHEN l.holder = $1 OR l.expires_at <= now() THEN EXCLUDED.expires_at ELSE l.expires_at END
RETURNING holder, token::text AS token, expires_at`;

/** Ends the caller's lease now; the next caller takes it (with the next token). */
const RELEASE = `UPDATE waygate_leader SET expires_at = now() WHERE id = 1 AND holder = $1 AND expires_at > now()`;

interface LeaseRow extends QueryResultRow {
  holder: string;
  token: string;
  expires_at: Date;
}

/**
 * Unique-violation and duplicate-table errors: two replicas that run CREATE TABLE IF NOT EXISTS at the same
 * moment can both pass the "if not exists" and one of them then fails; the table is there either way.
 */
const CREATED_CONCURRENTLY = new Set(['23505', '42P07']);

export class LeaderLease {
  private ready: Promise<void> | undefined;

  constructor(private readonly db: Queryable) {}

  /** Creates the table when it is missing. The other methods call it on first use. */
  ensureTable(): Promise<void> {
    this.ready ??= this.db.query(CREATE_TABLE).then(
      () => undefined,
      (err: unknown) => {
        if (CREATED_CONCURRENTLY.has((err as { code?: string }).code ?? '')) return;
        this.ready = undefined;
        throw err;
      },
    );
    return this.ready;
  }

  /** Takes, renews or reports the lease in one statement; `ttlMs` counts from the database's now(). */
  async tryAcquire(holder: string, ttlMs: number): Promise<LeaseState> {
    if (holder === '') throw new TypeError('holder must not be empty');
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError(`ttlMs must be a positive number, got ${ttlMs}`);
    await this.ensureTable();
    const { rows } = await this.db.query<LeaseRow>(ACQUIRE, [holder, ttlMs]);
    const row = rows[0];
    if (row === undefined) throw new Error('the leader lease statement returned no row');
    return { leader: row.holder === holder, token: BigInt(row.token), holder: row.holder, expiresAt: row.expires_at };
  }

  /** Gives the lease up at once if `holder` has it; true when it did. */
  async release(holder: string): Promise<boolean> {
    await this.ensureTable();
    const { rowCount } = await this.db.query(RELEASE, [holder]);
    return rowCount === 1;
  }

  /** The lease as it stands (for /health), or null before anyone took it; ages by the database's clock. */
  async current(): Promise<(Omit<LeaseState, 'leader'> & { expired: boolean; heldForMs: number; expiresInMs: number }) | null> {
    await this.ensureTable();
    const { rows } = await this.db.query<LeaseRow & { expired: boolean; held_ms: string; expires_in_ms: string }>(
      `SELECT holder, token::text AS token, expires_at, expires_at <= now() AS expired,
              (extract(epoch FROM now() - acquired_at) * 1000)::bigint::text AS held_ms,
              (extract(epoch FROM expires_at - now()) * 1000)::bigint::text AS expires_in_ms
       FROM waygate_leader WHERE id = 1`,
    );
    const row = rows[0];
    if (row === undefined) return null;
    return {
      token: BigInt(row.token),
      holder: row.holder,
      expiresAt: row.expires_at,
      expired: row.expired,
      heldForMs: Number(row.held_ms),
      expiresInMs: Number(row.expires_in_ms),
    };
  }
}

/**
 * Call first inside every leader-side transaction, on that transaction's client. Reads the lease under a
 * share lock held until the transaction ends, and throws FencedOut when its token is not `mine`: the caller
 * rolls back, so a leader that froze and woke up after a takeover writes and sends nothing. Meanwhile a
 * takeover (which updates the row) waits for the guarded transactions already past this check.
 */
export async function assertToken(client: Queryable, mine: bigint): Promise<void> {
  const { rows } = await client.query<{ token: string }>('SELECT token::text AS token FROM waygate_leader WHERE id = 1 FOR SHARE');
  const row = rows[0];
  const actual = row === undefined ? null : BigInt(row.token);
  if (actual !== mine) throw new FencedOut(mine, actual);
}

/** The part of LeaderLease the elector uses; tests substitute their own. */
export interface LeaseStore {
  tryAcquire(holder: string, ttlMs: number): Promise<LeaseState>;
  release(holder: string): Promise<boolean>;
}

/**
 * A holder name no other replica has: host and pid say where it runs, the random part tells apart two
 * processes that got the same pid (two containers) or one restarted with its old pid.
 */
export function replicaName(host: string = hostname(), pid: number = process.pid): string {
  return `${host}:${pid}:${randomBytes(4).toString('hex')}`;
}

export type DemotionReason = 'another-holder' | 'renewal-failed' | 'lease-ran-out' | 'stopped';

export interface LeaderElectorOptions {
  lease: LeaseStore;
  /** Unique per replica (host, pid and a random part): two replicas with one name would both lead. */
  holder: string;
  clock: Pick<Clock, 'nowMs' | 'setTimer'>;
  /** Default 10 s: how long a leader that stops renewing keeps the lease, so the longest failover. */
  ttlMs?: number;
  /** Default 3 s: how often the leader renews and followers try to take over. Must be below ttlMs. */
  renewEveryMs?: number;
  /** Start leader-only work, guarding its writes with `token`. */
  onElected?: (token: bigint) => void;
  /** Stop leader-only work at once. */
  onDemoted?: (reason: DemotionReason) => void;
  /** A failed attempt or a callback that threw; the elector carries on. */
  onError?: (err: unknown) => void;
}

export interface ElectorStatus {
  role: 'leader' | 'follower';
  /** This replica's token while it leads. */
  token: bigint | null;
  /** The holder seen at the last attempt (null before the first answer). */
  holder: string | null;
  /** When the last attempt answered, by the injected clock (null before the first answer). */
  lastAnswerAtMs: number | null;
}

export const DEFAULT_LEASE_TTL_MS = 10_000;
export const DEFAULT_RENEW_EVERY_MS = 3_000;

/**
 * Tries to take or renew the lease every `renewEveryMs` and says when this replica becomes leader or stops
 * being one. It demotes itself when a renewal fails, when another replica holds the lease, and when its lease
 * runs out before a renewal answered (measured from when that renewal was sent, so never later than the
 * database's expiry). Being demoted locally is a courtesy: the fencing token is what keeps a frozen leader
 * from acting.
 */
export class LeaderElector {
  private readonly ttlMs: number;
  private readonly renewEveryMs: number;
  private token: bigint | null = null;
  /** By the injected clock: until when this replica's lease certainly lasts (see holdsLease()). */
  private validUntilMs = Number.NEGATIVE_INFINITY;
  private holderSeen: string | null = null;
  private lastAnswerAtMs: number | null = null;
  private nextRound: TimerHandle | undefined;
  private expiry: TimerHandle | undefined;
  private inflight: Promise<void> = Promise.resolve();
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_LEASE_TTL_MS;
    this.renewEveryMs = opts.renewEveryMs ?? DEFAULT_RENEW_EVERY_MS;
    if (!(this.renewEveryMs > 0 && this.renewEveryMs < this.ttlMs)) {
      throw new RangeError(`renewEveryMs (${this.renewEveryMs}) must be above 0 and below ttlMs (${this.ttlMs})`);
    }
  }

  get isLeader(): boolean {
    return this.token !== null;
  }

  /**
   * True while this replica leads and its lease has certainly not run out, by the clock now rather than by a
   * timer: a process that was frozen (SIGSTOP, a long pause) runs I/O callbacks before its timers when it wakes,
   * so a delivery it was about to make checks this first and finds the lease gone.
   */
  holdsLease(): boolean {
    return this.token !== null && this.opts.clock.nowMs() < this.validUntilMs;
  }

  /** The token to pass to assertToken() while leading, else null. */
  get currentToken(): bigint | null {
    return this.token;
  }

  status(): ElectorStatus {
    return {
      role: this.token === null ? 'follower' : 'leader',
      token: this.token,
      holder: this.holderSeen,
      lastAnswerAtMs: this.lastAnswerAtMs,
    };
  }

  /** Makes the first attempt now; resolves once it answered. Calling it again does nothing. */
  start(): Promise<void> {
    if (this.started || this.stopping) return this.inflight;
    this.started = true;
    return this.round();
  }

  /** Resolves when the attempt under way (if any) has answered. */
  whenIdle(): Promise<void> {
    return this.inflight;
  }

  /** Stops trying, lets an attempt under way finish, and releases the lease if this replica holds it. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.nextRound?.cancel();
      await this.inflight;
      this.nextRound?.cancel();
      if (this.token === null) return;
      this.demote('stopped');
      try {
        await this.opts.lease.release(this.opts.holder);
      } catch (err) {
        // The lease runs out by itself within ttlMs.
        this.report(err);
      }
    })();
    return this.stopping;
  }

  private round(): Promise<void> {
    this.inflight = this.attempt().finally(() => {
      if (this.stopping === undefined) this.nextRound = this.opts.clock.setTimer(this.renewEveryMs, () => void this.round());
    });
    return this.inflight;
  }

  private async attempt(): Promise<void> {
    const sentAtMs = this.opts.clock.nowMs();
    let state: LeaseState;
    try {
      state = await this.opts.lease.tryAcquire(this.opts.holder, this.ttlMs);
    } catch (err) {
      this.report(err);
      if (this.token !== null) this.demote('renewal-failed');
      return;
    }
    this.lastAnswerAtMs = this.opts.clock.nowMs();
    this.holderSeen = state.holder;
    if (!state.leader) {
      if (this.token !== null) this.demote('another-holder');
      return;
    }
    if (this.token !== state.token) {
      // A new token while leading means the lease ran out and was taken again: earlier work is fenced out.
      if (this.token !== null) this.demote('lease-ran-out');
      this.token = state.token;
      this.callback(() => this.opts.onElected?.(state.token));
    }
    // The database counted ttlMs from a moment after sentAtMs, so the lease lasts at least until then.
    this.validUntilMs = sentAtMs + this.ttlMs;
    this.armExpiry(sentAtMs + this.ttlMs - this.opts.clock.nowMs());
  }

  private armExpiry(remainingMs: number): void {
    this.expiry?.cancel();
    this.expiry = this.opts.clock.setTimer(remainingMs, () => {
      this.expiry = undefined;
      if (this.token !== null) this.demote('lease-ran-out');
    });
  }

  private demote(reason: DemotionReason): void {
    this.expiry?.cancel();
    this.expiry = undefined;
    this.token = null;
    this.validUntilMs = Number.NEGATIVE_INFINITY;
    this.callback(() => this.opts.onDemoted?.(reason));
  }

  private callback(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.report(err);
    }
  }

  private report(err: unknown): void {
    try {
      this.opts.onError?.(err);
    } catch {
      // A failing error reporter must not stop the elections.
    }
  }
}
