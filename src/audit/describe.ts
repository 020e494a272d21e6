import type { AuditVerification } from './audit-log.js';
import { escapeMrkdwn, oneLine, truncate } from '../core/text.js';
import { slackDate } from '../slack/format.js';

/**
 * "entry #7 (`job.run` by U0OPS on …, subject …)": the row a broken chain breaks at, named so a reader can find
 * it in the table. Its content may be what was forged, so the actor is plain text, never a mention that pings.
 */
export function brokenEntryText(v: Extract<AuditVerification, { ok: false }>): string {
  const e = v.entry;
  if (!e) return `entry #${v.brokenAt}`;
  const action = `\`${escapeMrkdwn(truncate(oneLine(e.action.replace(/`/g, "'")), 60))}\``;
  const subject = e.subject ? `, subject ${escapeMrkdwn(truncate(oneLine(e.subject), 80))}` : '';
  return `entry #${e.id} (${action} by ${escapeMrkdwn(truncate(oneLine(e.actor), 60))}, recorded ${slackDate(new Date(e.at))}${subject})`;
}
