import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { ProcessRunner } from '../runner/runner.js';
import type { MaintenanceConfig } from '../config/operations-schema.js';
import { runAndReport, type CommandReport } from './command-report.js';
import { escapeMrkdwn, formatBytes } from '../core/text.js';

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

  /** VACUUM and ANALYZE on the service database, reporting the size change (SOP-MAINT-002 step 2). Throws on failure. */
  vacuumServiceDatabase(): string {
    const path = this.serviceDatabase;
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
}
