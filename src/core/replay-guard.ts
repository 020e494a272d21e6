import type { Statement } from 'better-sqlite3';
import type { Db } from '../db/database.js';
import type { Clock } from '../clock/clock.js';

/**
 * Slack's signature is accepted for 5 minutes after the request's timestamp (by our clock). Remembering a
 * request twice as long covers a host clock up to 5 minutes behind Slack's as well.
 */
export const REPLAY_WINDOW_MS = 10 * 60_000;
/** Forgetting is a range delete on an index; once a minute keeps it off nearly every request. */
const PRUNE_EVERY_MS = 60_000;

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
 * (that cost /waygate help a third of its throughput). The keys are written to SQLite in one transaction
 * per event-loop turn and loaded back at start, so a restart does not forget them; only a key seen in the
 * last turn before a crash can be lost.
 */
export class ReplayGuard {
  /** Key → when it was seen; insertion order is time order, so the oldest are at the front. */
  private readonly seen = new Map<string, number>();
  private unwritten: Array<[string, number]> = [];
  private writeQueued = false;
  private prunedAt = Number.NEGATIVE_INFINITY;
  private readonly remember: Statement<[string, number]>;
  private readonly prune: Statement<[number]>;
  private readonly writeAll: (rows: Array<[string, number]>) => void;

  constructor(
    db: Db,
    private readonly clock: Clock,
    private readonly onWriteError: (err: unknown) => void = () => undefined,
  ) {
    this.remember = db.prepare(`INSERT OR REPLACE INTO slack_requests_seen (key, seen_at) VALUES (?, ?)`);
    this.prune = db.prepare(`DELETE FROM slack_requests_seen WHERE seen_at < ?`);
    this.writeAll = db.transaction((rows: Array<[string, number]>) => {
      for (const [key, at] of rows) this.remember.run(key, at);
    });
    const cutoff = clock.nowMs() - REPLAY_WINDOW_MS;
    const rows = db.prepare(`SELECT key, seen_at FROM slack_requests_seen WHERE seen_at >= ? ORDER BY seen_at`).raw().all(cutoff) as Array<[string, number]>;
    for (const [key, at] of rows) this.seen.set(key, at);
  }

  /** True the first time a key is seen within the window; false for a replay or a retry. */
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
      setImmediate(() => this.flush());
    }
    return true;
  }

  /** Writes the keys seen since the last write; called at the end of each turn and when the bot stops. */
  flush(): void {
    this.writeQueued = false;
    const rows = this.unwritten;
    this.unwritten = [];
    const now = this.clock.nowMs();
    try {
      if (rows.length > 0) this.writeAll(rows);
      if (now - this.prunedAt >= PRUNE_EVERY_MS) {
        this.prune.run(now - REPLAY_WINDOW_MS);
        this.prunedAt = now;
      }
    } catch (err) {
      // Still remembered in memory; only a restart before the database recovers would forget them.
      this.onWriteError(err);
    }
  }

  private forgetBefore(cutoff: number): void {
    for (const [key, at] of this.seen) {
      if (at >= cutoff) return;
      this.seen.delete(key);
    }
  }
}
