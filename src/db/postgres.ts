import pg from 'pg';
import { sql } from 'kysely';
import { DataLayer, all, run } from './data-layer.js';
import { DatabaseRefused, pendingMigrations } from './database.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { POSTGRES_BASELINE } from './postgres-schema.js';

/** The oldest PostgreSQL Waygate starts on: the one it is tested with (Debian 12's), still supported upstream. */
export const MINIMUM_POSTGRES_MAJOR = 15;

/** OIDs of int8 and numeric: COUNT, SUM and BIGINT columns (ids, epoch milliseconds). */
const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * node-postgres hands BIGINT and NUMERIC back as strings, because they can exceed 2^53. Waygate's are ids,
 * epoch milliseconds and counts, all far below that, and the code treats them as numbers (as better-sqlite3
 * returns them): read them as numbers, for this pool only.
 */
const asNumber = (value: string): number => Number(value);
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === INT8_OID || oid === NUMERIC_OID) return asNumber;
    return (pg.types.getTypeParser as (oid: number, format?: 'text' | 'binary') => (value: string) => unknown)(oid, format);
  },
};

export interface PostgresOptions {
  /** Connections this replica keeps at most (default 10); see the README on pool sizing. */
  poolSize?: number;
  migrations?: readonly Migration[];
}

/** The migrations for PostgreSQL: the baseline of 15, then each later one's PostgreSQL text. */
export function postgresMigrations(migrations: readonly Migration[] = MIGRATIONS): Migration[] {
  const later = migrations.filter((m) => m.version > POSTGRES_BASELINE.version);
  return [
    POSTGRES_BASELINE,
    ...later.map((m) => {
      if (m.postgres === undefined) throw new Error(`migration ${m.version} (${m.name}) has no PostgreSQL text`);
      return { ...m, sql: m.postgres };
    }),
  ];
}

/**
 * Connects to PostgreSQL at `url`, checks its version and brings the schema up to date. Replicas starting
 * together take turns (a transaction-scoped advisory lock), so each migration is applied once.
 */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<DataLayer> {
  const data = postgresDataLayer(url, options.poolSize);
  try {
    await preparePostgres(data, url, options.migrations);
  } catch (err) {
    await data.close();
    throw err;
  }
  return data;
}

/**
 * The data layer over a pool for `url`; connects on first use (preparePostgres() checks and migrates).
 * `idleInTransactionMs`: the server ends a session whose transaction waits on its client longer than this, so
 * a process frozen mid-transaction (SIGSTOP, a long pause) does not hold its locks, the leader lease's among
 * them, until it wakes (decision 021). Transactions await only the database, so they never wait that long.
 */
export function postgresDataLayer(url: string, poolSize = 10, idleInTransactionMs?: number, applicationName?: string): DataLayer {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    types,
    ...(applicationName === undefined ? {} : { application_name: applicationName }),
    ...(idleInTransactionMs === undefined ? {} : { idle_in_transaction_session_timeout: idleInTransactionMs }),
  });
  // An idle client's error (the server restarted) must not end the process; the next query reconnects.
  pool.on('error', () => undefined);
  // Nor one in use: a session the server ended (idle in a transaction too long, a restart) fails the query
  // that uses it next, and the pool drops the client when it is released.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return DataLayer.postgres(pool);
}

/** Checks the server's version and brings the schema up to date; errors name the database without its password. */
export async function preparePostgres(data: DataLayer, url: string, migrations: readonly Migration[] = MIGRATIONS): Promise<void> {
  try {
    const [version] = await all(data.db, sql<{ major: number }>`SELECT current_setting('server_version_num')::int / 10000 AS major`);
    if ((version?.major ?? 0) < MINIMUM_POSTGRES_MAJOR) {
      throw new DatabaseRefused(`is PostgreSQL ${version?.major ?? '?'}; Waygate needs ${MINIMUM_POSTGRES_MAJOR} or newer.`);
    }
    await migratePostgres(data, postgresMigrations(migrations));
  } catch (err) {
    const reason = err instanceof DatabaseRefused ? ` ${err.message}` : `: ${(err as Error).message}`;
    throw new Error(`database ${redact(url)}${reason}`, { cause: err });
  }
}

/** Applies the pending migrations in one transaction; returns how many. */
export async function migratePostgres(data: DataLayer, migrations: readonly Migration[]): Promise<number> {
  return data.transaction(async (tx) => {
    // Any constant shared by every replica: the first to start migrates, the others then find nothing to do.
    await sql`SELECT pg_advisory_xact_lock(8277310001)`.execute(tx);
    await run(
      tx,
      sql`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    const applied = await all(tx, sql<{ version: number; name: string }>`SELECT version, name FROM schema_migrations ORDER BY version`);
    const pending = pendingMigrations(applied, migrations);
    for (const m of pending) {
      await sql.raw(m.sql).execute(tx);
      await run(tx, sql`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${m.name})`);
    }
    return pending.length;
  });
}

/** The URL without its password, for messages and logs. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unreadable URL)';
  }
}
