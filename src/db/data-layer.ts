import type { Database as SqliteHandle, Statement } from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type RawBuilder, type Transaction } from 'kysely';
import type pg from 'pg';

/**
 * Tables are reached through SQL written with Kysely's `sql` tag (the statements were SQLite's, and stay
 * readable as SQL); the type is the seam where a typed schema can be added table by table.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- see above
export interface Schema {}

export type DialectName = 'sqlite' | 'postgres';

/** What a statement runs on: the data layer itself (each statement its own transaction) or an open transaction. */
export type Executor = Kysely<Schema> | Transaction<Schema>;

const sqliteLayers = new WeakMap<SqliteHandle, DataLayer>();

/** Transactions holding the writers' turn (see DataLayer.writerTurn). */
const writerTurns = new WeakSet<Transaction<Schema>>();

/** Callbacks that must wait for a transaction's commit (waking the dispatcher), keyed by the transaction. */
const commitHooks = new WeakMap<Transaction<Schema>, Array<() => void>>();

/**
 * The one async data layer every repository goes through (decision 020). On SQLite it wraps the same
 * better-sqlite3 handle the rest of the code still uses synchronously while modules move over one at a
 * time: a transaction opened here is the handle's transaction, so a synchronous write made inside it
 * commits or rolls back with it.
 *
 * A transaction's callback must only await the database: anything slower (Slack, PagerDuty, a process)
 * would hold SQLite's single connection, or a PostgreSQL connection and its locks, for its whole duration.
 */
export class DataLayer {
  private constructor(
    readonly db: Kysely<Schema>,
    readonly dialect: DialectName,
    /** Runs first in every transaction of this layer (the leader's fencing check; decision 021). */
    private readonly fence?: (tx: Transaction<Schema>) => Promise<void>,
  ) {}

  /**
   * The same database, with `fence` as the first statement of every transaction opened here: for the work only
   * the leader does, so a replica that lost the lease writes nothing. Statements outside a transaction are not
   * fenced; leader-side writes go through transaction().
   */
  withFence(fence: (tx: Transaction<Schema>) => Promise<void>): DataLayer {
    return new DataLayer(this.db, this.dialect, fence);
  }

  /**
   * Over an open better-sqlite3 handle; closing the data layer does not close the handle. One handle has one
   * data layer: SQLite has one connection, and Kysely keeps it for one transaction at a time per instance.
   */
  static sqlite(handle: SqliteHandle): DataLayer {
    let layer = sqliteLayers.get(handle);
    if (layer === undefined) {
      layer = new DataLayer(new Kysely<Schema>({ dialect: new SqliteDialect({ database: cachedStatements(handle) }) }), 'sqlite');
      sqliteLayers.set(handle, layer);
    }
    return layer;
  }

