import type { Db } from '../db/database.js';

export type JobOutcome = 'running' | 'ok' | 'failed' | 'interrupted';

export interface JobRun {
  id: number;
  job: string;
  trigger: 'schedule' | 'manual';
  triggered_by: string | null;
  started_at: number;
  finished_at: number | null;
  outcome: JobOutcome;
  summary: string | null;
  error: string | null;
}

/** Repository for job run records: one row per run, written at start and completed at the end. */
export class JobRunRepository {
  constructor(private readonly db: Db) {}

  start(job: string, trigger: JobRun['trigger'], triggeredBy: string | null, at: number): number {
    const info = this.db
      .prepare(
        `INSERT INTO job_runs (job, trigger, triggered_by, started_at, outcome) VALUES (?, ?, ?, ?, 'running')`,
      )
      .run(job, trigger, triggeredBy, at);
    return Number(info.lastInsertRowid);
  }

  finish(id: number, at: number, outcome: 'ok' | 'failed', summary: string | null, error: string | null): void {
    this.db
      .prepare(`UPDATE job_runs SET finished_at = ?, outcome = ?, summary = ?, error = ? WHERE id = ?`)
      .run(at, outcome, summary, error, id);
  }

  /** Runs still marked running belong to a process that died; say so instead of leaving them open. */
  markInterrupted(at: number): number {
    return this.db
      .prepare(
        `UPDATE job_runs SET outcome = 'interrupted', finished_at = ?, error = 'the bot stopped while this run was in progress'
         WHERE outcome = 'running'`,
      )
      .run(at).changes;
  }

  get(id: number): JobRun | undefined {
    return this.db.prepare('SELECT * FROM job_runs WHERE id = ?').get(id) as JobRun | undefined;
  }

  lastOf(job: string): JobRun | undefined {
    return this.db.prepare('SELECT * FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT 1').get(job) as
      | JobRun
      | undefined;
  }

  countFailures(): Array<{ job: string; failures: number }> {
    return this.db
      .prepare(`SELECT job, COUNT(*) AS failures FROM job_runs WHERE outcome = 'failed' GROUP BY job`)
      .all() as Array<{ job: string; failures: number }>;
  }

  pruneFinished(olderThan: number): number {
    return this.db
      .prepare(`DELETE FROM job_runs WHERE outcome != 'running' AND finished_at < ?`)
      .run(olderThan).changes;
  }
}
