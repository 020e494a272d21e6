import type { JobRun } from './types.js';
import { escapeMrkdwn, formatDuration } from '../core/text.js';

const OUTCOME_ICON: Record<JobRun['outcome'], string> = {
  ok: '✅',
  failed: '❌',
  running: '⏳',
  queued: '🕒',
  interrupted: '⚠️',
};

/** "✅ ok in 2 s: removed 3 rows", for job lists, run reports and failure alerts. */
export function describeRun(run: JobRun): string {
  const icon = OUTCOME_ICON[run.outcome];
  const took = run.ran && run.finished_at ? ` in ${formatDuration(run.finished_at - run.started_at)}` : '';
  const detail = run.outcome === 'failed' || run.outcome === 'interrupted' ? run.error : run.summary;
  return `${icon} ${run.outcome}${took}${detail ? `: ${escapeMrkdwn(detail)}` : ''}`;
}
