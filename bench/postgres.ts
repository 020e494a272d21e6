/**
 * The PostgreSQL server the `waygate-pg` apps run on (bench/run.ts): a throwaway cluster of the benchmark's
 * own, started like the tests' (test/support/postgres-cluster.ts: initdb into a temporary directory, a free
 * port, as the `postgres` user under root) but with fsync on, as a deployment runs it, and removed
 * afterwards. WAYGATE_BENCH_DATABASE_URL names an existing server instead (a user that may CREATE DATABASE);
 * its settings are left as they are.
 *
 * Every `waygate-pg` app gets a fresh database of its own, dropped once the driver has read it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { NOT_INSTALLED_MESSAGE, startPostgres } from '../test/support/postgres-cluster.js';
import { processTreeCpuMs } from './cpu.js';

/** An existing PostgreSQL server to run on instead of a throwaway cluster. */
export const BENCH_DATABASE_URL_ENV = 'WAYGATE_BENCH_DATABASE_URL';

export interface BenchPostgres {
  /** One line for the report: version, where it runs, and the settings that decide a commit's cost. */
  description: string;
  /** Creates an empty database for one app; drop() removes it (ending any session left on it). */
  freshDatabase(): Promise<{ url: string; drop(): Promise<void> }>;
  /** The server's CPU time so far, ms, over all its processes; undefined when it is not ours to watch. */
  cpuMs(): number | undefined;
  stop(): Promise<void>;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The postmaster's pid: the parent of the server's checkpointer, which runs for the cluster's whole life. */
async function postmasterPid(client: pg.Client): Promise<number | undefined> {
  const { rows } = await client.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'`);
  const pid = rows[0]?.pid;
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) && ppid > 1 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** Starts the throwaway cluster, or connects to WAYGATE_BENCH_DATABASE_URL. */
export async function startBenchPostgres(): Promise<BenchPostgres> {
  const given = process.env[BENCH_DATABASE_URL_ENV];
  const own = given === undefined || given === '';
  let handle: { url: string; stop(): Promise<void> };
  if (own) {
    try {
      // env: {} so that WAYGATE_TEST_DATABASE_URL (the tests' override) never redirects the benchmark.
      handle = await startPostgres({ env: {}, fsync: true });
    } catch (err) {
      if ((err as Error).message === NOT_INSTALLED_MESSAGE) {
        throw new Error(`${NOT_INSTALLED_MESSAGE}; or set ${BENCH_DATABASE_URL_ENV}, or BENCH_POSTGRES=0 to leave PostgreSQL out`, { cause: err });
      }
      throw err;
    }
  } else {
    handle = { url: given, stop: () => Promise.resolve() };
  }
  try {
    const { description, rootPid } = await withClient(handle.url, async (client) => {
      const setting = async (name: string): Promise<string> => (await client.query<{ v: string }>(`SELECT current_setting($1) AS v`, [name])).rows[0]?.v ?? '?';
      const version = await setting('server_version');
      const settings = ['fsync', 'synchronous_commit', 'shared_buffers', 'max_connections'];
      const values: string[] = [];
      for (const name of settings) values.push(await setting(name));
      return {
        description:
          `PostgreSQL ${version}, ${own ? 'a throwaway cluster on this machine' : `the server in ${BENCH_DATABASE_URL_ENV}`}: ` +
          settings.map((name, i) => `${name} ${values[i]}`).join(', '),
        rootPid: own ? await postmasterPid(client) : undefined,
      };
    });
    const databases = new Set<string>();
    return {
      description,
      async freshDatabase() {
        // Hex only: safe to quote as an identifier without escaping.
        const name = `waygate_bench_${randomBytes(6).toString('hex')}`;
        await withClient(handle.url, (client) => client.query(`CREATE DATABASE "${name}"`));
        databases.add(name);
        const url = new URL(handle.url);
        url.pathname = `/${name}`;
        return {
          url: url.toString(),
          async drop() {
            if (!databases.delete(name)) return;
            // FORCE (PostgreSQL 13+) ends a session a failed app left open.
            await withClient(handle.url, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
          },
        };
      },
      cpuMs: () => (rootPid === undefined ? undefined : processTreeCpuMs(rootPid)),
      async stop() {
        if (!own) {
          for (const name of [...databases]) {
            databases.delete(name);
            await withClient(handle.url, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).catch(() => undefined);
          }
        }
        await handle.stop();
      },
    };
  } catch (err) {
    await handle.stop();
    throw err;
  }
}

/** Runs `fn` with a function that runs one SQL text on the database at `url` and returns its rows. */
export function readPostgres<T>(url: string, fn: (query: (text: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
  return withClient(url, (client) => fn(async (text) => (await client.query<Record<string, unknown>>(text)).rows));
}
