import { sql } from 'kysely';
import { all, run, type DataLayer } from '../db/data-layer.js';
import type { Clock } from '../clock/clock.js';

/**
 * Slack's signature is accepted for 5 minutes after the request's timestamp (by our clock). Remembering a
 * request twice as long covers a host clock up to 5 minutes behind Slack's as well.
 */
export const REPLAY_WINDOW_MS = 10 * 60_000;
/** Forgetting is a range delete on an index; once a minute keeps it off nearly every request. */
const PRUNE_EVERY_MS = 60_000;
/** Keys per INSERT when replicas claim them together: 2 parameters each, far below PostgreSQL's limit per statement. */
const CLAIM_ROWS = 500;

/** What makes a Slack request one of a kind, or undefined for a body that carries no id. */
export function requestKey(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { trigger_id: triggerId, event_id: eventId } = body as { trigger_id?: unknown; event_id?: unknown };
  // Every slash command, click, shortcut and modal submission carries a trigger_id, unique per user action.
  if (typeof triggerId === 'string' && triggerId !== '') return `trigger:${triggerId}`;
  // Events API deliveries (and Slack's retries of them) carry an event_id instead.
  if (typeof eventId === 'string' && eventId !== '') return `event:${eventId}`;
  return undefined;
}

/**
 * Remembers the signed Slack requests handled in the last REPLAY_WINDOW_MS. A signature proves Slack sent
 * the bytes, not that they are new: without this, someone who captured a request (a proxy log, a leaked HAR
 * file) could replay it until the signature expires, and Slack's own retries would run a command twice.
 *
 * The decision is made in memory, so the ack path pays a map lookup, not a write transaction of its own
 * (that cost /waygate help a third of its throughput). The keys are written through the data layer in one
 * transaction per event-loop turn, after the ack, and loaded back at start (load()), so a restart does not
 * forget them; only a key seen in the last turn before a crash can be lost.
 */
export class ReplayGuard {
  /** Key → when it was seen; insertion order is time order, so the oldest are at the front. */
  private readonly seen = new Map<string, number>();
  private unwritten: Array<[string, number]> = [];
  private writeQueued = false;
  private prunedAt = Number.NEGATIVE_INFINITY;
  /** The writes so far, one after the other: flush() resolves once everything seen before it is written. */
  private writing: Promise<void> = Promise.resolve();
  /** Replicas: keys to claim in the database at the end of this turn, with whoever waits for each answer. */
  private claims = new Map<string, { resolve: (taken: boolean) => void; reject: (err: unknown) => void }>();

  constructor(
    private readonly data: DataLayer,
    private readonly clock: Clock,
    private readonly onWriteError: (err: unknown) => void = () => undefined,
    /**
     * Replicas share the database (decision 021): a retry or a replay may reach another replica than the
     * first attempt did, so the decision is the database's (one insert before the ack), not this process's memory.
     */
    private readonly shared = false,
  ) {}

  /**
   * firstTime(), decided where every replica sees it: in memory when this process saw the key, else by
   * inserting it (a key another replica wrote within the window is not taken again). The keys of the requests
   * that arrive in one turn of the event loop are inserted together, one statement and one commit for all of
   * them, as the webhook inbox does: on PostgreSQL each statement is a round trip and each commit a flush.
   */
  async firstTimeShared(key: string): Promise<boolean> {
    if (!this.shared) return this.firstTime(key);
    this.forgetBefore(this.clock.nowMs() - REPLAY_WINDOW_MS);
    if (this.seen.has(key)) return false;
    // The same request twice in one turn: the first decides, and this one is its replay either way.
    if (this.claims.has(key)) return false;
    return new Promise((resolve, reject) => {
      this.claims.set(key, { resolve, reject });
      if (this.claims.size === 1) setImmediate(() => void this.claim());
    });
  }

