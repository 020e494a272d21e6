import type { JobDefinition } from '../src/jobs/types.js';
import { runAndReport } from '../src/maintenance/command-report.js';
import { ReportedJobFailure } from '../src/jobs/reported-failure.js';

export const securityScan: JobDefinition = {
  name: 'security-scan',
  description: 'SOP-MAINT-002 / appendix C: runs the configured security scan and reports its outcome',
  defaultSchedule: '0 4 * * *',
  async run(ctx) {
    const report = await runAndReport(ctx.runner, 'Security scan', ctx.config.file.maintenance.commands['security-scan']);
    const channel = ctx.config.file.channels.security ?? ctx.config.file.channels.ops;
    if (channel) ctx.outbox.enqueue({ kind: 'post', payload: { channel, text: report.text } });
    if (!report.result.ok) throw new ReportedJobFailure(`security scan ${report.result.failedToStart ?? `exited ${report.result.exitCode ?? 'abnormally'}`}`);
    return { summary: 'scan passed' };
  },
};
