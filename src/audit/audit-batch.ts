import type { AuditEntry, AuditLog } from './audit-log.js';

/**
 * Audit entries that may wait for the end of the event-loop turn: the record that a command was asked for,
 * written after Slack has its answer. One commit per turn instead of one per command keeps the ack fast under
 * load (a commit per command cost the `/waygate help` benchmark its target). What a command changes is never
 * batched: those entries commit with the change. `flush()` runs at the end of each turn and when the bot stops.
 */
export class AuditBatch {
  private pending: AuditEntry[] = [];
  private queued = false;

  constructor(
    private readonly audit: Pick<AuditLog, 'recordAll'>,
    private readonly onError: (err: unknown) => void,
  ) {}

  add(entry: AuditEntry): void {
    this.pending.push(entry);
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.queued = false;
    const entries = this.pending;
    this.pending = [];
    try {
      this.audit.recordAll(entries);
    } catch (err) {
      this.onError(err);
    }
  }
}
