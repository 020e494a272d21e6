/**
 * SOP-BACK-001, the daily backup, done in-process:
 *
 *   1. online copy of the live SQLite database to `<dir>/waygate_YYYYMMDD.db` (better-sqlite3's backup API,
 *      the same page-by-page copy as `sqlite3 waygate.db ".backup …"`), written under a temporary name and
 *      renamed into place so a half-written copy never carries the final name;
 *   2. `PRAGMA integrity_check` on the copy, plus a count of its tables and rows;
 *   3. gzip tar of the configuration directory to `<dir>/config_YYYYMMDD.tar.gz` (the `tar` package, no
 *      `tar` binary);
 *   4. optional offsite copy: `rsync -a <dir>/ <offsite>` through the ProcessRunner;
 *   5. retention: backups (and only backups) whose modification time is older than `retentionDays` days.
 *
 * YYYYMMDD is the date in the configured timezone at the clock's current instant. Running the procedure a
 * second time on the same local day (a manual rerun) overwrites that day's files: the newer copy wins.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DateTime, IANAZone } from 'luxon';
import * as tar from 'tar';
import type { Clock } from '../clock/clock.js';
import type { BackupConfig } from '../config/operations-schema.js';
import { ErrorCode, WaygateError } from '../core/errors.js';
import { describeResult, lastLines, type ProcessRunner } from '../runner/runner.js';
import { restoreTest, type RestoreTestResult } from './restore-test.js';
import { quoteIdent } from '../db/database.js';

export interface BackupFile {
  name: string;
  path: string;
  sizeBytes: number;
  /** File modification time, epoch ms. */
  modifiedAt: number;
  kind: 'database' | 'config';
}

export interface BackupReport {
  file: BackupFile;
  /** Duration of the whole procedure by the injected clock. */
  durationMs: number;
  /** 'ok', or the first problems integrity_check found, joined with "; ". */
  integrity: string;
  tables: number;
  rows: number;
  configArchive: BackupFile | { skipped: string };
  /** null when no offsite destination is configured. */
  offsite: { ok: boolean; detail: string } | null;
  /** Names deleted by retention (none when the new copy failed its integrity check). */
  pruned: string[];
}

export interface VerifyResult {
  integrity: string;
  tables: number;
  rows: number;
}

/** A backup step failed; `path` is the file or directory concerned, and the message names it with the reason. */
export class BackupError extends WaygateError {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(ErrorCode.BackupFailed, message);
    this.name = 'BackupError';
  }
}

export interface BackupServiceOptions {
  config: BackupConfig;
  /** The live database to copy. */
  databasePath: string;
  /** IANA zone whose calendar date names the files. */
  timezone: string;
  clock: Clock;
  runner: ProcessRunner;
  /** Timeout of the offsite rsync; 30 minutes by default. */
  rsyncTimeoutMs?: number;
}

const DATABASE_NAME = /^waygate_\d{8}\.db$/;
const CONFIG_NAME = /^config_\d{8}\.tar\.gz$/;
/** Monthly audit trail archives (SOP-COMP-001): never touched by retention. */
const ARCHIVE_NAME = /^audit_\d{4}-\d{2}\.json$/;
const DAY_MS = 24 * 3_600_000;
const DEFAULT_RSYNC_TIMEOUT_MS = 30 * 60_000;
/** integrity_check stops after this many problems; the report carries them all. */
const MAX_INTEGRITY_PROBLEMS = 5;

export class BackupService {
  private readonly dir: string;
  private readonly configDir: string | null;
  private readonly retentionDays: number;
  private readonly offsite: string | null;
  private readonly databasePath: string;
  private readonly timezone: string;
  private readonly clock: Clock;
  private readonly runner: ProcessRunner;
  private readonly rsyncTimeoutMs: number;

