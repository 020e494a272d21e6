import type { Db } from '../db/database.js';
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
 * editing a file never changes a run in flight.
 */
export class RunStore {
  constructor(private readonly db: Db) {}

  /** Inserts a run; undefined when its environment is held by another open run (a unique index decides). */
  insert(run: Omit<Run, 'id'>, environment: string | null, now: number): number | undefined {
    try {
      const info = this.db
        .prepare(
          `INSERT INTO sop_runs (definition_id, definition_hash, definition, requester, params, channel, environment, status, state, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(run.definition.id, run.definitionHash, JSON.stringify(run.definition), run.requester, JSON.stringify(run.params), run.channel, environment, run.state.status, JSON.stringify(run.state), run.createdAt, now);
      return Number(info.lastInsertRowid);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return undefined;
      throw err;
    }
  }

  get(id: number): Run | undefined {
    const row = this.db.prepare('SELECT * FROM sop_runs WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  save(id: number, state: RunState, now: number): void {
    this.db.prepare('UPDATE sop_runs SET state = ?, status = ?, updated_at = ? WHERE id = ?').run(JSON.stringify(state), state.status, now, id);
  }

  active(): Run[] {
    return (this.db.prepare(`SELECT * FROM sop_runs WHERE status = 'active' ORDER BY id`).all() as Row[]).map(fromRow);
  }

  /** The newest runs of these definitions, newest first. */
  recent(definitionIds: readonly string[], limit: number): Run[] {
    const marks = definitionIds.map(() => '?').join(', ');
    return (this.db.prepare(`SELECT * FROM sop_runs WHERE definition_id IN (${marks}) ORDER BY id DESC LIMIT ?`).all(...definitionIds, limit) as Row[]).map(fromRow);
  }

  /** Runs that held this environment, started since `since`, newest first (changes to it). */
  changedSince(environment: string, since: number): Run[] {
    return (this.db.prepare('SELECT * FROM sop_runs WHERE environment = ? AND created_at >= ? ORDER BY id DESC LIMIT 10').all(environment, since) as Row[]).map(fromRow);
  }

  /** Whether a run of this definition with this parameter value completed (a version that passed staging). */
  completedWith(definitionId: string, param: string, value: string): boolean {
    return (
      this.db
        .prepare(`SELECT 1 FROM sop_runs WHERE definition_id = ? AND status = 'done' AND json_extract(params, '$.' || ?) = ? LIMIT 1`)
        .get(definitionId, param, value) !== undefined
    );
  }

  holderOf(environment: string): EnvironmentHolder | undefined {
    const row = this.db.prepare(`SELECT * FROM sop_runs WHERE status = 'active' AND environment = ?`).get(environment) as Row | undefined;
    return row ? { runId: row.id, requester: row.requester, since: row.created_at, title: (JSON.parse(row.definition) as Definition).title } : undefined;
  }
}
