import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Who holds a database: shown to the operator of a second instance that was refused. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the holder started. */
  startedAt: string;
}

export interface InstanceLock {
  /** Lets the next instance in; call after the database is closed. Resolves once the next one may start. */
  release(): void | Promise<void>;
}

/**
 * Makes sure one Waygate at a time runs on a database: two would post every alert and run every job twice.
 *
 * The lock is an exclusive SQLite lock held on `<db>.lock` for the life of the process. SQLite takes it with
 * the operating system's file locks, which the kernel drops when the process ends however it ends (SIGKILL,
 * OOM kill, power loss), so there is never a stale lock to clean up and nothing guesses from pids, which a
 * container restart reuses. Who holds it is written next to it in `<db>.holder`, for the refusal message only:
 * the lock alone decides. `<db>.lock` stays in place between runs and must not be deleted while Waygate runs.
 */
export function lockDatabase(path: string, holder: LockHolder): InstanceLock {
  if (path === ':memory:') return { release: () => undefined };
  const lockPath = `${path}.lock`;
  const holderPath = `${path}.holder`;
  /* eslint-disable security/detect-non-literal-fs-filename -- every path here derives from the operator's WAYGATE_DB */
  mkdirSync(dirname(path), { recursive: true });
  const lock = new Database(lockPath);
  try {
    lock.pragma('busy_timeout = 0');
    // In EXCLUSIVE locking mode SQLite keeps the lock of its first transaction until the connection closes.
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE; COMMIT');
  } catch (err) {
    lock.close();
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new Error(
        `database ${path} is in use by another Waygate (${describeHolder(holderPath)}); two would post every alert and run every job twice. ` +
          'Stop that one first, or give this one its own WAYGATE_DB.',
      );
    }
    throw new Error(`database ${path}: cannot take the instance lock ${lockPath}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const tmp = `${holderPath}.${holder.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(holder)}\n`);
    renameSync(tmp, holderPath);
  } catch {
    // Only the refusal message of a second instance reads it; the lock is what counts.
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      rmSync(holderPath, { force: true });
      lock.close();
    },
  };
  /* eslint-enable security/detect-non-literal-fs-filename */
}

function describeHolder(holderPath: string): string {
  try {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- derived from the operator's WAYGATE_DB
    const h = JSON.parse(readFileSync(holderPath, 'utf8')) as Partial<LockHolder>;
    if (typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.startedAt === 'string') {
      return `pid ${h.pid} on host ${h.host}, running since ${h.startedAt}`;
    }
  } catch {
    // missing or half-written: the holder is just starting or stopping
  }
  return 'holder unknown';
}
