import { sql, type Transaction } from 'kysely';
import { DataLayer, first, type Executor, type Schema } from '../db/data-layer.js';
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
export type RunFinishedHook = (run: JobRun, info: { failureReported: boolean }, tx: Transaction<Schema>) => Promise<void>;

export interface JobServiceOptions<C> {
  definitions: readonly JobDefinition<C>[];
  schedules: Record<string, string | false>;
  timezone: string;
  clock: Clock;
  logger: Logger;
  data: DataLayer;
  outbox: Outbox;
  executions: Executions;
  /** The services a job runs with. */
  context: C;
  /** Called for every finished run inside its closing transaction (metrics, failure alerts). */
  onRunFinished?: RunFinishedHook;
  /**
   * Replicas: a scheduled run that fell due within this long before start() and was not run is run at once,
   * because it fell in the gap while the leader changed (decision 021). 0 (default): missed runs are not made up.
   */
  catchUpMs?: number;
  /** Called for runQueued() while the service is not started here: a follower replica wakes the leader. */
  queuedElsewhere?: () => void;
  /** Called at start-up, in one transaction, with the runs the last process left unfinished. */
  onInterrupted?: (runs: readonly JobRun[], tx: Transaction<Schema>) => Promise<void>;
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
  /** Jobs whose run is being recorded (between the check that none is active and the run starting). */
  private readonly claiming = new Map<string, Promise<unknown>>();
  private started = false;
  private readonly data: DataLayer;

  constructor(private readonly opts: JobServiceOptions<C>) {
    this.data = opts.data;
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

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { clock, logger, executions } = this.opts;
    const interrupted = await this.data.transaction(async (tx) => {
      const now = clock.nowMs();
      const runs = await executions.interruptRunning(tx, JOB_EXECUTION, now);
      for (const run of runs) await this.notify(tx, run);
      // Asked for under a version that had this job: say so instead of leaving the request queued forever.
      for (const queued of (await executions.queued(tx, JOB_EXECUTION)).filter((q) => !this.jobs.has(q.name))) {
        await executions.failQueued(tx, queued.id, now, `this version has no job called ${queued.name}`);
        const failed = await executions.get(tx, queued.id);
        if (failed) await this.notify(tx, failed);
      }
      if (runs.length > 0) await this.opts.onInterrupted?.(runs.map(toJobRun), tx);
      return runs.length;
    });
    if (interrupted > 0) logger.warn({ interrupted }, 'job runs interrupted by the last shutdown');
    for (const name of this.jobs.keys()) this.arm(name);
    await this.catchUp();
    // Runs asked for just before a crash: their rows say so; outcomes are reported when they finish.
    void this.runQueued();
  }

  /** Runs each scheduled job whose time came in the last catchUpMs without a scheduled run since. */
  private async catchUp(): Promise<void> {
    const window = this.opts.catchUpMs ?? 0;
    if (window <= 0) return;
    const now = this.opts.clock.nowMs();
    for (const [name, job] of this.jobs) {
      if (!job.cron) continue;
      const due = job.cron.next(new Date(now - window)).getTime();
      // A run due at this very moment is not missed: as for a single process, arm() takes the next one after it.
      if (due >= now) continue;
      const ran = await first(this.data.db, sql<{ id: number }>`SELECT id FROM executions WHERE kind = ${JOB_EXECUTION} AND name = ${name} AND trigger = 'schedule' AND queued_at >= ${due} LIMIT 1`);
      if (ran) continue;
      this.opts.logger.warn({ job: name, dueAt: new Date(due).toISOString() }, 'scheduled run fell due while the leader changed: running it now');
      void this.runScheduled(name);
    }
  }

  async stop(): Promise<void> {
    this.started = false;
    for (const job of this.jobs.values()) job.timer?.cancel();
    await this.whenIdle();
  }

  async list(): Promise<JobInfo[]> {
    const infos: JobInfo[] = [];
    for (const { def, cron, nextAt } of this.jobs.values()) {
      const last = await this.opts.executions.lastOf(this.data.db, JOB_EXECUTION, def.name);
      infos.push({
        name: def.name,
        description: def.description,
        schedule: cron?.expression ?? null,
        nextRunAt: cron ? (nextAt ?? cron.next(this.opts.clock.now())) : null,
        lastRun: last ? toJobRun(last) : undefined,
        running: this.active.has(def.name),
      });
    }
    return infos;
  }

  has(name: string): boolean {
    return this.jobs.has(name);
  }

  isRunning(name: string): boolean {
    return this.active.has(name) || this.claiming.has(name);
  }

  names(): string[] {
    return [...this.jobs.keys()];
  }

  /** Resolves once no run is in progress (shutdown and tests). */
  async whenIdle(): Promise<void> {
    while (this.active.size > 0 || this.claiming.size > 0) await Promise.allSettled([...this.active.values(), ...this.claiming.values()]);
  }

