import type { BackupReport } from './backup-service.js';
import { escapeMrkdwn, formatBytes, formatDuration } from '../core/text.js';

/** The SOP-BACK-001 report for the ops channel: what was written, how big, how long, and whether it is sound. */
export function formatBackupReport(report: BackupReport, dir: string): string {
  // SOP-BACK-001 step 4 is the offsite copy: a backup that stays on the same machine is not done.
  const ok = report.integrity === 'ok' && report.offsite?.ok === true;
  const lines = [
    `${ok ? '✅' : '⚠️'} *Backup* \`${escapeMrkdwn(report.file.name)}\` in \`${escapeMrkdwn(dir)}\`: ${formatBytes(report.file.sizeBytes)}, ${report.tables} tables, ${report.rows} rows, took ${formatDuration(report.durationMs)}.`,
    `Integrity check: ${report.integrity === 'ok' ? 'ok' : `❌ ${escapeMrkdwn(report.integrity)}`}`,
    'skipped' in report.configArchive
      ? `Config archive: skipped (${escapeMrkdwn(report.configArchive.skipped)})`
      : `Config archive: \`${escapeMrkdwn(report.configArchive.name)}\` ${formatBytes(report.configArchive.sizeBytes)}`,
    report.offsite
      ? `Offsite copy: ${report.offsite.ok ? 'ok' : `❌ ${escapeMrkdwn(report.offsite.detail)}`}`
      : 'Offsite copy: ⚠️ not configured: SOP-BACK-001 step 4 asks for one; set `backup.offsite`',
    report.pruned.length > 0 ? `Removed ${report.pruned.length} backup(s) past retention: ${report.pruned.map(escapeMrkdwn).join(', ')}` : 'Nothing past retention.',
  ];
  return lines.join('\n');
}