  constructor(opts: BackupServiceOptions) {
    if (!IANAZone.isValidZone(opts.timezone)) throw new RangeError(`unknown timezone "${opts.timezone}"`);
    if (opts.config.offsite !== null && opts.config.offsite.startsWith('-')) {
      // rsync would read it as an option.
      throw new RangeError(`offsite destination must not start with "-": ${opts.config.offsite}`);
    }
    this.dir = resolve(opts.config.dir);
    this.configDir = opts.config.configDir === null ? null : resolve(opts.config.configDir);
    this.retentionDays = opts.config.retentionDays;
    this.offsite = opts.config.offsite;
    this.databasePath = resolve(opts.databasePath);
    this.timezone = opts.timezone;
    this.clock = opts.clock;
    this.runner = opts.runner;
    this.rsyncTimeoutMs = opts.rsyncTimeoutMs ?? DEFAULT_RSYNC_TIMEOUT_MS;
  }

  /**
   * The whole SOP-BACK-001 procedure. Throws BackupError when the database copy, its verification or the
   * config archive fails; an offsite failure is reported in `offsite` instead (the local backup is done).
   * A rerun on the same local day overwrites that day's files.
   */
  async run(): Promise<BackupReport> {
    const started = this.clock.nowMs();
    const stamp = DateTime.fromMillis(started, { zone: this.timezone }).toFormat('yyyyLLdd');
    this.ensureDir();

    const name = `waygate_${stamp}.db`;
    await this.copyDatabase(name);
    const { integrity, tables, rows } = this.verify(name);

    const configArchive = await this.archiveConfig(`config_${stamp}.tar.gz`);
    const offsite = this.offsite === null ? null : await this.syncOffsite(this.offsite);

    // A copy that fails its check must not cost the older, good backups.
    const keep = new Set([name, 'name' in configArchive ? configArchive.name : '']);
    const pruned = integrity === 'ok' ? this.pruneExcept(keep) : [];

    return {
      file: this.describe(name, 'database'),
      durationMs: this.clock.nowMs() - started,
      integrity,
      tables,
      rows,
      configArchive,
      offsite,
      pruned,
    };
  }

