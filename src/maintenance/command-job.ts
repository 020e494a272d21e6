import type { JobDefinition } from '../jobs/types.js';
import type { JobContext } from '../context.js';
import { ReportedJobFailure } from '../jobs/reported-failure.js';
import type { MaintenanceCommand } from './maintenance-service.js';

export interface CommandJobSpec {
  name: string;
  description: string;
  defaultSchedule: string;
  command: MaintenanceCommand;
  /** Shown in the report, e.g. "Log rotation". */
  label: string;
  /** The channel alias the report goes to, first configured one wins. */
  channels: readonly string[];
  /** The run's summary when the command succeeded. */
  okSummary: string;
}

/** A job that runs one configured maintenance command and posts its report (log rotation, security scan). */
export function commandJob(spec: CommandJobSpec): JobDefinition<JobContext> {
  return {
    name: spec.name,
    description: spec.description,
    defaultSchedule: spec.defaultSchedule,
    async run(ctx) {
      const report = await ctx.maintenance.run(spec.command, spec.label);
      const channels = ctx.config.file.channels;
      const channel = spec.channels.map((alias) => channels[alias]).find((id) => id !== undefined);
      if (channel) await ctx.store.transaction(async (tx) => ctx.outbox.enqueue(tx, { kind: 'post', payload: { channel, text: report.text } }));
      if (!report.result.ok) {
        throw new ReportedJobFailure(`${spec.label.toLowerCase()} ${report.result.failedToStart ?? `exited ${report.result.exitCode ?? 'abnormally'}`}`);
      }
      return { summary: spec.okSummary };
    },
  };
}