  /**
   * Records that someone asked for a run; call before acking them. The run starts with runQueued() (after
   * the ack) or, should the bot die first, at the next start. Its outcome is reported to `notify`.
   */
  async request(ex: Executor, name: string, by: string, notify: ExecutionNotify): Promise<RequestResult> {
    if (!this.jobs.has(name)) return { queued: false, reason: `there is no job called \`${name}\`` };
    if (this.isRunning(name)) return { queued: false, reason: `\`${name}\` is already running` };
    const runId = await this.opts.executions.queue(ex, { kind: JOB_EXECUTION, name, trigger: 'manual', by, at: this.opts.clock.nowMs(), notify });
    return { queued: true, runId };
  }

  /** Starts every queued run whose job is not running yet; resolves when those runs end. */
  async runQueued(): Promise<JobRun[]> {
    if (!this.started && this.opts.queuedElsewhere) {
      this.opts.queuedElsewhere();
      return [];
    }
    const runs: Promise<JobRun>[] = [];
    for (const queued of await this.opts.executions.queued(this.data.db, JOB_EXECUTION)) {
      const job = this.jobs.get(queued.name);
      if (!job || this.isRunning(queued.name)) continue;
      await this.claim(
        queued.name,
        () => this.opts.executions.begin(this.data.db, queued.id, this.opts.clock.nowMs()),
        (begun) => begun && runs.push(this.execute(job.def, queued)),
      );
    }
    return Promise.all(runs);
  }

  /** Starts a run now (schedules, and tests that run a job directly). */
  async run(name: string, trigger: JobRun['trigger'], triggeredBy: string | null): Promise<StartResult> {
    const job = this.jobs.get(name);
    if (!job) return { started: false, reason: `there is no job called \`${name}\`` };
    if (this.isRunning(name)) return { started: false, reason: `\`${name}\` is already running` };
    const { clock, executions } = this.opts;
    let result: StartResult = { started: false, reason: `\`${name}\` could not be recorded` };
    await this.claim(
      name,
      () =>
        this.data.transaction(async (tx) => {
          const runId = await executions.start(tx, { kind: JOB_EXECUTION, name, trigger, by: triggeredBy, at: clock.nowMs() });
          return executions.get(tx, runId);
        }),
      (record) => {
        result = record ? { started: true, runId: record.id, done: this.execute(job.def, record) } : { started: false, reason: 'its run record vanished' };
      },
    );
    return result;
  }

  /**
   * Records a run's start (`record`) while the job counts as running, so two starts cannot both pass the
   * check that it is not; `then` starts it before the claim is let go.
   */
  private async claim<T>(name: string, record: () => Promise<T>, then: (recorded: T) => unknown): Promise<T> {
    const recording = record();
    this.claiming.set(name, recording);
    try {
      const recorded = await recording;
      then(recorded);
      return recorded;
    } finally {
      this.claiming.delete(name);
    }
  }

  /** Forgets finished runs older than the cut-off (housekeeping). */
  async pruneRuns(olderThan: number): Promise<number> {
    return this.opts.executions.pruneFinished(this.data.db, olderThan);
  }

  private execute(def: JobDefinition<C>, record: Execution): Promise<JobRun> {
    const { clock, executions, logger } = this.opts;
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
      try {
        finished = await this.data.transaction(async (tx) => {
          await executions.finish(tx, runId, clock.nowMs(), outcome, summary, error);
          const closed = await executions.get(tx, runId);
          if (!closed) return undefined;
          await this.notify(tx, closed);
          await this.opts.onRunFinished?.(toJobRun(closed), { failureReported }, tx);
          return closed;
        });
      } finally {
        this.active.delete(name);
      }
      if (!finished) throw new Error(`job run ${runId} vanished`);
      if (this.started) void this.runQueued();
      return toJobRun(finished);
    })();
    this.active.set(name, done);
    return done;
  }

  /** Tells whoever asked for a run how it ended (inside the transaction that records the end). */
  private async notify(tx: Transaction<Schema>, run: Execution): Promise<void> {
    const url = run.notify?.responseUrl;
    if (!url) return;
    const def = this.jobs.get(run.name)?.def;
    const jobRun = toJobRun(run);
    const text = def?.describeOutcome?.(jobRun, this.opts.context) ?? `\`${run.name}\` run #${run.id} finished ${describeRun(jobRun)}`;
    await this.opts.outbox.enqueue(tx, { kind: 'respond', payload: { responseUrl: url, text } });
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
      this.arm(name);
      void this.runScheduled(name);
    });
  }

  private async runScheduled(name: string): Promise<void> {
    try {
      const result = await this.run(name, 'schedule', null);
      if (!result.started) this.opts.logger.warn({ job: name, reason: result.reason }, 'scheduled run skipped');
    } catch (err) {
      this.opts.logger.error({ job: name, err }, 'scheduled run could not be recorded');
    }
  }
}
