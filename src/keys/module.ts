import type { Core } from '../core/core.js';
import type { WaygateModule } from '../core/module.js';
import type { ProcessRunner } from '../runner/runner.js';
import { ApiKeyService, GRACE_DEADLINES, ROTATION_SCRIPT } from './api-keys.js';
import { KeyHasher } from './key-hash.js';

/**
 * API keys (SOP-SEC-002). The service owns the `api_keys` table and the rotation script; the end of each
 * rotation's grace period is a durable deadline, so a restart neither forgets nor repeats it.
 */
export function apiKeysModule(core: Core, deps: { runner: ProcessRunner }): { service: ApiKeyService; module: WaygateModule } {
  const { config } = core;
  const service = new ApiKeyService({
    data: core.data,
    clock: core.clock,
    logger: core.logger.child({ module: 'api-keys' }),
    audit: core.audit,
    deadlines: core.deadlines,
    hasher: new KeyHasher(config.env.WAYGATE_KEY_HASH_SECRET),
    graceMs: config.file.keys.rotationGrace,
    runner: deps.runner,
    rotationScript: config.file.scripts[ROTATION_SCRIPT],
  });
  core.deadlines.on(GRACE_DEADLINES, (due, now, tx) => service.endGrace(due, now, tx));
  return { service, module: { name: 'api-keys' } };
}