  /** Inserts the keys gathered in this turn; each is taken unless another replica wrote it within the window. */
  private async claim(): Promise<void> {
    const batch = [...this.claims];
    this.claims = new Map();
    const now = this.clock.nowMs();
    const cutoff = now - REPLAY_WINDOW_MS;
    const taken = new Set<string>();
    try {
      for (let i = 0; i < batch.length; i += CLAIM_ROWS) {
        const values = sql.join(batch.slice(i, i + CLAIM_ROWS).map(([key]) => sql`(${key}, ${now})`));
        const rows = await all(
          this.data.db,
          sql<{ key: string }>`INSERT INTO slack_requests_seen (key, seen_at) VALUES ${values}
              ON CONFLICT (key) DO UPDATE SET seen_at = excluded.seen_at WHERE slack_requests_seen.seen_at < ${cutoff} RETURNING key`,
        );
        for (const { key } of rows) taken.add(key);
      }
      // What no signature check would accept any more goes, as flush() does for a single process; the claims
      // stand whether or not that works.
      if (now - this.prunedAt >= PRUNE_EVERY_MS) {
        this.prunedAt = now;
        await run(this.data.db, sql`DELETE FROM slack_requests_seen WHERE seen_at < ${cutoff}`).catch((err: unknown) => {
          this.prunedAt = Number.NEGATIVE_INFINITY;
          this.onWriteError(err);
        });
      }
    } catch (err) {
      for (const [, waiting] of batch) waiting.reject(err);
      return;
    }
    for (const [key, waiting] of batch) {
      if (taken.has(key)) {
        this.seen.delete(key);
        this.seen.set(key, now);
      }
      waiting.resolve(taken.has(key));
    }
  }

  /** Loads the keys seen within the window before a restart; awaited at start-up, before Slack can reach the bot. */
  async load(): Promise<void> {
    const cutoff = this.clock.nowMs() - REPLAY_WINDOW_MS;
    const rows = await all(this.data.db, sql<{ key: string; seen_at: number }>`SELECT key, seen_at FROM slack_requests_seen WHERE seen_at >= ${cutoff} ORDER BY seen_at`);
    for (const { key, seen_at: at } of rows) {
      // A key seen since start-up (none, when load() runs first) is newer than its stored row.
      if (!this.seen.has(key)) this.seen.set(key, Number(at));
    }
  }

  /** True the first time a key is seen within the window; false for a replay or a retry. Decided in memory. */
  firstTime(key: string): boolean {
    const now = this.clock.nowMs();
    const cutoff = now - REPLAY_WINDOW_MS;
    this.forgetBefore(cutoff);
    const at = this.seen.get(key);
    if (at !== undefined && at >= cutoff) return false;
    // Re-inserted, so the map stays in time order.
    this.seen.delete(key);
    this.seen.set(key, now);
    this.unwritten.push([key, now]);
    if (!this.writeQueued) {
      this.writeQueued = true;
      setImmediate(() => void this.flush());
    }
    return true;
  }

  /**
   * Writes the keys seen since the last write in one transaction; called at the end of each turn and when the bot
   * stops. Resolves once they (and any write before) are done; never rejects: a failure goes to onWriteError.
   */
  flush(): Promise<void> {
    this.writeQueued = false;
    const rows = this.unwritten;
    this.unwritten = [];
    const now = this.clock.nowMs();
    const prune = now - this.prunedAt >= PRUNE_EVERY_MS;
    if (prune) this.prunedAt = now;
    if (rows.length === 0 && !prune) return this.writing;
    this.writing = this.writing
      .then(() =>
        this.data.transaction(async (tx) => {
          for (const [key, at] of rows) {
            await run(tx, sql`INSERT INTO slack_requests_seen (key, seen_at) VALUES (${key}, ${at}) ON CONFLICT (key) DO UPDATE SET seen_at = excluded.seen_at`);
          }
          if (prune) await run(tx, sql`DELETE FROM slack_requests_seen WHERE seen_at < ${now - REPLAY_WINDOW_MS}`);
        }),
      )
      .catch((err: unknown) => {
        // Still remembered in memory; only a restart before the database recovers would forget them.
        if (prune) this.prunedAt = Number.NEGATIVE_INFINITY;
        this.onWriteError(err);
      });
    return this.writing;
  }

  private forgetBefore(cutoff: number): void {
    for (const [key, at] of this.seen) {
      if (at >= cutoff) return;
      this.seen.delete(key);
    }
  }
}
