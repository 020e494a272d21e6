import type { AuditEntry, AuditLog } from './audit-log.js';
import type { Executor } from '../db/data-layer.js';

/** How long a command's record may wait to share a commit with others. */
export const FLUSH_EVERY_MS = 200;
/** A flood of commands is written at once past this many waiting records, so memory stays bounded. */
const MAX_PENDING = 5_000;

/** Runs `flush` a little later: in the bot, FLUSH_EVERY_MS later on its clock. `flush` resolves once written. */
export type FlushScheduler = (flush: () => Promise<void>) => void;

/**
 * Audit entries that may wait a moment: the record that a command was asked for, written after Slack has its
 * answer. One commit per 200 ms instead of one per command keeps the ack fast under load (a commit per command,
 * or per event-loop turn, cost `/waygate help` about a third more server CPU in the ack benchmark). What a
 * command changes is never batched: those entries commit with the change. `flush()` also runs when the bot
 * stops, so only a crash inside that moment can lose a record, never what the command did.
 */
export class AuditBatch {
  private pending: AuditEntry[] = [];
  private queued = false;
  /** The writes so far, one after the other: a flush resolves once everything added before it is written. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly audit: Pick<AuditLog, 'recordAll'>,
    /** Where each flush commits: the data layer itself (`data.db`), so each flush is one transaction of its own. */
    private readonly db: Executor,
    private readonly onError: (err: unknown) => void,
    private readonly schedule: FlushScheduler,
  ) {}

  add(entry: AuditEntry): void {
    this.pending.push(entry);
    if (this.pending.length >= MAX_PENDING) {
      void this.flush();
      return;
    }
    if (this.queued) return;
    this.queued = true;
    this.schedule(() => this.flush());
  }

  /** Writes what is pending in one commit; resolves once it (and any write before it) is done. Never rejects. */
  flush(): Promise<void> {
    this.queued = false;
    const entries = this.pending;
    this.pending = [];
    if (entries.length > 0) {
      this.writing = this.writing.then(() => this.audit.recordAll(this.db, entries)).catch((err: unknown) => {
        this.onError(err);
      });
    }
    return this.writing;
  }
}
