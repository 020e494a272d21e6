import type { Config } from './config/load.js';
import type { Clock } from './clock/clock.js';
import type { Db } from './db/database.js';
import type { Logger } from './logging/logger.js';
import type { Outbox } from './outbox/outbox.js';
import type { AuditLog } from './audit/audit-log.js';
import type { RoleResolver } from './auth/roles.js';
import type { JobService } from './jobs/job-service.js';
import type { Metrics } from './http/metrics.js';
import type { IncidentService } from './incidents/incident-service.js';
import type { ProcessRunner } from './runner/runner.js';
import type { BackupService } from './backup/backup-service.js';
import type { HealthService } from './health/health-service.js';

/** Everything a command handler or job may use, passed in explicitly (no module-level singletons). */
export interface Services {
  config: Config;
  clock: Clock;
  db: Db;
  logger: Logger;
  outbox: Outbox;
  audit: AuditLog;
  roles: RoleResolver;
  jobs: JobService;
  metrics: Metrics;
  incidents: IncidentService;
  /** The one way to spawn processes (argv arrays, no shell, tree-killing timeouts). */
  runner: ProcessRunner;
  backups: BackupService;
  health: HealthService;
  version: string;
  startedAt: number;
}
