import type { Core } from '../core/core.js';
import type { WaygateModule } from '../core/module.js';
import { PERMISSIONS } from '../core/policy.js';
import { JobService } from './job-service.js';
import type { JobDefinition } from './types.js';
import { describeRun } from './describe-run.js';

/** Runs the jobs in jobs/ on their schedules and on request; job runs are execution records (core). */
export function jobsModule<C>(core: Core, context: C, definitions: readonly JobDefinition<C>[]): { module: WaygateModule; service: JobService<C> } {
  const { config, clock, logger, outbox, executions, metrics } = core;
  const file = config.file;
  const ops = file.channels.ops;
  const service = new JobService<C>({
    definitions,
    schedules: file.schedules,
    timezone: file.timezone,
    clock,
    logger,
    data: core.leaderData,
    outbox,
    // Replicas: a run that fell due while the leader changed is made up by the new leader.
    ...(core.leadership.mode === 'replicas'
      ? { catchUpMs: file.cluster.leaseTtl + file.cluster.renewEvery, queuedElsewhere: () => core.leadership.wake('jobs') }
      : {}),
    executions,
    context,
    onRunFinished: async (run, { failureReported }, tx) => {
      metrics.jobRuns.inc({ job: run.job, outcome: run.outcome });
      if (run.outcome !== 'failed') return;
      metrics.jobFailures.inc({ job: run.job });
      // A scheduled job that fails silently is how a backup goes missing for a month: tell ops.
      if (run.trigger === 'schedule' && !failureReported && ops) {
        await outbox.enqueue(tx, { kind: 'post', payload: { channel: ops, text: `Scheduled job \`${run.job}\` run #${run.id} ${describeRun(run)}` } });
      }
    },
    onInterrupted: async (runs, tx) => {
      if (!ops) return;
      const lines = runs.map((run) => `• \`${run.job}\` run #${run.id} (${run.trigger === 'manual' ? `started by <@${run.triggered_by ?? ''}>` : 'scheduled'})`);
      await outbox.enqueue(tx, {
        kind: 'post',
        payload: { channel: ops, text: `⚠️ Waygate restarted while these job runs were in progress; they did not finish:\n${lines.join('\n')}` },
      });
    },
  });
  for (const name of service.unknownScheduleNames()) {
    logger.warn({ job: name }, `schedules.${name} names no job in this version; it is ignored`);
  }
  const jobsHealth = async (): Promise<Record<string, unknown>> => {
    const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());
    const jobs: Record<string, unknown> = {};
    for (const job of await service.list()) {
      const run = job.lastRun;
      jobs[job.name] = {
        schedule: job.schedule,
        nextRunAt: job.nextRunAt?.toISOString() ?? null,
        lastRun: run ? { startedAt: iso(run.started_at) ?? '', finishedAt: iso(run.finished_at), outcome: run.outcome, error: run.error } : null,
      };
    }
    return jobs;
  };
  return {
    service,
    module: {
      name: 'jobs',
      permissions: { [PERMISSIONS.jobRun]: ['ops', 'admin'] },
      health: async () => ({ jobs: { value: await jobsHealth() } }),
      leader: { start: () => service.start(), stop: () => service.stop() },
      wake: { jobs: () => void service.runQueued() },
    },
  };
}
