import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { RawBuilder } from 'kysely';
import pg from 'pg';
import { all, run, DataLayer } from '../../src/db/data-layer.js';
import { openDatabase } from '../../src/db/database.js';
import { openPostgres, redact } from '../../src/db/postgres.js';
import { DEFAULT_LEASE_TTL_MS, DEFAULT_RENEW_EVERY_MS } from '../../src/config/schema.js';

/** The database test bots run on: SQLite unless WAYGATE_TEST_BACKEND=postgres (with WAYGATE_TEST_DATABASE_URL). */
export type TestBackend = 'sqlite' | 'postgres';

export function testBackend(env: Record<string, string | undefined> = process.env): TestBackend {
  return env.WAYGATE_TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';
}

/**
 * How long to wait for what a new process does once it leads, after the process that led was killed: on
 * PostgreSQL the dead one's lease runs out first (the default cluster.leaseTtl, plus a renewal period for
 * the next attempt); on SQLite the new process leads from its start.
 */
export function afterLeaderDeath(ms: number): number {
  return testBackend() === 'postgres' ? ms + DEFAULT_LEASE_TTL_MS + DEFAULT_RENEW_EVERY_MS : ms;
}

/**
 * A test's own time limit, given as what its SQLite run needs: on PostgreSQL every statement is a round trip to
 * another process, and a test issuing tens of thousands of them takes a few times as long (the PostgreSQL
 * project's default limit is three times SQLite's too, see vitest.config.ts).
 */
export function timeLimit(sqliteMs: number): number {
  return testBackend() === 'postgres' ? 3 * sqliteMs : sqliteMs;
}

/**
 * SQL on a test bot's database through its data layer, the same on SQLite and PostgreSQL: what a test reads
 * or plants behind the bot's back. Write statements both databases accept (see decision 020); BIGINT and
 * COUNT come back as numbers on both.
 */
export class TestSql {
  constructor(readonly data: DataLayer) {}

  get backend(): TestBackend {
    return this.data.dialect;
  }

  /** Every row. */
  all<T = Record<string, any>>(query: RawBuilder<unknown>): Promise<T[]> {
    return all(this.data.db, query as RawBuilder<T>);
  }

  /** The first row, or undefined. */
  async first<T = Record<string, any>>(query: RawBuilder<unknown>): Promise<T | undefined> {
    return (await this.all<T>(query))[0];
  }

  /** The first column of the first row, or undefined when there is no row. */
  async value<T = any>(query: RawBuilder<unknown>): Promise<T | undefined> {
    const row = await this.first<Record<string, unknown>>(query);
    return row === undefined ? undefined : (Object.values(row)[0] as T);
  }

  /** The first column of every row. */
  async column<T = any>(query: RawBuilder<unknown>): Promise<T[]> {
    return (await this.all<Record<string, unknown>>(query)).map((row) => Object.values(row)[0] as T);
  }

  /** Runs a statement; resolves to how many rows it changed. */
  run(query: RawBuilder<unknown>): Promise<number> {
    return run(this.data.db, query);
  }
}

/**
 * The PostgreSQL database of a bot folder on WAYGATE_TEST_DATABASE_URL's server, created when missing: one per
 * folder, so a bot restarted in the same folder finds its data again.
 */
export async function postgresDatabaseFor(dir: string, env: Record<string, string | undefined> = process.env): Promise<string> {
  const server = env.WAYGATE_TEST_DATABASE_URL;
  if (!server) throw new Error('WAYGATE_TEST_BACKEND=postgres needs WAYGATE_TEST_DATABASE_URL');
  const name = databaseNameFor(dir, env);
  const admin = adminOf(server);
  const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  // A whole run's set-up migrates one database to copy (WAYGATE_TEST_TEMPLATE): cheaper than migrating each.
  const template = /^waygate_[0-9a-f_]+$/.test(env.WAYGATE_TEST_TEMPLATE ?? '') ? ` TEMPLATE ${env.WAYGATE_TEST_TEMPLATE}` : '';
  if (rowCount === 0) await admin.query(`CREATE DATABASE ${name}${template}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops the PostgreSQL database of a bot folder (nothing when there is none); its bot must have stopped. */
export async function dropPostgresDatabaseFor(dir: string, env: Record<string, string | undefined> = process.env): Promise<void> {
  const server = env.WAYGATE_TEST_DATABASE_URL;
  if (!server) return;
  await adminOf(server).query(`DROP DATABASE IF EXISTS ${databaseNameFor(dir, env)} WITH (FORCE)`);
}

/**
 * One connection per test process for creating and dropping databases: a new session costs PostgreSQL a
 * process of its own, more than the statement. It does not keep the process alive.
 */
const admins = new Map<string, pg.Pool>();
function adminOf(server: string): pg.Pool {
  let admin = admins.get(server);
  if (admin === undefined) {
    admin = new pg.Pool({ connectionString: server, max: 1, allowExitOnIdle: true });
    // An idle session the server ended (a test stopping it) is replaced at the next query.
    admin.on('error', () => undefined);
    admins.set(server, admin);
  }
  return admin;
}

/**
 * Hex only: safe as an identifier without quoting. A run of the whole suite names its own (WAYGATE_TEST_RUN,
 * set by its global set-up), so what a test left behind on a server of one's own can be dropped at the end.
 */
function databaseNameFor(dir: string, env: Record<string, string | undefined> = process.env): string {
  const run = /^[0-9a-f]{1,16}$/.test(env.WAYGATE_TEST_RUN ?? '') ? `${env.WAYGATE_TEST_RUN}_` : '';
  return `waygate_${run}${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`;
}

/**
 * The database a bot started in `dir` uses, opened and migrated while no bot runs there (to plant what a bot
 * left behind before a crash, or to read what it left): the SQLite file in the folder, or the folder's
 * PostgreSQL database.
 */
export async function openBotDatabase(dir: string, backend: TestBackend = testBackend()): Promise<{ sql: TestSql; close(): Promise<void> }> {
  if (backend === 'postgres') {
    const data = await openPostgres(await postgresDatabaseFor(dir), { poolSize: 2 });
    return { sql: new TestSql(data), close: () => data.close() };
  }
  const handle = openDatabase(join(dir, 'waygate.db'));
  return {
    sql: new TestSql(DataLayer.sqlite(handle)),
    close: async () => {
      handle.close();
    },
  };
}

/**
 * What puts a bot process started in `dir` (with testEnv's variables) on the test backend's database:
 * WAYGATE_DATABASE_URL to the folder's PostgreSQL database, or nothing (testEnv's WAYGATE_DB) on SQLite.
 */
export async function backendEnv(dir: string, backend: TestBackend = testBackend()): Promise<Record<string, string>> {
  return backend === 'postgres' ? { WAYGATE_DATABASE_URL: await postgresDatabaseFor(dir) } : {};
}

/** How start-up names the database of a bot folder in its messages: the SQLite file, or the PostgreSQL URL. */
export async function databaseLabel(dir: string, backend: TestBackend = testBackend()): Promise<string> {
  return backend === 'postgres' ? redact(await postgresDatabaseFor(dir)) : join(dir, 'waygate.db');
}
