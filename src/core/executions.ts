import type { Db } from '../db/database.js';

export type ExecutionStatus = 'queued' | 'running' | 'ok' | 'failed' | 'interrupted';

/** Where to tell the person who asked for the work how it went (data, so it survives a restart). */
export interface ExecutionNotify {
  responseUrl?: string;
}

export interface Execution {
  id: number;
  /** What kind of work: `job` today; procedure `script` and `verify` steps next. */
  kind: string;
  name: string;
  trigger: 'schedule' | 'manual';
  triggered_by: string | null;
  queued_at: number;
  started_at: number | null;
  finished_at: number | null;
  status: ExecutionStatus;
  summary: string | null;
  error: string | null;
  notify: ExecutionNotify | null;
}

interface Row extends Omit<Execution, 'notify'> {
  notify: string | null;
}

const fromRow = (row: Row | undefined): Execution | undefined =>
  row && { ...row, notify: row.notify ? (JSON.parse(row.notify) as ExecutionNotify) : null };

export const INTERRUPTED_ERROR = 'the bot stopped while this run was in progress';

/**
 * Execution records: a row committed before the work runs (queued by the click or command that asked for
 * it, before the ack; or running, for scheduled work), closed when it ends. At start-up, rows still running
 * belonged to a process that died and are marked interrupted; queued rows are resumed by their owner.
 * Nothing resumable lives only in memory.
 */
export class Executions {
  constructor(private readonly db: Db) {}

  /** Records work someone asked for; it runs after the ack (or after a restart). */
  queue(e: { kind: string; name: string; trigger: Execution['trigger']; by: string | null; at: number; notify?: ExecutionNotify }): number {
    const info = this.db
      .prepare(
        `INSERT INTO executions (kind, name, trigger, triggered_by, queued_at, status, notify) VALUES (?, ?, ?, ?, ?, 'queued', ?)`,
      )
      .run(e.kind, e.name, e.trigger, e.by, e.at, e.notify ? JSON.stringify(e.notify) : null);
    return Number(info.lastInsertRowid);
  }

  /** Records work that starts right now (a schedule fired): one write, so no crash can leave it queued. */
  start(e: { kind: string; name: string; trigger: Execution['trigger']; by: string | null; at: number }): number {
    const info = this.db
      .prepare(`INSERT INTO executions (kind, name, trigger, triggered_by, queued_at, started_at, status) VALUES (?, ?, ?, ?, ?, ?, 'running')`)
      .run(e.kind, e.name, e.trigger, e.by, e.at, e.at);
    return Number(info.lastInsertRowid);
  }

  /** Closes queued rows that can never run (their job is gone from this version). */
  failQueued(id: number, at: number, error: string): void {
    this.db.prepare(`UPDATE executions SET status = 'failed', finished_at = ?, error = ? WHERE id = ? AND status = 'queued'`).run(at, error, id);
  }

  /** Marks a queued row running; false when it was not queued (already taken). */
  begin(id: number, at: number): boolean {
    return this.db.prepare(`UPDATE executions SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'`).run(at, id).changes === 1;
  }

  finish(id: number, at: number, status: 'ok' | 'failed', summary: string | null, error: string | null): void {
    this.db
      .prepare(`UPDATE executions SET finished_at = ?, status = ?, summary = ?, error = ? WHERE id = ?`)
      .run(at, status, summary, error, id);
  }

  /** Rows still running belong to a process that died: mark them interrupted and return them for reporting. */
  interruptRunning(kind: string, at: number): Execution[] {
    const rows = (this.db.prepare(`SELECT * FROM executions WHERE kind = ? AND status = 'running' ORDER BY id`).all(kind) as Row[]).map(
      (r) => fromRow(r) as Execution,
    );
    this.db
      .prepare(`UPDATE executions SET status = 'interrupted', finished_at = ?, error = ? WHERE kind = ? AND status = 'running'`)
      .run(at, INTERRUPTED_ERROR, kind);
    return rows.map((r) => ({ ...r, status: 'interrupted', finished_at: at, error: INTERRUPTED_ERROR }));
  }

  queued(kind: string): Execution[] {
    return (this.db.prepare(`SELECT * FROM executions WHERE kind = ? AND status = 'queued' ORDER BY id`).all(kind) as Row[]).map(
      (r) => fromRow(r) as Execution,
    );
  }

  get(id: number): Execution | undefined {
    return fromRow(this.db.prepare('SELECT * FROM executions WHERE id = ?').get(id) as Row | undefined);
  }

  lastOf(kind: string, name: string): Execution | undefined {
    return fromRow(this.db.prepare('SELECT * FROM executions WHERE kind = ? AND name = ? ORDER BY id DESC LIMIT 1').get(kind, name) as Row | undefined);
  }

  /** Runs that failed or were interrupted, started at or after `since`, oldest first. */
  problemsSince(kind: string, since: number): Array<{ name: string; at: number; error: string | null }> {
    return this.db
      .prepare(
        `SELECT name, COALESCE(started_at, queued_at) AS at, error FROM executions
         WHERE kind = ? AND status IN ('failed', 'interrupted') AND COALESCE(started_at, queued_at) >= ? ORDER BY id`,
      )
      .all(kind, since) as Array<{ name: string; at: number; error: string | null }>;
  }

  pruneFinished(olderThan: number): number {
    return this.db.prepare(`DELETE FROM executions WHERE status NOT IN ('queued', 'running') AND finished_at < ?`).run(olderThan).changes;
  }
}
