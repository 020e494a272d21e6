import type { Core } from '../core/core.js';
import type { WaygateModule } from '../core/module.js';
import type { CommandServices } from '../context.js';
import { registerCommandRouter } from './router.js';
import { AuditBatch, FLUSH_EVERY_MS, type FlushScheduler } from '../audit/audit-batch.js';
import { commandPermission, type Command } from './types.js';

/** The `/waygate` verbs of commands/: each guarded by its `command.<verb>` permission. */
export function commandsModule(core: Core, services: CommandServices, commands: readonly Command[], schedule?: FlushScheduler): WaygateModule {
  const requests = new AuditBatch(
    core.audit,
    core.data.db,
    (err) => core.logger.error({ err }, 'commands could not be audited'),
    schedule ?? ((flush) => void core.clock.setTimer(FLUSH_EVERY_MS, () => void flush())),
  );
  registerCommandRouter(core.app, { services, commands, inflight: core.inflight, requests });
  return {
    name: 'commands',
    stop: () => requests.flush(),
    permissions: Object.fromEntries(commands.map((c) => [commandPermission(c), c.roles])),
  };
}
