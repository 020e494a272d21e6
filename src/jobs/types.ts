export interface JobResult {
  /** One line for `/waygate jobs` and the run record, e.g. "removed 12 delivered messages". */
  summary: string;
}

export interface JobRunInfo {
  runId: number;
  trigger: 'schedule' | 'manual';
}

/**
 * One scheduled job: a module in jobs/ exporting this, listed once in jobs/index.ts. Generic over the
 * context it runs with, so the job runner knows nothing of the services a job uses.
 */
export interface JobDefinition<C> {
  name: string;
  description: string;
  /** Cron expression (5 or 6 fields) evaluated in the configured timezone; YAML `schedules.<name>` overrides. */
  defaultSchedule: string;
  run(ctx: C & JobRunInfo): Promise<JobResult>;
  /** What the person who started a run by hand is told when it ends; default "`<name>` run #n finished …". */
  describeOutcome?(run: JobRun, ctx: C): string;
}

export type JobOutcome = 'queued' | 'running' | 'ok' | 'failed' | 'interrupted';

/** A job's execution record as the jobs list, /health and the digest show it. */
export interface JobRun {
  id: number;
  job: string;
  trigger: 'schedule' | 'manual';
  triggered_by: string | null;
  /** When it started, or when it was asked for if it never started. */
  started_at: number;
  /** False for a run that was asked for but never started (it has no duration). */
  ran: boolean;
  finished_at: number | null;
  outcome: JobOutcome;
  summary: string | null;
  error: string | null;
}
