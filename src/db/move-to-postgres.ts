import { sql } from 'kysely';
import { quoteIdent, type Db } from './database.js';
import { all, first, run, type DataLayer, type Executor } from './data-layer.js';

/** Rows per INSERT: well below PostgreSQL's 65,535 parameters for the widest table (incidents, 31 columns). */
const BATCH_ROWS = 500;

/**
 * Tables whose rows another table's rows point at come first (incident_acks → incidents). The outbox's
 * bookkeeping tables are not copied: PostgreSQL's triggers rebuild them from the outbox rows, and the
 * copy then checks they agree with SQLite's (a disagreement means the source was already inconsistent).
 */
const FIRST = ['incidents'];
const DERIVED = new Set(['outbox_lanes', 'outbox_counts', 'schema_migrations', 'audit_counter']);

export interface TableCount {
  table: string;
  sqlite: number;
  postgres: number;
}

export interface MoveReport {
  tables: TableCount[];
  /** Every table holds as many rows in PostgreSQL as in SQLite, and the outbox's counters agree. */
  ok: boolean;
  problems: string[];
}

/**
 * Copies a SQLite database into an empty PostgreSQL database at the same schema version, in one
 * transaction: ids are kept (so the audit chain, which covers them only through their order, and every
 * reference between rows stay as they were), identity sequences continue after the highest id, and the
 * lanes' pacing is carried over. Refuses a target that already holds data or is at another version.
 */
export async function moveToPostgres(source: Db, target: DataLayer): Promise<MoveReport> {
  if (target.dialect !== 'postgres') throw new Error('the target must be a PostgreSQL database');
  const sourceVersion = (source.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v;
  const tables = (source.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as Array<{ name: string }>)
    .map((t) => t.name)
    .filter((t) => !DERIVED.has(t));
  const ordered = [...FIRST.filter((t) => tables.includes(t)), ...tables.filter((t) => !FIRST.includes(t))];
  return target.transaction(async (tx) => {
    const targetVersion = (await first(tx, sql<{ v: number | null }>`SELECT MAX(version) AS v FROM schema_migrations`))?.v ?? null;
    if (targetVersion !== sourceVersion) {
      throw new Error(`the SQLite database is at migration ${sourceVersion ?? 'none'} and PostgreSQL at ${targetVersion ?? 'none'}: start this version of Waygate on each first, so both are at the same one`);
    }
    for (const table of ordered) {
      if ((await count(tx, table)) > 0) throw new Error(`PostgreSQL's ${table} already holds rows: the move needs an empty database`);
    }
    for (const table of ordered) await copyTable(source, tx, table);
    await carryPacing(source, tx);
    const counts: TableCount[] = [];
    for (const table of ordered) counts.push({ table, sqlite: countSqlite(source, table), postgres: await count(tx, table) });
    const problems = counts.filter((c) => c.sqlite !== c.postgres).map((c) => `${c.table}: ${c.sqlite} rows in SQLite, ${c.postgres} in PostgreSQL`);
    const sqliteCounts = source.prepare(`SELECT status, n FROM outbox_counts ORDER BY status`).all();
    const postgresCounts = await all(tx, sql`SELECT status, n FROM outbox_counts ORDER BY status`);
    if (JSON.stringify(sqliteCounts) !== JSON.stringify(postgresCounts)) {
      problems.push(`outbox counters: SQLite ${JSON.stringify(sqliteCounts)}, PostgreSQL ${JSON.stringify(postgresCounts)}`);
    }
    // A move that does not add up is rolled back: the target stays empty, to be tried again.
    if (problems.length > 0) throw new MoveFailed({ tables: counts, ok: false, problems });
    return { tables: counts, ok: true, problems };
  });
}

/** The move's row counts did not add up; nothing was kept. */
export class MoveFailed extends Error {
  constructor(readonly report: MoveReport) {
    super(`the copy does not add up, so nothing was kept: ${report.problems.join('; ')}`);
  }
}

async function copyTable(source: Db, tx: Executor, table: string): Promise<void> {
  const columns = (source.prepare(`SELECT name FROM pragma_table_info(?) ORDER BY cid`).all(table) as Array<{ name: string }>).map((c) => c.name);
  const select = source.prepare(`SELECT ${columns.map(quoteIdent).join(', ')} FROM ${quoteIdent(table)} ORDER BY 1`).raw();
  let batch: unknown[][] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const rows = batch.map((values) => sql`(${sql.join(values.map((v) => sql`${v}`))})`);
    await run(tx, sql`INSERT INTO ${sql.table(table)} (${sql.join(columns.map((c) => sql.ref(c)))}) VALUES ${sql.join(rows)}`);
    batch = [];
  };
  for (const row of select.iterate() as IterableIterator<unknown[]>) {
    batch.push(row);
    if (batch.length >= BATCH_ROWS) await flush();
  }
  await flush();
  // Identity columns continue after the ids copied in; otherwise the next insert would collide with row 1.
  const identity = await all(
    tx,
    sql<{ column: string }>`SELECT attname AS column FROM pg_attribute WHERE attrelid = ${table}::regclass AND attidentity <> '' AND NOT attisdropped`,
  );
  for (const { column } of identity) {
    await sql`SELECT setval(pg_get_serial_sequence(${table}, ${column}), GREATEST((SELECT MAX(${sql.ref(column)}) FROM ${sql.table(table)}), 1))`.execute(tx);
  }
}

/** The triggers rebuilt each lane's queue; how long a lane must still wait for Slack comes from SQLite. */
async function carryPacing(source: Db, tx: Executor): Promise<void> {
  const lanes = source.prepare(`SELECT lane, paced_until FROM outbox_lanes WHERE paced_until <> 0`).all() as Array<{ lane: string; paced_until: number }>;
  for (const lane of lanes) {
    await run(
      tx,
      sql`INSERT INTO outbox_lanes (lane, paced_until) VALUES (${lane.lane}, ${lane.paced_until})
          ON CONFLICT (lane) DO UPDATE SET paced_until = excluded.paced_until`,
    );
  }
}

async function count(tx: Executor, table: string): Promise<number> {
  return (await first(tx, sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${sql.table(table)}`))?.n ?? 0;
}

function countSqlite(source: Db, table: string): number {
  return (source.prepare(`SELECT COUNT(*) AS n FROM ${quoteIdent(table)}`).get() as { n: number }).n;
}
