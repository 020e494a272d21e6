import type { Db } from '../db/database.js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { Outbox } from '../outbox/outbox.js';
import type { Execution, ExecutionNotify, Executions } from '../core/executions.js';
import { compileCron, type CronSchedule } from './cron.js';
import type { JobDefinition, JobRun } from './types.js';
import { ReportedJobFailure } from './reported-failure.js';
import { describeRun } from './describe-run.js';
import { asWaygateError } from '../core/errors.js';

/** Job runs are execution records of this kind. */
export const JOB_EXECUTION = 'job';

export interface JobInfo {
  name: string;
  description: string;
  schedule: string | null;
  nextRunAt: Date | null;
  lastRun: JobRun | undefined;
  running: boolean;
}

export type StartResult = { started: true; runId: number; done: Promise<JobRun> } | { started: false; reason: string };
export type RequestResult = { queued: true; runId: number } | { queued: false; reason: string };

/** Called inside the transaction that closes a run, so its follow-up messages commit with the record. */
export type RunFinishedHook = (run: JobRun, info: { failureReported: boolean }) => void;

export interface JobServiceOptions<C> {
  definitions: readonly JobDefinition<C>[];
  schedules: Record<string, string | false>;
  timezone: string;
  clock: Clock;
  logger: Logger;
  db: Db;
  outbox: Outbox;
  executions: Executions;
  /** The services a job runs with. */
  context: C;
  /** Called for every finished run inside its closing transaction (metrics, failure alerts). */
  onRunFinished?: RunFinishedHook;
  /** Called at start-up, in one transaction, with the runs the last process left unfinished. */
  onInterrupted?: (runs: readonly JobRun[]) => void;
}

export function toJobRun(e: Execution): JobRun {
  return {
    id: e.id,
    job: e.name,
    trigger: e.trigger,
    triggered_by: e.triggered_by,
    started_at: e.started_at ?? e.queued_at,
    ran: e.started_at !== null,
    finished_at: e.finished_at,
    outcome: e.status,
    summary: e.summary,
    error: e.error,
  };
}

/**
 * Runs jobs and fires their schedules. One timer per job, armed from the injected Clock for the next
 * cron match; a job never overlaps itself. Every run is an execution record committed before the job's
 * code runs: a run asked for by a person is queued before Slack gets its ack, so a crash right after the
 * ack leaves a queued row that the next start runs, and a crash mid-run leaves one reported as interrupted.
 */
export class JobService<C> {
  private readonly jobs = new Map<string, { def: JobDefinition<C>; cron: CronSchedule | null; timer?: TimerHandle; nextAt?: Date }>();
  private readonly active = new Map<string, Promise<JobRun>>();
  private started = false;

  constructor(private readonly opts: JobServiceOptions<C>) {
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
    const { db, clock, logger, executions } = this.opts;
    const interrupted = db.transaction(() => {
      const now = clock.nowMs();
      const runs = executions.interruptRunningSync(JOB_EXECUTION, now);
      for (const run of runs) this.notify(run);
      // Asked for under a version that had this job: say so instead of leaving the request queued forever.
      for (const queued of executions.queuedSync(JOB_EXECUTION).filter((q) => !this.jobs.has(q.name))) {
        executions.failQueuedSync(queued.id, now, `this version has no job called ${queued.name}`);
        const failed = executions.getSync(queued.id);
        if (failed) this.notify(failed);
      }
      if (runs.length > 0) this.opts.onInterrupted?.(runs.map(toJobRun));
      return runs.length;
    })();
    if (interrupted > 0) logger.warn({ interrupted }, 'job runs interrupted by the last shutdown');
    for (const name of this.jobs.keys()) this.arm(name);
    // Runs asked for just before a crash: their rows say so; outcomes are reported when they finish.
    void this.runQueued();
  }

  async stop(): Promise<void> {
    this.started = false;
    for (const job of this.jobs.values()) job.timer?.cancel();
    await this.whenIdle();
  }

  list(): JobInfo[] {
    return [...this.jobs.values()].map(({ def, cron, nextAt }) => {
      const last = this.opts.executions.lastOfSync(JOB_EXECUTION, def.name);
      return {
        name: def.name,
        description: def.description,
        schedule: cron?.expression ?? null,
        nextRunAt: cron ? (nextAt ?? cron.next(this.opts.clock.now())) : null,
        lastRun: last ? toJobRun(last) : undefined,
        running: this.active.has(def.name),
      };
    });
  }

