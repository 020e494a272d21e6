import { DateTime } from 'luxon';
import type { AuditLog } from '../audit/audit-log.js';
import { auditJson } from '../audit/export.js';
import type { BackupService } from '../backup/backup-service.js';
import { describeRestoreTest } from '../backup/restore-test.js';
import { WAYGATE_ACTOR } from '../core/text.js';
import type { AutomaticTask } from '../sops/definition.js';
import type { Run } from '../sops/run-state.js';

type Task = (run: Run) => Promise<{ ok: boolean; detail: string }>;

/**
 * The two SOP-COMP-001 items Waygate does itself:
 * - `audit-archive`: the audit trail of the calendar month before the list was posted, as the same JSON
 *   `/waygate audit export` gives (with previous hashes, so the chain can be checked offline), written to the
 *   backup folder as `audit_YYYY-MM.json` with a `.sha256` beside it;
 * - `restore-test`: the newest backup restored into a scratch database and checked against the live one.
 */
export function automaticTasks(deps: { audit: AuditLog; backups: Pick<BackupService, 'writeArchive' | 'restoreTest'>; timezone: string; now: () => number }): Record<AutomaticTask, Task> {
  return {
    // Async, so a failed write (a full disk) comes back as a rejected promise the engine reports.
    'audit-archive': async (run) => {
      const month = DateTime.fromMillis(run.createdAt, { zone: deps.timezone }).startOf('month').minus({ months: 1 });
      const from = month.toMillis();
      const until = month.plus({ months: 1 }).toMillis();
      const rows = await deps.audit.between(from, until);
      const name = `audit_${month.toFormat('yyyy-LL')}.json`;
      const content = auditJson(rows, {
        from: month.toISODate() ?? '',
        to: month.endOf('month').toISODate() ?? '',
        timezone: deps.timezone,
        exportedAt: deps.now(),
        exportedBy: WAYGATE_ACTOR,
      });
      const written = deps.backups.writeArchive(name, content);
      return {
        ok: true,
        detail: `${name} written to the backup folder: ${rows.length} audit entries of ${month.toFormat('LLLL yyyy')}, sha256 ${written.sha256} (also in ${name}.sha256)`,
      };
    },
    'restore-test': async () => {
      const result = await deps.backups.restoreTest();
      return { ok: result.ok, detail: describeRestoreTest(result).replace(/^(✅|❌) /, '') };
    },
  };
}