  /** Over a node-postgres pool; closing the data layer ends the pool. */
  static postgres(pool: pg.Pool): DataLayer {
    return new DataLayer(new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) }), 'postgres');
  }

  /** A JSON text column's value with its top-level `field` set to the JSON text `json` (`column` is trusted). */
  jsonWith(column: string, field: string, json: string): RawBuilder<string> {
    return this.dialect === 'postgres'
      ? sql<string>`jsonb_set(${sql.ref(column)}::jsonb, ${'{' + field + '}'}, ${json}::jsonb)::text`
      : sql<string>`json_set(${sql.ref(column)}, ${'$.' + field}, json(${json}))`;
  }

  /** A JSON text column's top-level field as text (`column` is a trusted identifier, never user input). */
  jsonText(column: string, field: string): RawBuilder<string | null> {
    return this.dialect === 'postgres' ? sql<string | null>`(${sql.ref(column)}::jsonb ->> ${field})` : sql<string | null>`(${sql.ref(column)} ->> ${'$.' + field})`;
  }

  /** Runs `fn` in one transaction: everything it writes commits together, or nothing does. */
  async transaction<T>(fn: (tx: Transaction<Schema>) => Promise<T>): Promise<T> {
    const hooks: Array<() => void> = [];
    const result = await this.db.transaction().execute(async (tx) => {
      commitHooks.set(tx, hooks);
      if (this.fence) await this.fence(tx);
      return fn(tx);
    });
    for (const hook of hooks) hook();
    return result;
  }

  /**
   * Makes transactions that call this with the same `name` take turns until they end: for a read followed by
   * a write that must not interleave with another (the audit chain's last hash). SQLite has one writer at a
   * time already; on PostgreSQL it is a transaction-scoped advisory lock.
   */
  async serialize(tx: Transaction<Schema>, name: string): Promise<void> {
    if (this.dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(hashtext(${name}))`.execute(tx);
  }

  /**
   * The turn of a transaction that writes the outbox or the audit trail, taken before it writes either and held
   * until it ends. On PostgreSQL every such transaction passes through the outbox's counters (rows its triggers
   * update) and the audit chain's last hash (read under a lock): two transactions taking those in opposite
   * orders, an acknowledgement queueing its messages before its audit row and a command record auditing before
   * queueing, deadlocked. One lock taken first keeps them in one order. Nothing on SQLite, which has one writer.
   */
  async writerTurn(ex: Executor): Promise<void> {
    if (this.dialect !== 'postgres' || !ex.isTransaction) return;
    const tx = ex as Transaction<Schema>;
    // Once per transaction: it holds the turn until it ends.
    if (writerTurns.has(tx)) return;
    await this.serialize(tx, 'writers');
    writerTurns.add(tx);
  }

  /**
   * `FOR UPDATE` on PostgreSQL, to end a SELECT of a row the transaction then changes: the row stays locked
   * until it ends, and a second transaction reading it that way waits, then reads what the first committed.
   * Nothing on SQLite, whose one writer already keeps other transactions out.
   */
  forUpdate(): RawBuilder<unknown> {
    return this.dialect === 'postgres' ? sql`FOR UPDATE` : sql``;
  }

  /** `fn` inside the caller's transaction when `ex` is one, else in a transaction of its own. */
  async within<T>(ex: Executor, fn: (tx: Transaction<Schema>) => Promise<T>): Promise<T> {
    return ex.isTransaction ? fn(ex as Transaction<Schema>) : this.transaction(fn);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

/** Runs `hook` once the transaction `ex` commits (at once when `ex` is not a transaction); never on rollback. */
export function afterCommit(ex: Executor, hook: () => void): void {
  const hooks = ex.isTransaction ? commitHooks.get(ex as Transaction<Schema>) : undefined;
  if (hooks) hooks.push(hook);
  else hook();
}

/** Every row the query returns. */
export async function all<T>(ex: Executor, query: RawBuilder<T>): Promise<T[]> {
  return (await query.execute(ex)).rows;
}

/** The first row the query returns, or undefined. */
export async function first<T>(ex: Executor, query: RawBuilder<T>): Promise<T | undefined> {
  return (await query.execute(ex)).rows[0];
}

/** Runs a statement that returns no rows; resolves to how many rows it changed. */
export async function run(ex: Executor, query: RawBuilder<unknown>): Promise<number> {
  return Number((await query.execute(ex)).numAffectedRows ?? 0);
}

/** A rollback that does nothing when SQLite has already rolled the transaction back itself. */
function rollbackIfOpen(handle: SqliteHandle): Statement {
  const rollback = handle.prepare('rollback');
  return new Proxy(rollback, {
    get(target, property, receiver) {
      if (property === 'run') return () => (handle.inTransaction ? target.run() : { changes: 0, lastInsertRowid: 0 });
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

/** How many statements' compiled forms are kept; Waygate's SQL is a fixed set of texts, well below this. */
const STATEMENT_CACHE_SIZE = 1_000;

/**
 * Kysely prepares every statement it runs; preparing costs SQLite more than running most of ours, so the
 * compiled statements are kept by their text, as the hand-written repositories kept theirs.
 */
function cachedStatements(handle: SqliteHandle): { prepare(sql: string): Statement; close(): void } {
  const cache = new Map<string, Statement>();
  return {
    prepare(sql) {
      // SQLite undoes a transaction by itself on some errors (a full disk, an I/O error); a rollback after
      // that fails with "no transaction is active" and would replace the error that explains what happened.
      if (sql === 'rollback') return rollbackIfOpen(handle);
      let statement = cache.get(sql);
      if (statement === undefined) {
        statement = handle.prepare(sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
        cache.set(sql, statement);
      }
      return statement;
    },
    // The handle belongs to whoever opened it (it is closed after the last synchronous user is done).
    close() {},
  };
}

/**
 * Whether `err` is a unique-index violation: SQLite's `SQLITE_CONSTRAINT_UNIQUE` (or its primary-key form) or
 * PostgreSQL's `23505`. For rules a unique index enforces (one active run per environment), found after the
 * fact: on PostgreSQL such an error aborts the transaction it happened in, so a caller catches it outside.
 */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