  /** Database and config backups in the backup dir, newest modification first (name descending on ties). */
  list(): BackupFile[] {
    let names: string[];
    try {
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- the operator's configured backup dir
      names = readdirSync(this.dir);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return [];
      throw new BackupError(`cannot read ${this.dir}: ${reason(err)}`, this.dir);
    }
    const files: BackupFile[] = [];
    for (const name of names) {
      const kind = kindOf(name);
      if (kind === null) continue;
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- a backup-pattern name inside the backup dir
      const st = lstatSync(join(this.dir, name), { throwIfNoEntry: false });
      if (!st?.isFile()) continue;
      files.push({ name, path: join(this.dir, name), sizeBytes: st.size, modifiedAt: st.mtimeMs, kind });
    }
    return files.sort((a, b) => b.modifiedAt - a.modifiedAt || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  }

  /** The newest database backup, if any. */
  newest(): BackupFile | undefined {
    return this.list().find((f) => f.kind === 'database');
  }

  /** The disaster recovery test on the newest database backup (see restore-test.ts). */
  async restoreTest(): Promise<RestoreTestResult> {
    let newest: BackupFile | undefined;
    try {
      newest = this.newest();
    } catch (err) {
      return { ok: false, backup: null, integrity: 'not restored', tables: [], problems: [err instanceof Error ? err.message : String(err)], durationMs: 0 };
    }
    if (!newest) return { ok: false, backup: null, integrity: 'not restored', tables: [], problems: [`there is no database backup in ${this.dir} to restore`], durationMs: 0 };
    return restoreTest({ backupPath: newest.path, backupName: newest.name, livePath: this.databasePath, now: () => this.clock.nowMs() });
  }

  /**
   * Writes an archive (`audit_YYYY-MM.json`) into the backup dir, and beside it `<name>.sha256` in the form
   * `sha256sum -c` checks. Written under a temporary name and renamed, so a half-written file never carries
   * the final name; writing the same month again replaces both files. Retention never deletes archives.
   */
  writeArchive(name: string, content: string): { path: string; sha256: string; sizeBytes: number } {
    if (!ARCHIVE_NAME.test(name)) throw new BackupError(`not an archive name: "${name}" (expected audit_YYYY-MM.json)`, name);
    this.ensureDir();
    const path = join(this.dir, name);
    const bytes = Buffer.from(content, 'utf8');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    try {
      for (const [target, data] of [
        [path, bytes],
        [`${path}.sha256`, Buffer.from(`${sha256}  ${name}\n`, 'utf8')],
      ] as const) {
        const tmp = join(this.dir, `.${basename(target)}.partial`);
        // eslint-disable-next-line security/detect-non-literal-fs-filename -- built from the backup dir and a validated name
        writeFileSync(tmp, data);
        // eslint-disable-next-line security/detect-non-literal-fs-filename -- built from the backup dir and a validated name
        renameSync(tmp, target);
      }
    } catch (err) {
      throw new BackupError(`cannot write ${path}: ${reason(err)}`, path);
    }
    return { path, sha256, sizeBytes: bytes.length };
  }

  /**
   * integrity_check and table/row counts of one database backup, opened read-only. `name` must be a plain
   * file name like waygate_20260302.db. Throws BackupError for any other name, a missing file, or a file
   * SQLite cannot read at all (not a database, header destroyed). When the check finds problems, `rows` is a
   * best-effort count that skips tables it cannot read. On better-sqlite3, not the data layer (decision 020):
   * a backup is a SQLite file of the service's database, not Waygate's store.
   */
  verify(name: string): VerifyResult {
    if (!DATABASE_NAME.test(name)) {
      throw new BackupError(`not a database backup name: "${name}" (expected waygate_YYYYMMDD.db in ${this.dir})`, name);
    }
    const path = join(this.dir, name);
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- built from the backup dir and a validated name
    if (!existsSync(path)) throw new BackupError(`no such backup: ${path}`, path);
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw new BackupError(`cannot open backup ${path}: ${reason(err)}`, path);
    }
    try {
      let integrity: string;
      try {
        const problems = (db.pragma(`integrity_check(${MAX_INTEGRITY_PROBLEMS})`) as Array<{ integrity_check: string }>).map(
          (r) => r.integrity_check,
        );
        integrity = problems.join('; ') || 'no result from integrity_check';
      } catch (err) {
        throw new BackupError(`backup ${path} is unreadable: ${reason(err)}`, path);
      }
      const tableNames = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        .pluck()
        .all() as string[];
      let rows = 0;
      for (const table of tableNames) {
        try {
          rows += db.prepare(`SELECT COUNT(*) FROM ${quoteIdent(table)}`).pluck().get() as number;
        } catch (err) {
          if (integrity === 'ok') throw new BackupError(`cannot count rows of ${table} in ${path}: ${reason(err)}`, path);
        }
      }
      return { integrity, tables: tableNames.length, rows };
    } finally {
      db.close();
    }
  }

  /**
   * Deletes database and config backups whose modification time is more than retentionDays × 24 h before
   * the clock's now. Nothing else in the dir is touched, and the newest backup of each kind is always kept
   * so a long outage of the backup job never leaves the dir empty. Returns the deleted names.
   */
  prune(): string[] {
    return this.pruneExcept(new Set());
  }

  private pruneExcept(keep: ReadonlySet<string>): string[] {
    const cutoff = this.clock.nowMs() - this.retentionDays * DAY_MS;
    const files = this.list();
    const newestOfKind = new Set(
      (['database', 'config'] as const).map((k) => files.find((f) => f.kind === k)?.name).filter((n) => n !== undefined),
    );
    const deleted: string[] = [];
    for (const f of files) {
      if (f.modifiedAt >= cutoff || keep.has(f.name) || newestOfKind.has(f.name)) continue;
      try {
        rmSync(f.path);
      } catch (err) {
        if (errorCode(err) === 'ENOENT') continue;
        throw new BackupError(`cannot delete old backup ${f.path}: ${reason(err)}`, f.path);
      }
      deleted.push(f.name);
    }
    return deleted;
  }

