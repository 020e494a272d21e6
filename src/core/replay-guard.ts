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
 * Remembers the signed Slack requests handled in the last REPLAY_WINDOW_MS, in SQLite so a restart does not
 * forget them. A signature proves Slack sent the bytes, not that they are new: without this, someone who
 * captured a request (a proxy log, a leaked HAR file) could replay it until the signature expires, and
 * Slack's own retries would run a command twice. One indexed insert on the ack path.
 */
export class ReplayGuard {
  private readonly remember: Statement<[string, number, number]>;
  private readonly prune: Statement<[number]>;
  private prunedAt = Number.NEGATIVE_INFINITY;

  constructor(
    db: Db,
    private readonly clock: Clock,
  ) {
    // A row older than the window is stale: taking it over counts as new (the table may not be pruned yet).
    this.remember = db.prepare(
      `INSERT INTO slack_requests_seen (key, seen_at) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET seen_at = excluded.seen_at WHERE slack_requests_seen.seen_at < ?`,
    );
    this.prune = db.prepare(`DELETE FROM slack_requests_seen WHERE seen_at < ?`);
  }

  /** True the first time a key is seen within the window; false for a replay or a retry. */
  firstTime(key: string): boolean {
    const now = this.clock.nowMs();
    const cutoff = now - REPLAY_WINDOW_MS;
    if (now - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prune.run(cutoff);
      this.prunedAt = now;
    }
    return this.remember.run(key, now, cutoff).changes === 1;
  }
}
