/**
 * SOP-COMP-001's "Disaster recovery test", done rather than ticked: the newest database backup is restored
 * into a scratch database (SQLite's online backup API, the same page copy a real restore makes), the
 * restored copy gets `PRAGMA integrity_check`, and its tables and row counts are set beside the live
 * database's. The scratch copy is removed afterwards, whatever happened.
 *
 * It passes when the copy restores, is intact, and has every table the live database has. Row counts are
 * reported, not required to match: the live database has moved on since the backup was taken (new audit
 * rows, pruned history), and the report shows by how much.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quoteIdent } from '../db/database.js';

export interface TableCount {
  table: string;
  restored: number | null;
  live: number | null;
}

export interface RestoreTestResult {
  ok: boolean;
  /** The backup's file name, or null when there was none. */
  backup: string | null;
  /** 'ok', or what integrity_check (or the restore) said. */
  integrity: string;
  tables: TableCount[];
  /** Why it failed, one line each; empty when it passed. */
  problems: string[];
  durationMs: number;
}

const MAX_INTEGRITY_PROBLEMS = 5;


function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  return code.startsWith('SQLITE_') ? `${message} (${code})` : message;
}

/** Row count of every table of a database (SQLite's own tables left out); null where a table cannot be read. */
export function tableCounts(db: Database.Database): Map<string, number | null> {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
    .pluck()
    .all() as string[];
  const counts = new Map<string, number | null>();
  for (const name of names) {
    try {
      counts.set(name, db.prepare(`SELECT COUNT(*) FROM ${quoteIdent(name)}`).pluck().get() as number);
    } catch {
      counts.set(name, null);
    }
  }
  return counts;
}

/**
 * Restores `backupPath` into a scratch file, checks it, compares it with `livePath`. Never throws. Stays on
 * better-sqlite3 (decision 020): it reads SQLite files (a backup, a scratch copy, the live service database)
 * through SQLite's own backup API and pragmas, not Waygate's store, so the data layer has no part in it.
 */
export async function restoreTest(opts: { backupPath: string; backupName: string; livePath: string; now: () => number }): Promise<RestoreTestResult> {
  const started = opts.now();
  const scratchDir = mkdtempSync(join(tmpdir(), 'waygate-restore-test-'));
  const scratch = join(scratchDir, 'restored.db');
  const result = (ok: boolean, integrity: string, tables: TableCount[], problems: string[]): RestoreTestResult => ({
    ok,
    backup: opts.backupName,
    integrity,
    tables,
    problems,
    durationMs: opts.now() - started,
  });
  try {
    try {
      const source = new Database(opts.backupPath, { readonly: true, fileMustExist: true });
      try {
        await source.backup(scratch);
      } finally {
        source.close();
      }
    } catch (err) {
      return result(false, 'not restored', [], [`${opts.backupName} could not be restored: ${reason(err)}`]);
    }
    let restoredCounts: Map<string, number | null>;
    let integrity: string;
    const restored = new Database(scratch, { fileMustExist: true });
    try {
      try {
        const rows = restored.pragma(`integrity_check(${MAX_INTEGRITY_PROBLEMS})`) as Array<{ integrity_check: string }>;
        integrity = rows.map((r) => r.integrity_check).join('; ') || 'no result from integrity_check';
      } catch (err) {
        return result(false, reason(err), [], [`the restored copy of ${opts.backupName} is unreadable: ${reason(err)}`]);
      }
      restoredCounts = tableCounts(restored);
    } finally {
      restored.close();
    }
    const live = new Database(opts.livePath, { readonly: true, fileMustExist: true });
    let liveCounts: Map<string, number | null>;
    try {
      liveCounts = tableCounts(live);
    } finally {
      live.close();
    }
    const names = [...new Set([...liveCounts.keys(), ...restoredCounts.keys()])].sort();
    const tables = names.map((table) => ({ table, restored: restoredCounts.has(table) ? (restoredCounts.get(table) ?? null) : null, live: liveCounts.get(table) ?? null }));
    const problems: string[] = [];
    if (integrity !== 'ok') problems.push(`integrity check of the restored copy: ${integrity}`);
    const missing = names.filter((t) => liveCounts.has(t) && !restoredCounts.has(t));
    if (missing.length > 0) problems.push(`the restored copy lacks ${missing.length} table(s) the live database has: ${missing.join(', ')}`);
    const unreadable = tables.filter((t) => restoredCounts.has(t.table) && t.restored === null).map((t) => t.table);
    if (unreadable.length > 0) problems.push(`table(s) of the restored copy cannot be read: ${unreadable.join(', ')}`);
    return result(problems.length === 0, integrity, tables, problems);
  } catch (err) {
    return result(false, 'not checked', [], [`restore test failed: ${reason(err)}`]);
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
  }
}

/** One line for Slack: the verdict, and how the restored copy compares with the live database. */
export function describeRestoreTest(r: RestoreTestResult): string {
  if (r.backup === null) return `❌ Restore test: ${r.problems.join('; ')}`;
  if (!r.ok) return `❌ Restore test of \`${r.backup}\` failed: ${r.problems.join('; ')}`;
  const restored = r.tables.reduce((n, t) => n + (t.restored ?? 0), 0);
  const live = r.tables.reduce((n, t) => n + (t.live ?? 0), 0);
  const moved = r.tables.filter((t) => t.restored !== t.live).map((t) => `${t.table} ${signed((t.live ?? 0) - (t.restored ?? 0))}`);
  const diff = moved.length === 0 ? 'the same row counts as the live database' : `live database since: ${moved.slice(0, 8).join(', ')}${moved.length > 8 ? ` and ${moved.length - 8} more` : ''}`;
  return `✅ Restore test of \`${r.backup}\` passed: integrity ok, ${r.tables.length} tables, ${restored.toLocaleString('en-US')} rows restored (live ${live.toLocaleString('en-US')}; ${diff}).`;
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}
