import { sql } from 'kysely';
import { all, first, run as runStatement, type DataLayer, type Executor } from '../db/data-layer.js';
import type { Definition } from './definition.js';
import type { Run, RunState } from './run-state.js';

interface Row {
  id: number;
  definition_id: string;
  definition_hash: string;
  definition: string;
  requester: string;
  params: string;
  channel: string;
  environment: string | null;
  status: string;
  state: string;
  created_at: number;
  updated_at: number;
}

const fromRow = (row: Row): Run => ({
  id: row.id,
  definition: JSON.parse(row.definition) as Definition,
  definitionHash: row.definition_hash,
  requester: row.requester,
  params: JSON.parse(row.params) as Record<string, string>,
  channel: row.channel,
  createdAt: row.created_at,
  state: JSON.parse(row.state) as RunState,
});

/** An open run holding an environment: one per environment at a time. */
export interface EnvironmentHolder {
  runId: number;
  requester: string;
  since: number;
  title: string;
}

/**
 * Procedure runs (`sop_runs`): each pins the definition it started with (a snapshot and its hash), so
 * editing a file never changes a run in flight. Every method runs on the caller's executor: its open
 * transaction, or the data layer for a statement of its own.
 */
export class RunStore {
  constructor(private readonly data: DataLayer) {}

  /**
   * Inserts a run. The caller has checked that its environment is free (holderOf); the unique index still
   * refuses a second open run per environment should two starts race, with an error isUniqueViolation()
   * recognises. (Not `ON CONFLICT DO NOTHING`: on SQLite that would use up a run number all the same.)
   */
  async insert(ex: Executor, run: Omit<Run, 'id'>, environment: string | null, now: number): Promise<number> {
    const row = await first(
      ex,
      sql<{ id: number }>`INSERT INTO sop_runs (definition_id, definition_hash, definition, requester, params, channel, environment, status, state, created_at, updated_at)
        VALUES (${run.definition.id}, ${run.definitionHash}, ${JSON.stringify(run.definition)}, ${run.requester}, ${JSON.stringify(run.params)}, ${run.channel},
                ${environment}, ${run.state.status}, ${JSON.stringify(run.state)}, ${run.createdAt}, ${now})
        RETURNING id`,
    );
    return Number(row?.id);
  }

  async get(ex: Executor, id: number): Promise<Run | undefined> {
    const row = await first(ex, sql<Row>`SELECT * FROM sop_runs WHERE id = ${id}`);
    return row ? fromRow(row) : undefined;
  }

  /** A run about to change in the transaction `tx`: locked until it ends, so two changes cannot both start from one state. */
  async getForUpdate(tx: Executor, id: number): Promise<Run | undefined> {
    const row = await first(tx, sql<Row>`SELECT * FROM sop_runs WHERE id = ${id} ${this.data.forUpdate()}`);
    return row ? fromRow(row) : undefined;
  }

  async save(ex: Executor, id: number, state: RunState, now: number): Promise<void> {
    await runStatement(ex, sql`UPDATE sop_runs SET state = ${JSON.stringify(state)}, status = ${state.status}, updated_at = ${now} WHERE id = ${id}`);
  }

  async active(ex: Executor): Promise<Run[]> {
    return (await all(ex, sql<Row>`SELECT * FROM sop_runs WHERE status = 'active' ORDER BY id`)).map(fromRow);
  }

  /** The newest runs of these definitions, newest first. */
  async recent(ex: Executor, definitionIds: readonly string[], limit: number): Promise<Run[]> {
    if (definitionIds.length === 0) return [];
    const ids = sql.join(definitionIds.map((id) => sql`${id}`));
    return (await all(ex, sql<Row>`SELECT * FROM sop_runs WHERE definition_id IN (${ids}) ORDER BY id DESC LIMIT ${limit}`)).map(fromRow);
  }

  /** Runs that held this environment, started since `since`, newest first (changes to it). */
  async changedSince(ex: Executor, environment: string, since: number): Promise<Run[]> {
    return (await all(ex, sql<Row>`SELECT * FROM sop_runs WHERE environment = ${environment} AND created_at >= ${since} ORDER BY id DESC LIMIT 10`)).map(fromRow);
  }

  /** Whether a run of this definition with this parameter value completed (a version that passed staging). */
  async completedWith(ex: Executor, definitionId: string, param: string, value: string): Promise<boolean> {
    const row = await first(ex, sql`SELECT 1 AS found FROM sop_runs WHERE definition_id = ${definitionId} AND status = 'done' AND ${this.data.jsonText('params', param)} = ${value} LIMIT 1`);
    return row !== undefined;
  }

  async holderOf(ex: Executor, environment: string): Promise<EnvironmentHolder | undefined> {
    const row = await first(ex, sql<Row>`SELECT * FROM sop_runs WHERE status = 'active' AND environment = ${environment}`);
    return row ? { runId: row.id, requester: row.requester, since: row.created_at, title: (JSON.parse(row.definition) as Definition).title } : undefined;
  }
}
