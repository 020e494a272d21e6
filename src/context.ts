import type { Transaction } from 'kysely';
import type { Executor, Schema } from './db/data-layer.js';
import type { Config } from './config/load.js';
import type { Clock } from './clock/clock.js';
import type { Logger } from './logging/logger.js';
import type { Outbox } from './outbox/outbox.js';
import type { AuditLog } from './audit/audit-log.js';
import type { Metrics } from './http/metrics.js';
import type { Policy } from './core/policy.js';
import type { IncidentFacade } from './incidents/facade.js';
import type { HealthService } from './health/health-service.js';
import type { BackupService } from './backup/backup-service.js';
import type { MaintenanceService } from './maintenance/maintenance-service.js';
import type { JobService } from './jobs/job-service.js';
import type { OncallService } from './oncall/oncall-service.js';
import type { SopEngine } from './sops/engine.js';
import type { ApiKeyService } from './keys/api-keys.js';
import type { ComplianceService } from './compliance/compliance-service.js';

/** The database as commands and jobs may use it: transactions and upkeep, never another module's SQL. */
export interface Store {
  /**
   * Runs `fn` in one transaction of the data layer: the state it changes, the messages it queues and its audit
   * rows commit together or not at all. `fn` must await only the database.
   */
  transaction<T>(fn: (tx: Transaction<Schema>) => Promise<T>): Promise<T>;
  /** Folds the write-ahead log back into the database file. */
  checkpoint(): void;
  /** Forgets finished execution records and fired deadlines older than the cut-off, in the caller's transaction `ex`. */
  pruneHistory(ex: Executor, olderThan: number): Promise<{ executions: number; deadlines: number }>;
}

/** What every command and job may use. No `db`, no process runner: those stay inside their modules. */
export interface CoreServices {
  config: Config;
  clock: Clock;
  logger: Logger;
  outbox: Outbox;
  audit: AuditLog;
  policy: Policy;
  metrics: Metrics;
  store: Store;
  version: string;
  startedAt: number;
}

/** The facades of the feature modules that jobs use. */
export interface JobFacades {
  incidents: IncidentFacade;
  health: HealthService;
  backups: BackupService;
  maintenance: MaintenanceService;
  /** Who is on call (rotation and overrides). */
  oncall: OncallService;
  /** API keys (SOP-SEC-002): the monthly review reads them, `/waygate key` manages them. */
  apiKeys: ApiKeysFacade;
  /** The compliance calendar (SOP-COMP-001): the daily job posts and reminds, `/waygate compliance` reads. */
  compliance: Pick<ComplianceService, 'runCalendar' | 'lists' | 'messageOf'>;
}

/** API keys as commands and jobs see them: no table, no hasher, no runner. */
export type ApiKeysFacade = Pick<ApiKeyService, 'create' | 'rotate' | 'revoke' | 'verify' | 'list' | 'stale' | 'deliverRotated' | 'rotationScriptConfigured' | 'graceMs'>;

export type JobContext = CoreServices & JobFacades;

/** The job runner as commands see it. */
export type JobsFacade = Pick<JobService<JobContext>, 'list' | 'has' | 'isRunning' | 'names' | 'request' | 'runQueued'>;

/** Procedure runs as commands see them. */
export type SopsFacade = Pick<SopEngine, 'start' | 'get' | 'active' | 'definition' | 'definitions' | 'catalog' | 'recent'>;

/** What commands use: the core and every module's facade. */
export type CommandServices = CoreServices & JobFacades & { jobs: JobsFacade; sops: SopsFacade };
