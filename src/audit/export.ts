import type { AuditRow } from './audit-log.js';

/** The CSV's columns, in order: what a reviewer opening it in a spreadsheet needs to read and match the chain. */
export const CSV_COLUMNS = ['id', 'at', 'actor', 'action', 'subject', 'details', 'hash'] as const;

/**
 * A spreadsheet runs a cell that starts with one of these as a formula; an actor or subject can come from
 * outside (a PagerDuty user's name), so such a cell gets a leading apostrophe (OWASP's CSV injection advice).
 * The JSON file carries every value unchanged.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One RFC 4180 field: quoted when it holds a comma, a quote, CR or LF, with quotes doubled. Hand-written
 * rather than a dependency: the rule is these few lines, and unit tests pin it.
 */
export function csvField(value: string): string {
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** The rows as CSV: a header line, then one record per row, CRLF line breaks as RFC 4180 has them. */
export function auditCsv(rows: readonly AuditRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) {
    lines.push([String(r.id), new Date(r.at).toISOString(), r.actor, r.action, r.subject ?? '', r.details, r.hash].map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

export interface AuditExportMeta {
  from: string;
  to: string;
  timezone: string;
  exportedAt: number;
  exportedBy: string;
}

function parsedDetails(details: string): unknown {
  try {
    return JSON.parse(details) as unknown;
  } catch {
    return details;
  }
}

/**
 * The rows as JSON, with what the CSV leaves out: the epoch milliseconds and the previous hash, so the chain
 * can be checked offline (a row's hash covers its details exactly as JSON.stringify writes them).
 */
export function auditJson(rows: readonly AuditRow[], meta: AuditExportMeta): string {
  const entries = rows.map((r) => ({
    id: r.id,
    at: new Date(r.at).toISOString(),
    atMs: r.at,
    actor: r.actor,
    action: r.action,
    subject: r.subject,
    details: parsedDetails(r.details),
    prevHash: r.prev_hash,
    hash: r.hash,
  }));
  return `${JSON.stringify({ ...meta, exportedAt: new Date(meta.exportedAt).toISOString(), entries }, null, 2)}\n`;
}
