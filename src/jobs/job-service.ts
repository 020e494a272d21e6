import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import { compileCron, type CronSchedule } from './cron.js';
import { JobRunRepository, type JobRun } from './job-runs.js';
import type { JobDefinition, JobRunContext } from './types.js';
import type { Services } from '../services.js';
import { ReportedJobFailure } from './reported-failure.js';

export interface JobInfo {
  name: string;
  description: string;
  schedule: string | null;
  nextRunAt: Date | null;
  lastRun: JobRun | undefined;
  running: boolean;
}

export type StartResult = { started: true; runId: number; done: Promise<JobRun> } | { started: false; reason: string };

/** Called inside the transaction that closes a run, so its follow-up messages commit with the record. */
export type RunFinishedHook = (run: JobRun, info: { failureReported: boolean }) => void;

export interface JobServiceOptions {
  definitions: readonly JobDefinition[];
  schedules: Record<string, string | false>;
  timezone: string;
  clock: Clock;
  logger: Logger;
  runs: JobRunRepository;
  services: () => Services;
  /** Called for every finished run inside its closing transaction (metrics, failure alerts). */
  onRunFinished?: RunFinishedHook;
}

/**
 * Runs jobs and fires their schedules. One timer per job, armed from the injected Clock for the next
 * cron match; a job never overlaps itself (a tick that finds it running is logged and skipped).
 */
export class JobService {
  private readonly jobs = new Map<string, { def: JobDefinition; cron: CronSchedule | null; timer?: TimerHandle; nextAt?: Date }>();
  private readonly active = new Map<string, Promise<JobRun>>();
  private started = false;

  constructor(private readonly opts: JobServiceOptions) {
    for (const def of opts.definitions) {
      const override = opts.schedules[def.name];
      const expression = override === undefined ? def.defaultSchedule : override;
      this.jobs.set(def.name, { def, cron: expression === false ? null : compileCron(expression, opts.timezone) });
    }
  }

  /** Names in `schedules` that match no job: worth a warning, since the operator meant something. */
  unknownScheduleNames(): string[] {
    return Object.keys(this.opts.schedules).filter((name) => !this.jobs.has(name));
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const interrupted = this.opts.runs.markInterrupted(this.opts.clock.nowMs());
    if (interrupted > 0) this.opts.logger.warn({ interrupted }, 'job runs interrupted by the last shutdown');
    for (const name of this.jobs.keys()) this.arm(name);
  }

  async stop(): Promise<void> {
    this.started = false;
    for (const job of this.jobs.values()) job.timer?.cancel();
    await this.whenIdle();
  }

  list(): JobInfo[] {
    return [...this.jobs.values()].map(({ def, cron, nextAt }) => ({
      name: def.name,
      description: def.description,
      schedule: cron?.expression ?? null,
      nextRunAt: cron ? (nextAt ?? cron.next(this.opts.clock.now())) : null,
      lastRun: this.opts.runs.lastOf(def.name),
      running: this.active.has(def.name),
    }));
  }

  has(name: string): boolean {
    return this.jobs.has(name);
  }

  isRunning(name: string): boolean {
    return this.active.has(name);
  }

  /** Resolves once no run is in progress (shutdown and tests). */
  async whenIdle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active.values()]);
  }

  names(): string[] {
    return [...this.jobs.keys()];
  }

  /**
   * Starts a run now. The run row is committed before the job's code runs, so a crash mid-run shows up
   * as "interrupted" at the next start instead of vanishing.
   */
  run(name: string, trigger: JobRun['trigger'], triggeredBy: string | null, onFinished?: RunFinishedHook): StartResult {
    const job = this.jobs.get(name);
    if (!job) return { started: false, reason: `there is no job called \`${name}\`` };
    if (this.active.has(name)) return { started: false, reason: `\`${name}\` is already running` };
    const { clock, runs, logger } = this.opts;
    const runId = runs.start(name, trigger, triggeredBy, clock.nowMs());
    const ctx: JobRunContext = { ...this.opts.services(), runId, trigger };
    const done = (async (): Promise<JobRun> => {
      let outcome: 'ok' | 'failed' = 'ok';
      let summary: string | null = null;
      let error: string | null = null;
      let failureReported = false;
      try {
        summary = (await job.def.run(ctx)).summary;
      } catch (err) {
        outcome = 'failed';
        failureReported = err instanceof ReportedJobFailure;
        error = (err as Error).message || String(err);
        logger.error({ job: name, runId, err }, 'job failed');
      }
      const db = ctx.db;
      let finished: JobRun | undefined;
      db.transaction(() => {
        runs.finish(runId, clock.nowMs(), outcome, summary, error);
        finished = runs.get(runId);
        if (!finished) return;
        this.opts.onRunFinished?.(finished, { failureReported });
        onFinished?.(finished, { failureReported });
      })();
      this.active.delete(name);
      if (!finished) throw new Error(`job run ${runId} vanished`);
      return finished;
    })();
    this.active.set(name, done);
    return { started: true, runId, done };
  }

  private arm(name: string): void {
    const job = this.jobs.get(name);
    if (!job?.cron || !this.started) return;
    const { clock } = this.opts;
    const at = job.cron.next(clock.now());
    job.nextAt = at;
    job.timer = clock.setTimer(at.getTime() - clock.nowMs(), () => {
      // Far deadlines are clamped by the timer, so a timer can fire early: then just wait again.
      if (clock.nowMs() < at.getTime()) return this.arm(name);
      const result = this.run(name, 'schedule', null);
      if (!result.started) this.opts.logger.warn({ job: name, reason: result.reason }, 'scheduled run skipped');
      this.arm(name);
    });
  }
}
