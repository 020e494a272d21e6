import { DateTime } from 'luxon';
import type { Core } from '../core/core.js';
import type { WaygateModule } from '../core/module.js';
import { describeRoles } from '../core/policy.js';
import type { IncidentFacade } from '../incidents/facade.js';
import type { ProcessRunner } from '../runner/runner.js';
import { parseTimeOfDay, weekdayNames } from '../config/sla-schema.js';
import { incidentLink } from '../incidents/alert-message.js';
import { approversOf, type Run } from './run-state.js';
import type { HealthService } from '../health/health-service.js';
import type { Executor } from '../db/data-layer.js';

/** The procedure whose completed runs count as "passed staging". */
const STAGING = 'deploy-staging';
import type { Guard, PinnedDefinition } from './definition.js';
import { SopEngine, type SopEngineOptions } from './engine.js';
import { RunStore } from './run-store.js';
import { sopActions } from './slack-actions.js';
import { sopPermissions } from './permissions.js';

export interface SopsModule {
  module: WaygateModule;
  engine: SopEngine;
}

/**
 * Procedures as data (SOP-OPS-001/002 first): the run engine on the durable deadlines and execution
 * records, its buttons and modals, and one permission pair per definition (`sop.<id>.start`, `.approve`).
 */
export function sopsModule(
  core: Core,
  opts: {
    definitions: ReadonlyMap<string, PinnedDefinition>;
    incidents: IncidentFacade;
    health: Pick<HealthService, 'figures' | 'check'>;
    runner: ProcessRunner;
    automatic?: SopEngineOptions['automatic'];
  },
): SopsModule {
  const { config, clock } = core;
  const file = config.file;
  const window = file.maintenanceWindow;
  const store = new RunStore(core.data);
  const guards = async (guard: Guard, run: Run, ex: Executor): Promise<string | null> => {
    switch (guard) {
      case 'maintenanceWindow': {
        const local = DateTime.fromMillis(clock.nowMs(), { zone: file.timezone });
        const minutes = local.hour * 60 + local.minute;
        const inside = window.days.includes(weekdayNames[local.weekday - 1]!) && minutes >= parseTimeOfDay(window.start)! && minutes < parseTimeOfDay(window.end)!;
        return inside ? null : `outside the maintenance window (${window.days.join(', ')} ${window.start}–${window.end} ${file.timezone})`;
      }
      case 'noOpenP1': {
        // In the engine's transaction, so the guard and the transition it allows see one state.
        const open = await opts.incidents.open('P1', ex);
        return open.length === 0 ? null : `deploy freeze: ${open.length === 1 ? 'a P1 incident is' : `${open.length} P1 incidents are`} open (${open.slice(0, 3).map(incidentLink).join(', ')})`;
      }
      case 'passedStaging': {
        const version = run.params.version ?? '';
        return (await store.completedWith(ex, STAGING, 'version', version)) ? null : `\`${version}\` has not passed staging (no completed \`/waygate deploy staging ${version}\`)`;
      }
    }
  };
  /** What the service did during a deploy's watch, in one line. */
  const watchSummary = async (ex: Executor, since: number, until: number): Promise<string> => {
    const f = await opts.health.figures(since, until, ex);
    const uptime = f.uptimePct === null ? 'no health checks ran' : `uptime ${f.uptimePct.toFixed(1)} % (${f.okSamples} of ${f.samples} checks ok)`;
    const opened = await opts.incidents.openedBetween(since, until, ex);
    const incidents = opened.length === 0 ? 'no incidents opened' : `${opened.length} incident(s) opened: ${opened.slice(0, 5).map(incidentLink).join(', ')}`;
    return `${uptime}; ${f.errors.errorLines} ERROR line(s) counted; ${incidents}.`;
  };
  const engine = new SopEngine({
    data: core.data,
    replica: core.leadership.replica,
    liveReplicas: (names) => core.leadership.liveReplicas(names),
    clock,
    logger: core.logger,
    outbox: core.outbox,
    audit: core.audit,
    deadlines: core.deadlines,
    executions: core.executions,
    runner: opts.runner,
    store,
    definitions: opts.definitions,
    channels: file.channels,
    scripts: file.scripts,
    healthUrl: file.service.healthUrl,
    guards,
    watchSummary,
    probe: async () => {
      const r = await opts.health.check();
      return { ok: r.ok, detail: r.ok ? `HTTP ${r.httpStatus ?? '?'}` : r.summary };
    },
    describeRoles: (roles) => `a ${describeRoles(roles)}`,
    ...(opts.automatic ? { automatic: opts.automatic } : {}),
    // Output longer than a message shows is shared whole, as a file in the run's thread, never cut silently.
    shareFile: async (ex, { channel, threadKey, filename, title, content }) => {
      await core.outbox.enqueue(ex, { kind: 'file_upload', payload: { channel, threadKey, filename, title, altText: title, contentBase64: Buffer.from(content, 'utf8').toString('base64') } });
    },
    settings: {
      'approvals.hotfixReviewWithin': file.approvals.hotfixReviewWithin,
      'approvals.requestExpiresAfter': file.approvals.requestExpiresAfter,
      'deploy.watchFor': file.deploy.watchFor,
    },
  });
  const permissions: Record<string, readonly string[]> = {};
  for (const { definition } of opts.definitions.values()) {
    const names = sopPermissions(definition.id);
    permissions[names.start] = definition.permissions.start;
    const approvers = definition.steps.flatMap((s) => (s.kind === 'approval' ? approversOf(definition, s) : []));
    permissions[names.approve] = definition.permissions.approve ?? (approvers.length > 0 ? [...new Set(approvers)] : ['lead']);
  }
  const { actions, views } = sopActions(engine, core.policy);
  return {
    engine,
    module: {
      name: 'sops',
      permissions,
      actions,
      views,
      health: async () => ({ procedures: { value: { definitions: opts.definitions.size, openRuns: (await engine.active()).length } } }),
      // Marks scripts the last leader was running as interrupted (see decision 021 for replicas).
      leader: { start: () => engine.recover(), stop: () => undefined },
      stop: () => engine.stop(),
    },
  };
}
