import type { Executor } from '../db/data-layer.js';
import type { Core } from '../core/core.js';
import type { WaygateModule } from '../core/module.js';
import { PERMISSIONS } from '../core/policy.js';
import type { ProcessRunner } from '../runner/runner.js';
import type { IncidentFacade } from '../incidents/facade.js';
import { BackupService } from '../backup/backup-service.js';
import { MaintenanceService } from '../maintenance/maintenance-service.js';
import { HealthService } from './health-service.js';
import { digestActions } from './slack-actions.js';
import { anchorReader } from './anchor-reader.js';

export interface OperationsModule {
  module: WaygateModule;
  health: HealthService;
  backups: BackupService;
  maintenance: MaintenanceService;
}

/**
 * The scheduled operations of SOP-MAINT-001/002 and SOP-BACK-001: health samples and the daily digest
 * (owns health_samples, service_state and digests), backups and maintenance of the Waygate MCP service.
 * The process runner lives here and nowhere else in the bot.
 */
export function operationsModule(
  core: Core,
  deps: { incidents: IncidentFacade; incidentsTracked: boolean; runner: ProcessRunner; fetchImpl?: typeof fetch; onCall?: (ex: Executor) => Promise<string | undefined> },
): OperationsModule {
  const { clock, logger, outbox, audit, config, executions } = core;
  const file = config.file;
  const backups = new BackupService({ config: file.backup, databasePath: file.service.database, timezone: file.timezone, clock, runner: deps.runner });
  const maintenance = new MaintenanceService(file.maintenance, file.service.database, deps.runner);
  // The job's own default (jobs/health-check.ts) unless YAML `schedules` changes or disables it.
  const checkSchedule = file.schedules['health-check'] === undefined ? '*/5 * * * *' : file.schedules['health-check'] || undefined;
  const health = new HealthService({
    ...(checkSchedule ? { checkSchedule } : {}),
    track: (task) => core.inflight.track(task),
    ...(deps.onCall ? { onCall: deps.onCall } : {}),
    data: core.data,
    clock,
    logger,
    outbox,
    audit,
    config: file,
    runner: deps.runner,
    backups,
    incidents: deps.incidents,
    executions,
    incidentsTracked: deps.incidentsTracked,
    ...(deps.fetchImpl ? { fetchImpl: deps.fetchImpl } : {}),
    readAnchor: anchorReader(core.app.client),
  });
  return {
    health,
    backups,
    maintenance,
    module: {
      name: 'operations',
      // SOP-MAINT-001 is owned by the operations team; on-call and leads do the daily check too.
      permissions: { [PERMISSIONS.digestReview]: ['ops', 'lead', 'oncall'] },
      actions: digestActions(health),
      stop: () => health.stop(),
    },
  };
}
