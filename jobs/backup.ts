import type { JobDefinition } from '../src/jobs/types.js';
import type { JobContext } from '../src/context.js';
import { formatBackupReport } from '../src/backup/backup-report.js';
import { ReportedJobFailure } from '../src/jobs/reported-failure.js';
import { offsiteSuffix } from '../src/backup/offsite-outcome.js';

export const backup: JobDefinition<JobContext> = {
  name: 'backup',
  description: 'SOP-BACK-001: online database backup, integrity check, config archive, offsite copy, retention',
  defaultSchedule: '0 2 * * *',
  async run(ctx) {
    const report = await ctx.backups.run();
    const text = formatBackupReport(report, ctx.config.file.backup.dir);
    const channel = ctx.config.file.channels.ops;
    if (channel) await ctx.store.transaction(async (tx) => ctx.outbox.enqueue(tx, { kind: 'post', payload: { channel, text } }));
    if (report.integrity !== 'ok') {
      const message = `backup ${report.file.path} failed its integrity check: ${report.integrity}`;
      throw channel ? new ReportedJobFailure(message) : new Error(message);
    }
    return { summary: `${report.file.name} (${report.rows} rows, integrity ${report.integrity})${offsiteSuffix(report)}` };
  },
  describeOutcome(run) {
    if (run.outcome === 'ok') return `✅ Backup finished: ${run.summary ?? ''}`;
    if (run.outcome === 'interrupted') return `⚠️ Backup run #${run.id} was interrupted: ${run.error ?? 'the bot stopped'}. Start it again with \`/waygate backup now\`.`;
    return `❌ Backup failed: ${run.error ?? 'unknown error'}`;
  },
};
