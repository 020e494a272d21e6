import { sql } from 'kysely';
import { all, first, run, type Executor } from '../db/data-layer.js';

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
  /** The replica running it, where that may not be the leader (procedure scripts); else null. */
  runner?: string | null;
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

  /** Records work someone asked for, in the caller's transaction; it runs after the ack (or after a restart). */
  async queue(ex: Executor, e: { kind: string; name: string; trigger: Execution['trigger']; by: string | null; at: number; notify?: ExecutionNotify }): Promise<number> {
    const row = await first(
      ex,
      sql<{ id: number }>`INSERT INTO executions (kind, name, trigger, triggered_by, queued_at, status, notify)
        VALUES (${e.kind}, ${e.name}, ${e.trigger}, ${e.by}, ${e.at}, 'queued', ${e.notify ? JSON.stringify(e.notify) : null}) RETURNING id`,
    );
    return Number(row?.id);
  }

  /**
   * Records work that starts right now (a schedule fired): one write, so no crash can leave it queued.
   * `runner`: the replica running it, when it may be another than the leader (procedure scripts).
   */
  async start(ex: Executor, e: { kind: string; name: string; trigger: Execution['trigger']; by: string | null; at: number; runner?: string }): Promise<number> {
    const row = await first(
      ex,
      sql<{ id: number }>`INSERT INTO executions (kind, name, trigger, triggered_by, queued_at, started_at, status, runner)
        VALUES (${e.kind}, ${e.name}, ${e.trigger}, ${e.by}, ${e.at}, ${e.at}, 'running', ${e.runner ?? null}) RETURNING id`,
    );
    return Number(row?.id);
  }

  /** Closes queued rows that can never run (their job is gone from this version). */
  async failQueued(ex: Executor, id: number, at: number, error: string): Promise<void> {
    await run(ex, sql`UPDATE executions SET status = 'failed', finished_at = ${at}, error = ${error} WHERE id = ${id} AND status = 'queued'`);
  }

  /** Marks a queued row running; false when it was not queued (already taken, by this replica or another). */
  async begin(ex: Executor, id: number, at: number): Promise<boolean> {
    return (await run(ex, sql`UPDATE executions SET status = 'running', started_at = ${at} WHERE id = ${id} AND status = 'queued'`)) === 1;
  }

  async finish(ex: Executor, id: number, at: number, status: 'ok' | 'failed', summary: string | null, error: string | null): Promise<void> {
    await run(ex, sql`UPDATE executions SET finished_at = ${at}, status = ${status}, summary = ${summary}, error = ${error} WHERE id = ${id}`);
  }

  /**
   * Rows still running belong to a process that died: mark them interrupted and return them for reporting.
   * With `alive` (replicas), rows whose runner is one of the replicas still alive are left running.
   */
  async interruptRunning(ex: Executor, kind: string, at: number, alive?: (runners: string[]) => Promise<ReadonlySet<string>>): Promise<Execution[]> {
    let keep: ReadonlySet<string> = new Set();
    if (alive) {
      const runners = await all(ex, sql<{ runner: string }>`SELECT DISTINCT runner FROM executions WHERE kind = ${kind} AND status = 'running' AND runner IS NOT NULL`);
      keep = runners.length === 0 ? keep : await alive(runners.map((r) => r.runner));
    }
    const spare = keep.size === 0 ? sql`` : sql`AND (runner IS NULL OR runner NOT IN (${sql.join([...keep])}))`;
    const rows = await all(ex, sql<Row>`UPDATE executions SET status = 'interrupted', finished_at = ${at}, error = ${INTERRUPTED_ERROR}
      WHERE kind = ${kind} AND status = 'running' ${spare} RETURNING *`);
    return rows.map((r) => fromRow(r) as Execution).sort((a, b) => a.id - b.id);
  }

  async queued(ex: Executor, kind: string): Promise<Execution[]> {
    return (await all(ex, sql<Row>`SELECT * FROM executions WHERE kind = ${kind} AND status = 'queued' ORDER BY id`)).map((r) => fromRow(r) as Execution);
  }

  async get(ex: Executor, id: number): Promise<Execution | undefined> {
    return fromRow(await first(ex, sql<Row>`SELECT * FROM executions WHERE id = ${id}`));
  }

  async lastOf(ex: Executor, kind: string, name: string): Promise<Execution | undefined> {
    return fromRow(await first(ex, sql<Row>`SELECT * FROM executions WHERE kind = ${kind} AND name = ${name} ORDER BY id DESC LIMIT 1`));
  }

  /** Runs that failed or were interrupted, started at or after `since`, oldest first. */
  async problemsSince(ex: Executor, kind: string, since: number): Promise<Array<{ name: string; at: number; error: string | null }>> {
    return all(
      ex,
      sql<{ name: string; at: number; error: string | null }>`SELECT name, COALESCE(started_at, queued_at) AS at, error FROM executions
        WHERE kind = ${kind} AND status IN ('failed', 'interrupted') AND COALESCE(started_at, queued_at) >= ${since} ORDER BY id`,
    );
  }

  async pruneFinished(ex: Executor, olderThan: number): Promise<number> {
    return run(ex, sql`DELETE FROM executions WHERE status NOT IN ('queued', 'running') AND finished_at < ${olderThan}`);
  }
}
