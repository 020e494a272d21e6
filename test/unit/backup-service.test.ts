import Database from 'better-sqlite3';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackupError, BackupService } from '../../src/backup/backup-service.js';
import { ManualClock } from '../../src/clock/clock.js';
import type { BackupConfig } from '../../src/config/operations-schema.js';
import { RecordingRunner } from '../support/recording-runner.js';

const DAY = 24 * 3_600_000;
const USERS = 7;
const EVENTS = 250;

/** A WAL-mode source database like the live one: two tables, USERS + EVENTS rows. */
function createSource(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
           CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, body TEXT NOT NULL);
           CREATE INDEX events_user ON events (user_id);`);
  const addUser = db.prepare('INSERT INTO users (name) VALUES (?)');
  const addEvent = db.prepare('INSERT INTO events (user_id, body) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= USERS; i++) addUser.run(`user-${i}`);
    for (let i = 1; i <= EVENTS; i++) addEvent.run((i % USERS) + 1, `event ${i} ${'x'.repeat(40)}`);
  })();
  return db;
}

function allRows(path: string): { users: unknown[]; events: unknown[] } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return {
      users: db.prepare('SELECT * FROM users ORDER BY id').all(),
      events: db.prepare('SELECT * FROM events ORDER BY id').all(),
    };
  } finally {
    db.close();
  }
}

/** Writes a small placeholder file with the given modification time. */
function touch(path: string, mtimeMs: number, content = 'x'): void {
  writeFileSync(path, content);
  utimesSync(path, mtimeMs / 1000, mtimeMs / 1000);
}

describe('BackupService', () => {
  let root: string;
  let sourcePath: string;
  let source: Database.Database;
  let backupDir: string;
  let configDir: string;
  let clock: ManualClock;
  let runner: RecordingRunner;

  const config = (over: Partial<BackupConfig> = {}): BackupConfig => ({
    dir: backupDir,
    configDir,
    retentionDays: 30,
    offsite: null,
    maxAge: 26 * 3_600_000,
    ...over,
  });
  const service = (over: Partial<BackupConfig> = {}, extra: { databasePath?: string; rsyncTimeoutMs?: number } = {}) =>
    new BackupService({
      config: config(over),
      databasePath: extra.databasePath ?? sourcePath,
      timezone: 'Europe/Berlin',
      clock,
      runner,
      ...(extra.rsyncTimeoutMs !== undefined ? { rsyncTimeoutMs: extra.rsyncTimeoutMs } : {}),
    });

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'waygate-backup-'));
    sourcePath = join(root, 'live', 'waygate.db');
    mkdirSync(join(root, 'live'));
    source = createSource(sourcePath);
    backupDir = join(root, 'backup', 'waygate'); // does not exist yet: run() creates it
    configDir = join(root, 'etc', 'waygate');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(join(configDir, 'waygate.yaml'), 'slack:\n  channel: ops\n');
    writeFileSync(join(configDir, 'sla.yaml'), 'p1: 15m\n');
    // 23:30 UTC on 1 March is already 2 March in Berlin (UTC+1).
    clock = new ManualClock('2026-03-01T23:30:00Z');
    runner = new RecordingRunner();
  });

  afterEach(() => {
    source.close();
    rmSync(root, { recursive: true, force: true });
  });

  describe('run', () => {
    it('makes an online copy that passes integrity_check and holds the same rows, named by the local date', async () => {
      // The source stays open in WAL mode with its rows still in the -wal file: the online copy must include them.
      expect(statSync(`${sourcePath}-wal`).size).toBeGreaterThan(0);
      const report = await service().run();

      expect(report.file.name).toBe('waygate_20260302.db');
      expect(report.file.path).toBe(join(backupDir, 'waygate_20260302.db'));
      expect(report.file.kind).toBe('database');
      expect(report.file.sizeBytes).toBe(statSync(report.file.path).size);
      expect(report.integrity).toBe('ok');
      expect(report.tables).toBe(2);
      expect(report.rows).toBe(USERS + EVENTS);
      expect(report.durationMs).toBe(0); // measured by the injected clock, which did not move
      expect(report.offsite).toBeNull();
      expect(report.pruned).toEqual([]);

      expect(allRows(report.file.path)).toEqual(allRows(sourcePath));
      const copy = new Database(report.file.path, { readonly: true });
      try {
        expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
        // A self-contained file: no WAL mode, so no -wal/-shm companions are needed to restore it.
        expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
      } finally {
        copy.close();
      }
      // No temporary names left behind.
      expect(readdirSync(backupDir).sort()).toEqual(['config_20260302.tar.gz', 'waygate_20260302.db']);
    });

    it('uses the date in the configured timezone, not UTC', async () => {
      clock = new ManualClock('2026-03-02T22:59:59Z'); // 23:59:59 on 2 March in Berlin
      expect((await service().run()).file.name).toBe('waygate_20260302.db');
      clock.set('2026-03-02T23:00:00Z'); // midnight in Berlin
      expect((await service().run()).file.name).toBe('waygate_20260303.db');
    });

    it('overwrites the same day’s backup on a rerun, keeping the newer content', async () => {
      await service().run();
      source.prepare('INSERT INTO users (name) VALUES (?)').run('late-user');
      clock.advance(3_600_000);
      const again = await service().run();

      expect(again.file.name).toBe('waygate_20260302.db');
      expect(again.rows).toBe(USERS + EVENTS + 1);
      expect(service().list().filter((f) => f.kind === 'database').map((f) => f.name)).toEqual(['waygate_20260302.db']);
    });

    it('archives the config dir as a non-empty gzip tar', async () => {
      const report = await service().run();
      const archive = report.configArchive;
      if (!('name' in archive)) throw new Error(`archive skipped: ${archive.skipped}`);

      expect(archive.name).toBe('config_20260302.tar.gz');
      expect(archive.kind).toBe('config');
      expect(archive.sizeBytes).toBeGreaterThan(0);
      const entries: string[] = [];
      await tar.t({ file: archive.path, onReadEntry: (e) => entries.push(e.path) });
      expect(entries).toEqual(expect.arrayContaining(['waygate/', 'waygate/waygate.yaml', 'waygate/sla.yaml']));
    });

    it('skips the config archive, without failing, when the config dir is missing or not configured', async () => {
      const missing = join(root, 'etc', 'nope');
      const report = await service({ configDir: missing }).run();
      expect(report.configArchive).toEqual({ skipped: expect.stringContaining(missing) as string });
      expect(report.integrity).toBe('ok');

      const unset = await service({ configDir: null }).run();
      expect(unset.configArchive).toEqual({ skipped: 'no configDir configured' });
      expect(readdirSync(backupDir)).toEqual(['waygate_20260302.db']);
    });

    it('fails with a BackupError naming the dir when the backup dir cannot be created', async () => {
      const file = join(root, 'not-a-dir');
      writeFileSync(file, 'plain file');
      const dir = join(file, 'backups');

      const err = await service({ dir }).run().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackupError);
      expect((err as BackupError).path).toBe(dir);
      expect((err as BackupError).message).toBe(`cannot write to ${dir}: ENOTDIR`);
    });

    it('fails with a BackupError naming the dir when the backup dir is a regular file', async () => {
      const file = join(root, 'backup-file');
      writeFileSync(file, 'plain file');
      const err = await service({ dir: file }).run().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackupError);
      expect((err as BackupError).message).toContain(`cannot write to ${file}`);
    });

    it('fails with a BackupError naming the source when the live database is missing', async () => {
      const missing = join(root, 'live', 'gone.db');
      const err = await service({}, { databasePath: missing }).run().catch((e: unknown) => e);

      expect(err).toBeInstanceOf(BackupError);
      expect((err as BackupError).path).toBe(missing);
      expect((err as BackupError).message).toContain(missing);
      expect((err as BackupError).message).toContain('does not exist');
      expect(existsSync(missing)).toBe(false); // readonly + fileMustExist: nothing was created
    });

    it('fails with a BackupError naming the source when it is not a SQLite database, leaving no partial file', async () => {
      const bogus = join(root, 'live', 'bogus.db');
      writeFileSync(bogus, 'this is not sqlite '.repeat(100));
      const err = await service({}, { databasePath: bogus }).run().catch((e: unknown) => e);

      expect(err).toBeInstanceOf(BackupError);
      expect((err as BackupError).message).toContain(bogus);
      expect(readdirSync(backupDir)).toEqual([]);
    });

    it('copies offsite with rsync -a <dir>/ <destination> through the runner', async () => {
      const report = await service({ offsite: 'remote:/backup/' }, { rsyncTimeoutMs: 90_000 }).run();

      expect(runner.calls).toHaveLength(1);
      expect(runner.calls[0]?.argv).toEqual(['rsync', '-a', `${backupDir}/`, 'remote:/backup/']);
      expect(runner.calls[0]?.timeoutMs).toBe(90_000);
      expect(report.offsite?.ok).toBe(true);
      expect(report.offsite?.detail).toContain('exit 0');
    });

    it('reports an offsite failure in the report instead of throwing', async () => {
      runner = new RecordingRunner(() => ({ exitCode: 23, output: 'rsync: connection unexpectedly closed\nrsync error: code 23\n' }));
      const report = await service({ offsite: 'remote:/backup/' }).run();

      expect(report.offsite?.ok).toBe(false);
      expect(report.offsite?.detail).toContain('exit 23');
      expect(report.offsite?.detail).toContain('rsync error: code 23');
      expect(report.integrity).toBe('ok');
      expect(existsSync(report.file.path)).toBe(true);
    });

    it('reports an rsync that could not start or timed out', async () => {
      runner = new RecordingRunner(() => ({ failedToStart: 'command not found: rsync' }));
      expect((await service({ offsite: 'remote:/b/' }).run()).offsite).toEqual({
        ok: false,
        detail: expect.stringContaining('command not found: rsync') as string,
      });
      runner = new RecordingRunner(() => ({ timedOut: true, exitCode: null, signal: 'SIGTERM', durationMs: 1_800_000 }));
      const timedOut = (await service({ offsite: 'remote:/b/' }).run()).offsite;
      expect(timedOut?.ok).toBe(false);
      expect(timedOut?.detail).toContain('timed out');
    });

    it('applies retention after a good backup, keeping the files it just wrote', async () => {
      mkdirSync(backupDir, { recursive: true });
      const now = clock.nowMs();
      touch(join(backupDir, 'waygate_20260101.db'), now - 60 * DAY);
      touch(join(backupDir, 'config_20260101.tar.gz'), now - 60 * DAY);
      touch(join(backupDir, 'README'), now - 60 * DAY);

      const report = await service().run();
      expect(report.pruned.sort()).toEqual(['config_20260101.tar.gz', 'waygate_20260101.db']);
      expect(readdirSync(backupDir).sort()).toEqual(['README', 'config_20260302.tar.gz', 'waygate_20260302.db']);
    });
  });

  describe('prune', () => {
    it('deletes only backup-pattern files older than retentionDays, nothing else in the dir', () => {
      mkdirSync(backupDir, { recursive: true });
      const now = clock.nowMs();
      const old = now - 31 * DAY;
      touch(join(backupDir, 'waygate_20260101.db'), old);
      touch(join(backupDir, 'waygate_20260115.db'), now - 30 * DAY - 1_000);
      touch(join(backupDir, 'config_20260101.tar.gz'), old);
      touch(join(backupDir, 'waygate_20260225.db'), now - 5 * DAY); // recent: kept
      touch(join(backupDir, 'config_20260225.tar.gz'), now - 5 * DAY); // recent: kept
      touch(join(backupDir, 'waygate_20260131.db'), now - 29 * DAY); // inside the window: kept
      touch(join(backupDir, 'README.md'), old);
      touch(join(backupDir, 'other.db'), old);
      touch(join(backupDir, 'waygate.db'), old);
      touch(join(backupDir, 'waygate_20260101.db.bak'), old);
      touch(join(backupDir, 'config_20260101.tar'), old);
      mkdirSync(join(backupDir, 'waygate_20250101.db')); // a directory with a backup-like name
      utimesSync(join(backupDir, 'waygate_20250101.db'), old / 1000, old / 1000);

      const pruned = service().prune();

      expect(pruned.sort()).toEqual(['config_20260101.tar.gz', 'waygate_20260101.db', 'waygate_20260115.db']);
      expect(readdirSync(backupDir).sort()).toEqual([
        'README.md',
        'config_20260101.tar',
        'config_20260225.tar.gz',
        'other.db',
        'waygate.db',
        'waygate_20250101.db',
        'waygate_20260101.db.bak',
        'waygate_20260131.db',
        'waygate_20260225.db',
      ]);
    });

    it('never deletes the newest backup of each kind, however old', () => {
      mkdirSync(backupDir, { recursive: true });
      const now = clock.nowMs();
      touch(join(backupDir, 'waygate_20250101.db'), now - 90 * DAY);
      touch(join(backupDir, 'waygate_20250102.db'), now - 89 * DAY);
      touch(join(backupDir, 'config_20250102.tar.gz'), now - 89 * DAY);

      expect(service().prune()).toEqual(['waygate_20250101.db']);
      expect(readdirSync(backupDir).sort()).toEqual(['config_20250102.tar.gz', 'waygate_20250102.db']);
    });

    it('returns nothing when the backup dir does not exist yet', () => {
      expect(service().prune()).toEqual([]);
    });
  });

  describe('list and newest', () => {
    it('lists only backup-pattern files, newest first', () => {
      mkdirSync(backupDir, { recursive: true });
      const now = clock.nowMs();
      touch(join(backupDir, 'waygate_20260227.db'), now - 3 * DAY, 'abc');
      touch(join(backupDir, 'config_20260228.tar.gz'), now - 2 * DAY);
      touch(join(backupDir, 'waygate_20260301.db'), now - 1 * DAY, 'abcdef');
      touch(join(backupDir, 'waygate_20260228.db'), now - 2 * DAY);
      touch(join(backupDir, 'notes.txt'), now);
      touch(join(backupDir, '.waygate_20260302.db.partial'), now);

      const files = service().list();
      expect(files.map((f) => f.name)).toEqual([
        'waygate_20260301.db',
        'waygate_20260228.db', // same mtime as the archive: name descending
        'config_20260228.tar.gz',
        'waygate_20260227.db',
      ]);
      expect(files[0]).toEqual({
        name: 'waygate_20260301.db',
        path: join(backupDir, 'waygate_20260301.db'),
        sizeBytes: 6,
        modifiedAt: now - DAY,
        kind: 'database',
      });
      expect(files.map((f) => f.kind)).toEqual(['database', 'database', 'config', 'database']);
    });

    it('newest() is the newest database backup, undefined when there is none', async () => {
      expect(service().newest()).toBeUndefined();
      mkdirSync(backupDir, { recursive: true });
      touch(join(backupDir, 'config_20260301.tar.gz'), clock.nowMs());
      expect(service().newest()).toBeUndefined();

      const report = await service().run();
      touch(join(backupDir, 'waygate_20260201.db'), clock.nowMs() - 29 * DAY);
      expect(service().newest()?.name).toBe(report.file.name);
    });
  });

  describe('verify', () => {
    it('checks an existing backup', async () => {
      await service().run();
      expect(service().verify('waygate_20260302.db')).toEqual({ integrity: 'ok', tables: 2, rows: USERS + EVENTS });
    });

    it('reports the problems integrity_check finds in a damaged backup', async () => {
      await service().run();
      const path = join(backupDir, 'waygate_20260302.db');
      // Claim 7 free pages in the header: the file still opens but the check fails.
      const fd = openSync(path, 'r+');
      const count = Buffer.alloc(4);
      count.writeUInt32BE(7);
      writeSync(fd, count, 0, 4, 36);
      closeSync(fd);

      const result = service().verify('waygate_20260302.db');
      expect(result.integrity).not.toBe('ok');
      expect(result.integrity).toContain('Freelist');
      expect(result.tables).toBe(2);
    });

    it('throws a BackupError naming the file when the backup is garbage', () => {
      mkdirSync(backupDir, { recursive: true });
      const path = join(backupDir, 'waygate_20260302.db');
      writeFileSync(path, Buffer.alloc(8192, 0x5a));

      expect(() => service().verify('waygate_20260302.db')).toThrow(BackupError);
      expect(() => service().verify('waygate_20260302.db')).toThrow(`backup ${path} is unreadable: file is not a database`);
    });

    it('reports the damaged page when a page of the backup is overwritten', async () => {
      await service().run();
      const path = join(backupDir, 'waygate_20260302.db');
      const fd = openSync(path, 'r+');
      writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 4096 * 2);
      closeSync(fd);

      const result = service().verify('waygate_20260302.db');
      expect(result.integrity).not.toBe('ok');
      expect(result.integrity).toMatch(/page 3\b/);
    });

    it.each(['../waygate_20260302.db', '/etc/passwd', '../../etc/shadow', 'sub/waygate_20260302.db', 'waygate_20260302.db/..', 'x.db', 'config_20260302.tar.gz', ''])(
      'rejects %j as a backup name',
      (name) => {
        expect(() => service().verify(name)).toThrow(BackupError);
        expect(() => service().verify(name)).toThrow('not a database backup name');
      },
    );

    it('throws a BackupError for a backup that does not exist', () => {
      const path = join(backupDir, 'waygate_20200101.db');
      expect(() => service().verify('waygate_20200101.db')).toThrow(new BackupError(`no such backup: ${path}`, path));
    });
  });

  it('rejects an unknown timezone and an offsite destination that rsync would read as an option', () => {
    expect(
      () => new BackupService({ config: config(), databasePath: sourcePath, timezone: 'Mars/Olympus', clock, runner }),
    ).toThrow(/unknown timezone/);
    expect(() => service({ offsite: '--rsh=evil' })).toThrow(/must not start with "-"/);
  });
});