  private ensureDir(): void {
    try {
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- the operator's configured backup dir
      mkdirSync(this.dir, { recursive: true });
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- the operator's configured backup dir
      if (!statSync(this.dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      accessSync(this.dir, constants.W_OK);
    } catch (err) {
      throw new BackupError(`cannot write to ${this.dir}: ${reason(err)}`, this.dir);
    }
  }

  /** Online copy under a temporary name, switched to a self-contained rollback-journal file, then renamed. */
  private async copyDatabase(name: string): Promise<void> {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the operator's configured database path
    if (!existsSync(this.databasePath)) {
      throw new BackupError(`cannot open source database ${this.databasePath}: it does not exist`, this.databasePath);
    }
    let source: Database.Database;
    try {
      source = new Database(this.databasePath, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw new BackupError(`cannot open source database ${this.databasePath}: ${reason(err)}`, this.databasePath);
    }
    // Starts with a dot and ends in .partial: neither list() nor retention ever match it.
    const tmp = join(this.dir, `.${name}.partial`);
    removeQuietly(tmp);
    try {
      try {
        await source.backup(tmp);
      } catch (err) {
        const where = errorCode(err) === 'SQLITE_CANTOPEN' ? tmp : this.databasePath;
        throw new BackupError(`cannot back up ${this.databasePath} to ${tmp}: ${reason(err)}`, where);
      } finally {
        source.close();
      }
      try {
        // The copy inherits WAL mode from a WAL source; as a backup it should be one file with no -wal/-shm.
        const copy = new Database(tmp, { fileMustExist: true });
        try {
          copy.pragma('journal_mode = DELETE');
        } finally {
          copy.close();
        }
        // eslint-disable-next-line security/detect-non-literal-fs-filename -- built from the backup dir and a validated name
        renameSync(tmp, join(this.dir, name));
      } catch (err) {
        throw new BackupError(`cannot finish backup ${join(this.dir, name)}: ${reason(err)}`, join(this.dir, name));
      }
    } catch (err) {
      removeQuietly(tmp);
      throw err;
    }
  }

  private async archiveConfig(name: string): Promise<BackupFile | { skipped: string }> {
    if (this.configDir === null) return { skipped: 'no configDir configured' };
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the operator's configured config dir
    const st = statSync(this.configDir, { throwIfNoEntry: false });
    if (st === undefined) return { skipped: `${this.configDir} does not exist` };

    const tmp = join(this.dir, `.${name}.partial`);
    const entry = basename(this.configDir);
    try {
      await tar.c(
        { gzip: true, file: tmp, cwd: entry === '' ? this.configDir : dirname(this.configDir), portable: true },
        [entry === '' ? '.' : entry],
      );
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- built from the backup dir and a validated name
      renameSync(tmp, join(this.dir, name));
    } catch (err) {
      removeQuietly(tmp);
      throw new BackupError(`cannot archive ${this.configDir} to ${join(this.dir, name)}: ${reason(err)}`, this.configDir);
    }
    return this.describe(name, 'config');
  }

  private async syncOffsite(destination: string): Promise<{ ok: boolean; detail: string }> {
    const argv = ['rsync', '-a', `${this.dir.replace(/\/+$/, '')}/`, destination];
    try {
      const r = await this.runner.run({ argv, timeoutMs: this.rsyncTimeoutMs });
      const tail = r.ok ? '' : lastLines(r.output, 5);
      const detail = `${argv.join(' ')}: ${describeResult(r)}`;
      return { ok: r.ok, detail: tail === '' ? detail : `${detail}\n${tail}` };
    } catch (err) {
      // The runner contract says it never rejects; a broken runner still must not fail a finished backup.
      return { ok: false, detail: `${argv.join(' ')}: could not run: ${reason(err)}` };
    }
  }

  private describe(name: string, kind: BackupFile['kind']): BackupFile {
    const path = join(this.dir, name);
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- built from the backup dir and a validated name
    const st = statSync(path);
    return { name, path, sizeBytes: st.size, modifiedAt: st.mtimeMs, kind };
  }
}

function kindOf(name: string): BackupFile['kind'] | null {
  if (DATABASE_NAME.test(name)) return 'database';
  if (CONFIG_NAME.test(name)) return 'config';
  return null;
}

function removeQuietly(path: string): void {
  for (const p of [path, `${path}-journal`, `${path}-wal`, `${path}-shm`]) {
    rmSync(p, { force: true });
  }
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** "ENOTDIR", or the error's message when it has no code, or both for SQLite errors. */
function reason(err: unknown): string {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code === undefined) return message;
  if (code.startsWith('SQLITE_')) return `${message} (${code})`;
  return code;
}
