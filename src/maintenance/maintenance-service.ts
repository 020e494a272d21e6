import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { ProcessRunner } from '../runner/runner.js';
import type { MaintenanceConfig } from '../config/operations-schema.js';
import { runAndReport, type CommandReport } from './command-report.js';
import { DateTime } from 'luxon';
import { escapeMrkdwn, formatBytes } from '../core/text.js';
import { parseTimeOfDay, weekdayNames } from '../config/sla-schema.js';

export type MaintenanceCommand = keyof MaintenanceConfig['commands'];

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

/**
 * SOP-MAINT-002 on the Waygate MCP service: the configured maintenance commands (through the one process
 * runner) and VACUUM/ANALYZE of its database. Jobs use this instead of holding the runner themselves.
 */
export class MaintenanceService {
  constructor(
    private readonly config: MaintenanceConfig,
    private readonly serviceDatabase: string,
    private readonly runner: ProcessRunner,
  ) {}

  /** Runs one configured command and describes the outcome for Slack. */
  run(command: MaintenanceCommand, label: string): Promise<CommandReport> {
    return runAndReport(this.runner, label, this.config.commands[command]);
  }

  /** Whether `at` falls inside `maintenance.window` in `timezone`. */
  inWindow(at: number, timezone: string): boolean {
    const { days, start, end } = this.config.window;
    const local = DateTime.fromMillis(at, { zone: timezone });
    const minutes = local.hour * 60 + local.minute;
    return days.includes(weekdayNames[local.weekday - 1]!) && minutes >= parseTimeOfDay(start)! && minutes < parseTimeOfDay(end)!;
  }

  describeWindow(timezone: string): string {
    const { days, start, end } = this.config.window;
    return `${days.join(', ')} ${start}–${end} ${timezone}`;
  }

  /**
   * VACUUM and ANALYZE on the service database (SOP-MAINT-002 step 2), only inside the maintenance window:
   * VACUUM rewrites the whole file under an exclusive lock, which the live service would feel. Reports each
   * one's effect apart (ANALYZE adds its statistics pages, which read as if VACUUM grew the file). Throws on
   * failure.
   *
   * Stays on better-sqlite3 (decision 020): VACUUM, ANALYZE and the WAL checkpoint are SQLite's own upkeep, of
   * the service's database file (`service.database`), not statements on Waygate's store or its data layer.
   */
  vacuumServiceDatabase(at: number, timezone: string): string {
    const path = this.serviceDatabase;
    if (!this.inWindow(at, timezone)) {
      return `⏭️ *Database* \`${escapeMrkdwn(path)}\`: VACUUM and ANALYZE skipped, outside the maintenance window (${this.describeWindow(timezone)}); they run at the next maintenance inside it.`;
    }
    const before = databaseBytes(path);
    const db = new Database(path, { fileMustExist: true });
    let vacuumed: number;
    try {
      db.exec('VACUUM');
      db.pragma('wal_checkpoint(TRUNCATE)');
      vacuumed = databaseBytes(path);
      db.exec('ANALYZE');
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
    const after = databaseBytes(path);
    const freed = before - vacuumed;
    const vacuum = `VACUUM ${formatBytes(before)} → ${formatBytes(vacuumed)}${freed > 0 ? ` (${formatBytes(freed)} freed)` : ' (nothing to free)'}`;
    const analyze = `ANALYZE refreshed the query planner's statistics${after > vacuumed ? ` (+${formatBytes(after - vacuumed)})` : ''}`;
    return `✅ *Database* \`${escapeMrkdwn(path)}\`: ${vacuum}; ${analyze}.`;
  }
}
