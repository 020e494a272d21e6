import type { JobDefinition } from '../src/jobs/types.js';
import { runAndReport } from '../src/maintenance/command-report.js';
import { ReportedJobFailure } from '../src/jobs/reported-failure.js';

export const logRotation: JobDefinition = {
  name: 'log-rotation',
  description: 'SOP-MAINT-002: rotates the service logs with the configured logrotate command',
  defaultSchedule: '0 3 * * 0',
  async run(ctx) {
    const report = await runAndReport(ctx.runner, 'Log rotation', ctx.config.file.maintenance.commands.logrotate);
    const channel = ctx.config.file.channels.ops;
    if (channel) ctx.outbox.enqueue({ kind: 'post', payload: { channel, text: report.text } });
    if (!report.result.ok) throw new ReportedJobFailure(`log rotation ${report.result.failedToStart ?? `exited ${report.result.exitCode ?? 'abnormally'}`}`);
    return { summary: 'logs rotated' };
  },
};
