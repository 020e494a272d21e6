import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MIGRATIONS, type Migration } from './migrations.js';

export type Db = Database.Database;

/** A database Waygate will not run on; the message reads on from "database <path>". */
export class DatabaseRefused extends Error {}

/**
 * Opens the SQLite file in WAL mode and brings its schema up to date. WAL with synchronous=NORMAL keeps
 * every committed transaction across a process crash (SIGKILL); only an OS crash can lose the newest ones.
 */
export function openDatabase(path: string, migrations: readonly Migration[] = MIGRATIONS): Db {
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- the path is the operator's WAYGATE_DB
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    // Statement journals (every write that fires the outbox's bookkeeping triggers) stay in memory: on a temp
    // file they cost several times the write itself. Nothing here sorts or vacuums large temporary data.
    db.pragma('temp_store = MEMORY');
    // The automatic checkpoint runs inside a commit, on the event loop that answers webhooks. Copying 250
    // pages at a time instead of SQLite's default 1,000 makes each pause a quarter as long; under a
    // 1,000 events/s flood that took the webhook p99 from about 1.6× to about 1.2× the bare receiver's.
    db.pragma('wal_autocheckpoint = 250');
    checkIntact(db);
    migrate(db, migrations);
  } catch (err) {
    db.close();
    const reason =
      err instanceof DatabaseRefused
        ? ` ${err.message}`
        : isDamage(err)
          ? ` is damaged (${(err as Error).message}). ${RESTORE_ADVICE}`
          : `: ${(err as Error).message}`;
    throw new Error(`database ${path}${reason}`, { cause: err });
  }
  return db;
}

const RESTORE_ADVICE = 'Waygate will not run on it: move it aside and restore a copy, or rebuild it with `sqlite3 <file> .recover`.';
/** Problems quoted in the refusal; the rest are counted. */
const SHOWN_PROBLEMS = 3;

/**
 * A damaged file would still open, answer /health and take webhooks, then fail to apply them: refuse it at
 * start-up. quick_check reads every page but skips the slower index-content comparison of integrity_check.
 */
function checkIntact(db: Db): void {
  let problems: string[];
  try {
    problems = (db.pragma('quick_check') as Array<{ quick_check: string }>).flatMap((r) => r.quick_check.split('\n'));
  } catch (err) {
    if (!isDamage(err)) throw err;
    problems = [(err as Error).message];
  }
  if (problems.length === 1 && problems[0] === 'ok') return;
  const listed = problems.filter((p) => !p.startsWith('*** in database'));
  const more = listed.length > SHOWN_PROBLEMS ? ` and ${listed.length - SHOWN_PROBLEMS} more` : '';
  throw new DatabaseRefused(`is damaged (quick_check: ${listed.slice(0, SHOWN_PROBLEMS).join('; ')}${more}). ${RESTORE_ADVICE}`);
}

/** The file is not a sound SQLite database (as opposed to busy, full or read-only). */
function isDamage(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code);
}

/**
 * Brings the schema up to date. A database that already has migrations this build does not know was
 * written by a newer Waygate: its tables may mean things this code would misread or overwrite, so it is
 * refused before anything is applied.
 */
export function migrate(db: Db, migrations: readonly Migration[]): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (datetime('now')))`);
  const rows = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as Array<{ version: number; name: string }>;
  const pending = pendingMigrations(rows, migrations);
  const record = db.prepare('INSERT INTO schema_migrations (version, name) VALUES (?, ?)');
  for (const m of pending) {
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name);
    })();
  }
  return pending.length;
}

/** An SQL identifier (a table or column name from the database's own catalogue), quoted. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The migrations still to apply, in order, given those the database records; refuses a database with
 * migrations this build does not know (written by a newer Waygate). Shared by both databases.
 */
export function pendingMigrations(applied: ReadonlyArray<{ version: number; name: string }>, migrations: readonly Migration[]): Migration[] {
  const known = new Set(migrations.map((m) => m.version));
  const unknown = applied.filter((r) => !known.has(r.version));
  if (unknown.length > 0) {
    const newest = Math.max(0, ...known);
    throw new DatabaseRefused(
      `has migrations this version of Waygate does not know: ${unknown.map((r) => `${r.version} (${r.name})`).join(', ')}. ` +
        `This version knows migrations up to ${newest}; the database was written by a newer Waygate. ` +
        'Run that newer version, or restore a backup taken before the upgrade.',
    );
  }
  const done = new Set(applied.map((r) => r.version));
  return [...migrations].sort((a, b) => a.version - b.version).filter((m) => !done.has(m.version));
}

/**
 * Errors about the database rather than about one statement's data: retrying later, or elsewhere, may
 * succeed, so the work they interrupt must stay queued. SQLite: the file is damaged, full, read-only, locked
 * or failing I/O. PostgreSQL (SQLSTATE classes): the connection (08), a deadlock or serialization failure
 * (40), resources (53), a cancelled statement or a server shutting down (57), the system (58), internal
 * errors (XX), a lock not available (55P03); and a connection the client lost (no SQLSTATE). A replica that
 * was fenced out (it no longer leads) counts too: the leader applies the work.
 */
export function isStorageError(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  const code = e?.code;
  if (typeof code === 'string') {
    if (/^SQLITE_(CORRUPT|NOTADB|IOERR|FULL|READONLY|CANTOPEN|BUSY|LOCKED|NOMEM|PROTOCOL|PERM)/.test(code)) return true;
    if (/^(08|40|53|57|58|XX)[0-9A-Z]{3}$/.test(code) || code === '55P03') return true;
    if (/^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND)$/.test(code)) return true;
  }
  if (e?.name === 'FencedOut') return true;
  return typeof e?.message === 'string' && /^(Connection terminated|Client has encountered a connection error|Query read timeout)/.test(e.message);
}
