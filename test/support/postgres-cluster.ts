// A throwaway PostgreSQL cluster is a child process of the test run: test infrastructure, not product code,
// so it does not go through src/runner. Programs run with argv arrays through execFile, never a shell.
// eslint-disable-next-line no-restricted-imports
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chownSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Where Debian's `postgresql` package puts each major version's server programs. */
export const DEBIAN_POSTGRES_ROOT = '/usr/lib/postgresql';
export const NOT_INSTALLED_MESSAGE = "PostgreSQL's server is not installed: apt-get install postgresql (.ci/run installs it)";

export interface PostgresHandle {
  /** postgres://… for a database nobody else uses; trust authentication, no password. */
  url: string;
  /** Stops the server (or drops the database) and removes what it left behind. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Read for WAYGATE_TEST_DATABASE_URL; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Finds the directory holding initdb and pg_ctl, or undefined when there is none. */
  findBinDir?: () => string | undefined;
  /**
   * Keep the server's fsync on, as a deployment runs it (benchmarks). Tests turn it off: their clusters are
   * thrown away, and a commit then costs no disk flush.
   */
  fsync?: boolean;
}

/**
 * A PostgreSQL database for one test file.
 *
 * With WAYGATE_TEST_DATABASE_URL set, a fresh database with a unique name is created on that server and
 * dropped on stop(). Otherwise a cluster of its own is initialised in a temporary directory and started on a
 * free port (127.0.0.1 and a socket in that directory), and stop() kills it and deletes the directory. The
 * server refuses to run as root, so under root (CI) initdb and pg_ctl run as the `postgres` user.
 *
 * A missing server is an error saying how to install it, never a skipped test.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresHandle> {
  const env = options.env ?? process.env;
  const given = env.WAYGATE_TEST_DATABASE_URL;
  if (given !== undefined && given !== '') return freshDatabaseOn(given);
  const binDir = (options.findBinDir ?? findPostgresBinDir)();
  if (binDir === undefined) throw new Error(NOT_INSTALLED_MESSAGE);
  return startCluster(binDir, options.fsync ?? false);
}

/** The newest `<root>/<version>/bin` that holds both initdb and pg_ctl, or undefined. */
export function findPostgresBinDir(root: string = DEBIAN_POSTGRES_ROOT): string | undefined {
  let versions: string[];
  try {
    versions = readdirSync(root);
  } catch {
    return undefined;
  }
  // "9.6" < "15" < "17": compare as numbers, part by part.
  const newestFirst = versions
    .map((name) => ({ name, parts: name.split('.').map(Number) }))
    .filter((v) => v.parts.every((n) => Number.isInteger(n)))
    .sort((a, b) => (b.parts[0] ?? 0) - (a.parts[0] ?? 0) || (b.parts[1] ?? 0) - (a.parts[1] ?? 0));
  for (const { name } of newestFirst) {
    const bin = join(root, name, 'bin');
    if (isExecutable(join(bin, 'initdb')) && isExecutable(join(bin, 'pg_ctl'))) return bin;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function freshDatabaseOn(serverUrl: string): Promise<PostgresHandle> {
  // Hex only: safe to quote as an identifier without escaping.
  const name = `waygate_test_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, `CREATE DATABASE "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let stopping: Promise<void> | undefined;
  return {
    url: url.toString(),
    stop() {
      // FORCE (PostgreSQL 13+) ends sessions a failed test left open.
      stopping ??= onServer(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      return stopping;
    },
  };
}

async function onServer(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

interface Runner {
  /** argv[0] is a program in the server's bin directory. */
  exec(program: string, args: readonly string[]): Promise<void>;
  execSync(program: string, args: readonly string[]): void;
}

const START_ATTEMPTS = 3;

async function startCluster(binDir: string, fsync: boolean): Promise<PostgresHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'waygate-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  let runner: Runner;
  try {
    runner = await runnerFor(binDir, dir);
    await runner.exec('initdb', ['-D', data, '-A', 'trust', '-U', 'waygate', '--no-sync', '-E', 'UTF8', '--locale=C']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const hint = process.getuid?.() === 0 ? `\n(it runs as the postgres user, which must be able to enter ${tmpdir()}: set TMPDIR to a directory it can)` : '';
    throw new Error(`initdb failed: ${explain(err)}${hint}`, { cause: err });
  }
  const stopNow = (): void => {
    try {
      runner.execSync('pg_ctl', ['-D', data, 'stop', '-m', 'immediate', '-w']);
    } catch {
      // Not running (never started, or already stopped).
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // A worker that exits without running afterAll must not leave a server behind.
  process.once('exit', stopNow);

  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    // Another process can take the port between probing and binding it: try again on a fresh one.
    const port = await freePort();
    try {
      await runner.exec('pg_ctl', [
        '-D', data,
        '-l', log,
        // pg_ctl joins repeated -o options; every value here is a number or a path without spaces or quotes.
        '-o', `-p ${port}`,
        '-o', `-k ${dir}`,
        '-o', '-c listen_addresses=127.0.0.1',
        '-o', `-c fsync=${fsync ? 'on' : 'off'}`,
        '-t', '30',
        '-w', 'start',
      ]);
      let stopping: Promise<void> | undefined;
      return {
        url: `postgres://waygate@127.0.0.1:${port}/postgres`,
        stop() {
          stopping ??= (async () => {
            process.removeListener('exit', stopNow);
            try {
              await runner.exec('pg_ctl', ['-D', data, 'stop', '-m', 'immediate', '-w']);
            } catch {
              // Already gone (a test killed it), or pg_ctl itself failed: make sure no server outlives the run.
              killPostmaster(data);
            }
            rmSync(dir, { recursive: true, force: true });
          })();
          return stopping;
        },
      };
    } catch (err) {
      lastError = err;
    }
  }
  const serverLog = readTail(log);
  process.removeListener('exit', stopNow);
  stopNow();
  throw new Error(`pg_ctl start failed ${START_ATTEMPTS} times: ${explain(lastError)}\nserver log:\n${serverLog}`, {
    cause: lastError,
  });
}

/**
 * Runs the server's programs as the current user, or as `postgres` through runuser when that is root (the
 * server refuses root). The temporary directory then belongs to `postgres`, which also runs in it: initdb
 * complains when it cannot read its working directory (root's home, say).
 */
async function runnerFor(binDir: string, dir: string): Promise<Runner> {
  // The socket directory goes to the server on pg_ctl's command line, which pg_ctl hands to a shell.
  if (!/^[\w./-]+$/.test(dir)) throw new Error(`temporary directory ${dir} must not contain spaces or shell characters`);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' };
  const options = { cwd: dir, env, timeout: 60_000 };
  if (process.getuid?.() !== 0) {
    return {
      exec: async (program, args) => void (await run(join(binDir, program), args, options)),
      execSync: (program, args) => void execFileSync(join(binDir, program), args, { ...options, stdio: 'ignore' }),
    };
  }
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  chownSync(dir, uid, gid);
  const asPostgres = (program: string, args: readonly string[]): string[] => ['-u', 'postgres', '--', join(binDir, program), ...args];
  return {
    exec: async (program, args) => void (await run('runuser', asPostgres(program, args), options)),
    execSync: (program, args) => void execFileSync('runuser', asPostgres(program, args), { ...options, stdio: 'ignore' }),
  };
}

/** SIGKILLs the server from its pid file, if there is one and the process still exists. */
function killPostmaster(data: string): void {
  try {
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // No pid file, or no such process.
  }
}

/** A port nothing listens on right now: the one the kernel hands out for port 0. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** execFile's message already holds the command line and its stderr. */
function explain(err: unknown): string {
  return err instanceof Error ? err.message.trim() : String(err);
}

function readTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no server log)';
  }
}
