import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { JobDefinition } from '../src/jobs/types.js';
import { runAndReport } from '../src/maintenance/command-report.js';
import { escapeMrkdwn, formatBytes } from '../src/slack/format.js';
import { ReportedJobFailure } from '../src/jobs/reported-failure.js';

/** Size of a SQLite database including its WAL, which VACUUM folds back in. */
function databaseBytes(path: string): number {
  let total = 0;
  for (const file of [path, `${path}-wal`]) {
    try {
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- the operator's service.database
      total += statSync(file).size;
    } catch {
      // absent WAL is normal
    }
  }
  return total;
}

/** VACUUM and ANALYZE on the service database, reporting the size change (SOP-MAINT-002 step 2). */
function vacuum(path: string): string {
  const before = databaseBytes(path);
  const db = new Database(path, { fileMustExist: true });
  try {
    db.exec('VACUUM');
    db.exec('ANALYZE');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  const after = databaseBytes(path);
  return `✅ *Database* \`${escapeMrkdwn(path)}\`: VACUUM and ANALYZE done, ${formatBytes(before)} → ${formatBytes(after)}`;
}

export const weeklyMaintenance: JobDefinition = {
  name: 'weekly-maintenance',
  description: 'SOP-MAINT-002: VACUUM and ANALYZE the service database, list outdated dependencies',
  defaultSchedule: '0 14 * * 2',
  async run(ctx) {
    const { service, maintenance, channels } = ctx.config.file;
    const parts: string[] = [];
    let databaseProblem: string | null = null;
    try {
      parts.push(vacuum(service.database));
    } catch (err) {
      databaseProblem = `${service.database}: ${(err as Error).message}`;
      parts.push(`❌ *Database* \`${escapeMrkdwn(service.database)}\`: ${escapeMrkdwn((err as Error).message)}`);
    }
    const outdated = await runAndReport(ctx.runner, 'Outdated dependencies', maintenance.commands.outdated);
    parts.push(outdated.text);
    const text = `🧰 *Weekly maintenance*\n${parts.join('\n')}`;
    if (channels.ops) ctx.outbox.enqueue({ kind: 'post', payload: { channel: channels.ops, text } });
    if (databaseProblem) {
      const message = `database maintenance failed: ${databaseProblem}`;
      throw channels.ops ? new ReportedJobFailure(message) : new Error(message);
    }
    return { summary: `database maintained; outdated check ${outdated.result.ok ? 'ran' : 'failed'}` };
  },
};