  has(name: string): boolean {
    return this.jobs.has(name);
  }

  isRunning(name: string): boolean {
    return this.active.has(name);
  }

  names(): string[] {
    return [...this.jobs.keys()];
  }

  /** Resolves once no run is in progress (shutdown and tests). */
  async whenIdle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active.values()]);
  }

  /**
   * Records that someone asked for a run; call before acking them. The run starts with runQueued() (after
   * the ack) or, should the bot die first, at the next start. Its outcome is reported to `notify`.
   */
  request(name: string, by: string, notify: ExecutionNotify): RequestResult {
    if (!this.jobs.has(name)) return { queued: false, reason: `there is no job called \`${name}\`` };
    if (this.active.has(name)) return { queued: false, reason: `\`${name}\` is already running` };
    const runId = this.opts.executions.queueSync({ kind: JOB_EXECUTION, name, trigger: 'manual', by, at: this.opts.clock.nowMs(), notify });
    return { queued: true, runId };
  }

  /** Starts every queued run whose job is not running yet; resolves when those runs end. */
  runQueued(): Promise<JobRun[]> {
    const runs: Promise<JobRun>[] = [];
    for (const queued of this.opts.executions.queuedSync(JOB_EXECUTION)) {
      const job = this.jobs.get(queued.name);
      if (!job || this.active.has(queued.name)) continue;
      if (!this.opts.executions.beginSync(queued.id, this.opts.clock.nowMs())) continue;
      runs.push(this.execute(job.def, queued));
    }
    return Promise.all(runs);
  }

  /** Starts a run now (schedules, and tests that run a job directly). */
  run(name: string, trigger: JobRun['trigger'], triggeredBy: string | null): StartResult {
    const job = this.jobs.get(name);
    if (!job) return { started: false, reason: `there is no job called \`${name}\`` };
    if (this.active.has(name)) return { started: false, reason: `\`${name}\` is already running` };
    const { clock, executions } = this.opts;
    const runId = executions.startSync({ kind: JOB_EXECUTION, name, trigger, by: triggeredBy, at: clock.nowMs() });
    const record = executions.getSync(runId);
    if (!record) return { started: false, reason: `run ${runId} vanished` };
    return { started: true, runId, done: this.execute(job.def, record) };
  }

  /** Forgets finished runs older than the cut-off (housekeeping). */
  pruneRuns(olderThan: number): number {
    return this.opts.executions.pruneFinishedSync(olderThan);
  }

  private execute(def: JobDefinition<C>, record: Execution): Promise<JobRun> {
    const { clock, executions, logger, db } = this.opts;
    const runId = record.id;
    const name = def.name;
    const done = (async (): Promise<JobRun> => {
      let outcome: 'ok' | 'failed' = 'ok';
      let summary: string | null = null;
      let error: string | null = null;
      let failureReported = false;
      try {
        summary = (await def.run({ ...this.opts.context, runId, trigger: record.trigger })).summary;
      } catch (err) {
        outcome = 'failed';
        const failure = asWaygateError(err);
        failureReported = failure instanceof ReportedJobFailure;
        error = failure.message || 'unknown error';
        logger.error({ job: name, runId, err: failure, code: failure.code }, 'job failed');
      }
      let finished: Execution | undefined;
      db.transaction(() => {
        executions.finishSync(runId, clock.nowMs(), outcome, summary, error);
        finished = executions.getSync(runId);
        if (!finished) return;
        this.notify(finished);
        this.opts.onRunFinished?.(toJobRun(finished), { failureReported });
      })();
      this.active.delete(name);
      if (!finished) throw new Error(`job run ${runId} vanished`);
      if (this.started) void this.runQueued();
      return toJobRun(finished);
    })();
    this.active.set(name, done);
    return done;
  }

  /** Tells whoever asked for a run how it ended (inside the transaction that records the end). */
  private notify(run: Execution): void {
    const url = run.notify?.responseUrl;
    if (!url) return;
    const def = this.jobs.get(run.name)?.def;
    const jobRun = toJobRun(run);
    const text = def?.describeOutcome?.(jobRun, this.opts.context) ?? `\`${run.name}\` run #${run.id} finished ${describeRun(jobRun)}`;
    this.opts.outbox.enqueueSync({ kind: 'respond', payload: { responseUrl: url, text } });
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
