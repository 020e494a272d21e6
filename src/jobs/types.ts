import type { Services } from '../services.js';

export interface JobResult {
  /** One line for `/waygate jobs` and the run record, e.g. "removed 12 delivered messages". */
  summary: string;
}

export interface JobRunContext extends Services {
  runId: number;
  trigger: 'schedule' | 'manual';
}

/** One scheduled job: a module in jobs/ exporting this, listed once in jobs/index.ts. */
export interface JobDefinition {
  name: string;
  description: string;
  /** Cron expression (5 or 6 fields) evaluated in the configured timezone; YAML `schedules.<name>` overrides. */
  defaultSchedule: string;
  run(ctx: JobRunContext): Promise<JobResult>;
}
