import type { BackupReport } from './backup-service.js';

/**
 * How a backup run's offsite copy went, written at the end of the run's one-line summary so the digest can
 * tell "the local backup is fine but never left the machine" from the execution record alone.
 */
export type OffsiteOutcome = { ok: true } | { ok: false; detail: string } | null;

const OK = '; offsite copy ok';
const FAILED = '; offsite copy failed: ';
const NONE = '; no offsite copy';

export function offsiteSuffix(report: Pick<BackupReport, 'offsite'>): string {
  if (report.offsite === null) return NONE;
  return report.offsite.ok ? OK : `${FAILED}${report.offsite.detail.split('\n')[0]!.slice(0, 200)}`;
}

/** The outcome a summary records; undefined when it says nothing (a run by an older version, or a failed run). */
export function offsiteOutcome(summary: string | null): OffsiteOutcome | undefined {
  if (!summary) return undefined;
  if (summary.endsWith(OK)) return { ok: true };
  if (summary.endsWith(NONE)) return null;
  const at = summary.lastIndexOf(FAILED);
  return at >= 0 ? { ok: false, detail: summary.slice(at + FAILED.length) } : undefined;
}
