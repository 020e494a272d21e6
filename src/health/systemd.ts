/**
 * SOP-MAINT-001 `systemctl status waygate-mcp`, reduced to the unit's state with `systemctl is-active`.
 */
import { formatDuration, truncate } from '../core/text.js';
import type { ProcessRunner } from '../runner/runner.js';

export const SYSTEMCTL_TIMEOUT_MS = 5_000;

/** What `systemctl is-active` prints (systemd's unit active states). */
const ACTIVE_STATES = new Set([
  'active',
  'reloading',
  'inactive',
  'failed',
  'activating',
  'deactivating',
  'maintenance',
  'refreshing',
  'unknown',
]);

export const SYSTEMD_NOT_CONFIGURED = 'not checked (no unit configured)';
export const SYSTEMD_NOT_AVAILABLE = 'not available (no systemctl)';

/**
 * The unit's state as `systemctl is-active <unit>` prints it ('active', 'inactive', 'failed', …). Never throws:
 * no unit → "not checked (no unit configured)", no systemctl → "not available (no systemctl)", a host where
 * systemd is not running (containers) → "not available (systemd not running)", anything else → "unknown (…)".
 * The exit status is not used: is-active exits 3 for inactive and failed units, whose state is still the answer.
 */
export async function systemdState(unit: string | null, runner: ProcessRunner): Promise<string> {
  if (unit === null) return SYSTEMD_NOT_CONFIGURED;
  // The schema allows a leading '-', which systemctl would read as an option.
  if (unit.trim() === '' || unit.startsWith('-')) return `not checked (invalid unit name ${JSON.stringify(truncate(unit, 60))})`;
  let result: Awaited<ReturnType<ProcessRunner['run']>>;
  try {
    result = await runner.run({ argv: ['systemctl', 'is-active', unit], timeoutMs: SYSTEMCTL_TIMEOUT_MS });
  } catch (err) {
    // ProcessRunner promises not to reject; a fake or future runner might.
    return `unknown (${truncate(err instanceof Error ? err.message : String(err), 100)})`;
  }
  if (result.failedToStart !== null) {
    return /not found|ENOENT/i.test(result.failedToStart)
      ? SYSTEMD_NOT_AVAILABLE
      : `not available (${truncate(result.failedToStart, 100)})`;
  }
  if (result.timedOut) return `unknown (systemctl timed out after ${formatDuration(SYSTEMCTL_TIMEOUT_MS, { precise: true })})`;
  const lines = result.output
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const state = lines.find((l) => ACTIVE_STATES.has(l));
  if (state !== undefined) return state;
  const text = lines.join(' ');
  if (/not been booted with systemd|failed to connect to bus|system has not been booted/i.test(text)) {
    return 'not available (systemd not running)';
  }
  if (text === '') return `unknown (systemctl exited ${result.exitCode ?? 'without a code'} with no output)`;
  return `unknown (${truncate(text, 100)})`;
}
