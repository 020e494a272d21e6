import { sql } from 'kysely';
import { DataLayer, all, first, run, type Executor } from '../db/data-layer.js';
import type { Priority } from '../config/sla-schema.js';
import type { IncidentStatus } from './events.js';

export type { IncidentStatus };
export type SlaState = 'running' | 'warned' | 'breached' | 'met' | 'stopped';
/** Where an acknowledgement or resolution was made: a Slack user id, or a PagerDuty user's name. */
export type ActorSource = 'slack' | 'pagerduty';

export interface Incident {
  id: string;
  number: number;
  title: string;
  status: IncidentStatus;
  priority: Priority;
  pd_priority: string | null;
  urgency: string | null;
  service: string | null;
  html_url: string | null;
  assignees: string;
  created_at: number;
  /** The newest change applied from either side (PagerDuty's or the bot's clock); orders nothing. */
  last_event_at: number;
  /** occurred_at of the newest PagerDuty event applied: PagerDuty's events are ordered against this only. */
  last_pd_event_at: number;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  /** Null on rows from before sources were recorded whose source could not be recovered. */
  acknowledged_source: ActorSource | null;
  resolved_at: number | null;
  resolved_by: string | null;
  resolved_source: ActorSource | null;
  sla_deadline: number | null;
  sla_warn_at: number | null;
  sla_state: SlaState;
  breached_at: number | null;
  escalations: number;
  alert_channel: string | null;
  alert_posted: number;
  pd_sync: 'pending' | 'synced' | 'failed' | null;
  storm_id: number | null;
  /** Its place in the storm (1, 2, …), in the order incidents joined it. */
  storm_seq: number | null;
  /** The Slack user it was assigned to from Slack, until PagerDuty assigns someone else. */
  assigned_slack: string | null;
  updated_at: number;
}

/** An incident declared from Slack through the Events API, waiting for (or matched to) PagerDuty's incident. */
export interface Declaration {
  dedup_key: string;
  slack_user: string;
  priority: Priority;
  title: string;
  created_at: number;
}

/** A change made in Slack whose webhook from PagerDuty is still to come back. */
export type EchoKind = 'note' | 'reassign';

export interface Storm {
  id: number;
  channel: string;
  started_at: number;
  ended_at: number | null;
}

/** What a storm summary shows, counted in the database: a storm can hold tens of thousands of incidents. */
export interface StormSummary {
  total: number;
  open: number;
  unacknowledgedP1: number;
  /** The highest storm_seq counted: the summary's revision, carried by its "Acknowledge all P1" button. */
  rev: number;
  /** By priority name, in name order. */
  byPriority: Array<{ priority: string; count: number }>;
  /** The newest incidents, newest first. */
  newest: Array<Pick<Incident, 'priority' | 'number' | 'title'>>;
  /** Incidents the summary alone shows (no message of their own yet). */
  waitingCount: number;
  /** Their numbers in storm order (oldest first), at most the limit asked for. */
  waiting: number[];
}

const COLUMNS = [
  'id', 'number', 'title', 'status', 'priority', 'pd_priority', 'urgency', 'service', 'html_url', 'assignees',
  'created_at', 'last_event_at', 'last_pd_event_at', 'acknowledged_at', 'acknowledged_by', 'acknowledged_source', 'resolved_at', 'resolved_by', 'resolved_source',
  'sla_deadline', 'sla_warn_at', 'sla_state', 'breached_at', 'escalations', 'alert_channel', 'alert_posted',
  'pd_sync', 'storm_id', 'storm_seq', 'assigned_slack', 'updated_at',
] as const satisfies readonly (keyof Incident)[];

const COLUMN_SET: ReadonlySet<string> = new Set(COLUMNS);

const PRIORITY_ORDER = sql`CASE priority WHEN 'P1' THEN 1 WHEN 'P2' THEN 2 WHEN 'P3' THEN 3 WHEN 'P4' THEN 4 ELSE 5 END`;

/** A column of incidents named in SQL; only the known columns, so a stray key never becomes SQL. */
function column(name: string) {
  if (!COLUMN_SET.has(name)) throw new Error(`incidents has no column ${name}`);
  return sql.ref(name);
}

type StormPriorityRow = { priority: string; count: number; open: number; triggered: number; waiting: number; rev: number };

/** The storm summary from its three queries' rows. */
function summarise(byPriority: StormPriorityRow[], newest: StormSummary['newest'], waiting: number[]): StormSummary {
  const sum = (pick: (row: StormPriorityRow) => number): number => byPriority.reduce((total, row) => total + pick(row), 0);
  return {
    total: sum((r) => r.count),
    open: sum((r) => r.open),
    unacknowledgedP1: byPriority.find((r) => r.priority === 'P1')?.triggered ?? 0,
    rev: byPriority.reduce((max, r) => Math.max(max, r.rev), 0),
    byPriority: byPriority.map(({ priority, count }) => ({ priority, count })),
    newest,
    waitingCount: sum((r) => r.waiting),
    waiting,
  };
}

/** Response figures of the incidents of one priority opened in a span (`/metrics`, the weekly review). */
export interface ResponseFigures {
  priority: string;
  incidents: number;
  acknowledged: number;
  resolved: number;
  /** Means over the incidents acknowledged (resolved); null when none was. */
  mttaMs: number | null;
  mttrMs: number | null;
  breaches: number;
}

/** Ids to one statement: well below both databases' limits on bound parameters. */
const MANY_IDS = 500;
const byId = (id: string) => sql<Incident>`SELECT * FROM incidents WHERE id = ${id}`;
const stormById = (id: number) => sql<Storm>`SELECT * FROM storms WHERE id = ${id}`;
const stormSizeOf = (stormId: number) => sql<{ n: number }>`SELECT COALESCE(MAX(storm_seq), 0) AS n FROM incidents WHERE storm_id = ${stormId}`;
const openIncidents = (priority?: string) =>
  sql<Incident>`SELECT * FROM incidents WHERE ${priority ? sql`status <> 'resolved' AND priority = ${priority}` : sql`status <> 'resolved'`} ORDER BY ${PRIORITY_ORDER}, created_at`;
const figuresOf = (since: number, until: number) =>
  sql<ResponseFigures>`SELECT priority, COUNT(*) AS incidents, COUNT(acknowledged_at) AS acknowledged, COUNT(resolved_at) AS resolved,
              AVG(acknowledged_at - created_at) AS "mttaMs", AVG(resolved_at - created_at) AS "mttrMs",
              COUNT(breached_at) AS breaches
       FROM incidents WHERE created_at >= ${since} AND created_at < ${until} GROUP BY priority ORDER BY priority`;
const openedIn = (since: number, until: number) => sql<Incident>`SELECT * FROM incidents WHERE created_at >= ${since} AND created_at < ${until} ORDER BY created_at LIMIT 100`;
const stormQueries = (stormId: number, limits: { newest: number; waitingLimit: number }) => ({
  byPriority: sql<StormPriorityRow>`SELECT priority, COUNT(*) AS count, SUM(CASE WHEN status <> 'resolved' THEN 1 ELSE 0 END) AS open,
              SUM(CASE WHEN status = 'triggered' THEN 1 ELSE 0 END) AS triggered,
              SUM(CASE WHEN alert_posted = 0 THEN 1 ELSE 0 END) AS waiting, MAX(COALESCE(storm_seq, 0)) AS rev
       FROM incidents WHERE storm_id = ${stormId} GROUP BY priority ORDER BY priority`,
  newest: sql<StormSummary['newest'][number]>`SELECT priority, number, title FROM incidents WHERE storm_id = ${stormId} ORDER BY created_at DESC, number DESC LIMIT ${limits.newest}`,
  waiting: sql<{ number: number }>`SELECT number FROM incidents WHERE storm_id = ${stormId} AND alert_posted = 0 ORDER BY created_at, number LIMIT ${limits.waitingLimit}`,
});

/**
 * Incidents, their acknowledgements, seen webhook events and alert storms. Every method runs on the
 * executor it is given: the caller's transaction, or the data layer for a statement of its own.
 */
export class IncidentRepository {
  private readonly data: DataLayer;

  constructor(data: DataLayer) {
    this.data = data;
  }

  async insert(ex: Executor, incident: Incident): Promise<void> {
    await run(
      ex,
      sql`INSERT INTO incidents (${sql.join(COLUMNS.map((c) => sql.ref(c)))}) VALUES (${sql.join(COLUMNS.map((c) => incident[c]))})`,
    );
  }

  async get(ex: Executor, id: string): Promise<Incident | undefined> {
    return first(ex, byId(id));
  }

  /**
   * The incidents of `ids` that exist, by id: one statement per MANY_IDS ids rather than one per incident (on
   * PostgreSQL each is a round trip, and a bulk acknowledgement changes thousands).
   */
  async getMany(ex: Executor, ids: readonly string[]): Promise<Map<string, Incident>> {
    const found = new Map<string, Incident>();
    for (let i = 0; i < ids.length; i += MANY_IDS) {
      const rows = await all(ex, sql<Incident>`SELECT * FROM incidents WHERE id IN (${sql.join(ids.slice(i, i + MANY_IDS))})`);
      for (const row of rows) found.set(row.id, row);
    }
    return found;
  }

  /**
   * Sets pd_sync 'synced' on those of `ids` still waiting for PagerDuty to take `status`; returns their ids.
   * An incident changed again since (say, resolved after this acknowledgement) keeps that later change pending.
   */
  async markSynced(ex: Executor, ids: readonly string[], status: IncidentStatus, now: number): Promise<string[]> {
    const synced: string[] = [];
    for (let i = 0; i < ids.length; i += MANY_IDS) {
      const rows = await all(
        ex,
        sql<{ id: string }>`UPDATE incidents SET pd_sync = 'synced', updated_at = ${now}
            WHERE id IN (${sql.join(ids.slice(i, i + MANY_IDS))}) AND status = ${status} AND pd_sync = 'pending' RETURNING id`,
      );
      for (const { id } of rows) synced.push(id);
    }
    // In the order asked for: the alerts they refresh follow it.
    const order = new Map(ids.map((id, i) => [id, i]));
    return synced.sort((a, b) => order.get(a)! - order.get(b)!);
  }

  /**
   * Per priority, of the incidents opened at or after `since` and before `until`: how many, how many were
   * acknowledged and resolved, mean time to acknowledge and to resolve, and SLA breaches.
   */
  async responseFigures(ex: Executor, since: number, until: number = Number.MAX_SAFE_INTEGER): Promise<ResponseFigures[]> {
    return all(ex, figuresOf(since, until));
  }

  /** Remembers a change sent to PagerDuty, so its webhook is not shown a second time. */
  async expectEcho(ex: Executor, incidentId: string, kind: EchoKind, fingerprint: string, now: number): Promise<void> {
    await run(ex, sql`INSERT INTO pagerduty_echoes (incident_id, kind, fingerprint, created_at) VALUES (${incidentId}, ${kind}, ${fingerprint}, ${now})`);
  }

  /** Whether this webhook is the echo of a change made in Slack; forgets the match (an echo comes once). Call in a transaction. */
  async takeEcho(ex: Executor, incidentId: string, kind: EchoKind, fingerprint: string): Promise<boolean> {
    const row = await first(
      ex,
      sql<{ id: number }>`SELECT id FROM pagerduty_echoes WHERE incident_id = ${incidentId} AND kind = ${kind} AND fingerprint = ${fingerprint} ORDER BY id LIMIT 1`,
    );
    if (row === undefined) return false;
    await run(ex, sql`DELETE FROM pagerduty_echoes WHERE id = ${row.id}`);
    return true;
  }

  /** Forgets echoes and declarations older than the cut-off (PagerDuty never answered them). */
  async pruneSlackChanges(ex: Executor, olderThan: number): Promise<number> {
    return (
      (await run(ex, sql`DELETE FROM pagerduty_echoes WHERE created_at < ${olderThan}`)) +
      (await run(ex, sql`DELETE FROM incident_declarations WHERE created_at < ${olderThan}`))
    );
  }

  async declare(ex: Executor, d: Declaration): Promise<void> {
    await run(
      ex,
      sql`INSERT INTO incident_declarations (dedup_key, slack_user, priority, title, created_at) VALUES (${d.dedup_key}, ${d.slack_user}, ${d.priority}, ${d.title}, ${d.created_at})`,
    );
  }

  async declaration(ex: Executor, dedupKey: string): Promise<Declaration | undefined> {
    return first(ex, sql<Declaration>`SELECT * FROM incident_declarations WHERE dedup_key = ${dedupKey}`);
  }

  /** The next number for an incident Waygate opens itself: above PagerDuty's, so they never collide in practice. */
  async nextLocalNumber(ex: Executor): Promise<number> {
    const row = await first(ex, sql<{ n: number }>`SELECT COALESCE(MAX(number), 9000000) + 1 AS n FROM incidents WHERE id LIKE 'local:%'`);
    return Number(row?.n);
  }

  /** The open incident Waygate opened itself under `key`, if any. */
  async openLocal(ex: Executor, key: string): Promise<Incident | undefined> {
    return first(ex, sql<Incident>`SELECT * FROM incidents WHERE id LIKE ${`local:${key}:%`} AND status <> 'resolved' ORDER BY created_at DESC LIMIT 1`);
  }

  /** PagerDuty numbers are unique per account; the newest wins if a stand-in ever repeats one. */
  async getByNumber(ex: Executor, number: number): Promise<Incident | undefined> {
    return first(ex, sql<Incident>`SELECT * FROM incidents WHERE number = ${number} ORDER BY created_at DESC LIMIT 1`);
  }

  async update(ex: Executor, id: string, changes: Partial<Omit<Incident, 'id'>>): Promise<void> {
    const keys = Object.keys(changes) as Array<keyof Omit<Incident, 'id'>>;
    if (keys.length === 0) return;
    // The same few column sets recur on every event, so the same few statement texts (compiled once each).
    await run(ex, sql`UPDATE incidents SET ${sql.join(keys.map((k) => sql`${column(k)} = ${changes[k]}`))} WHERE id = ${id}`);
  }

  async listOpen(ex: Executor, priority?: string): Promise<Incident[]> {
    return all(ex, openIncidents(priority));
  }

  /** Ids and numbers of the unacknowledged incidents of a priority, oldest first: cheap even for thousands. */
  async unacknowledged(ex: Executor, priority: string): Promise<Array<Pick<Incident, 'id' | 'number'>>> {
    return all(ex, sql<Pick<Incident, 'id' | 'number'>>`SELECT id, number FROM incidents WHERE status = 'triggered' AND priority = ${priority} ORDER BY created_at, number`);
  }

  async recordAck(
    ex: Executor,
    ack: {
      incidentId: string;
      ackedBy: string;
      source: ActorSource;
      ackedAt: number;
      timeToAckMs: number;
      outcome: 'met' | 'breached';
    },
  ): Promise<void> {
    await run(
      ex,
      sql`INSERT INTO incident_acks (incident_id, acked_by, source, acked_at, time_to_ack_ms, sla_outcome)
          VALUES (${ack.incidentId}, ${ack.ackedBy}, ${ack.source}, ${ack.ackedAt}, ${ack.timeToAckMs}, ${ack.outcome})`,
    );
  }

  async acksOf(ex: Executor, incidentId: string): Promise<Array<{ acked_by: string; source: string; acked_at: number; time_to_ack_ms: number; sla_outcome: string }>> {
    return all(ex, sql<{ acked_by: string; source: string; acked_at: number; time_to_ack_ms: number; sla_outcome: string }>`SELECT * FROM incident_acks WHERE incident_id = ${incidentId} ORDER BY id`);
  }

  async activeStorm(ex: Executor, channel: string): Promise<Storm | undefined> {
    return first(ex, sql<Storm>`SELECT * FROM storms WHERE channel = ${channel} AND ended_at IS NULL ORDER BY id DESC LIMIT 1`);
  }

  async getStorm(ex: Executor, id: number): Promise<Storm | undefined> {
    return first(ex, stormById(id));
  }

  async startStorm(ex: Executor, channel: string, now: number): Promise<Storm> {
    const row = await first(ex, sql<{ id: number }>`INSERT INTO storms (channel, started_at) VALUES (${channel}, ${now}) RETURNING id`);
    return { id: Number(row?.id), channel, started_at: now, ended_at: null };
  }

  async endStorm(ex: Executor, id: number, now: number): Promise<void> {
    await run(ex, sql`UPDATE storms SET ended_at = ${now} WHERE id = ${id}`);
  }

  /** Makes the incident the storm's next member. */
  async joinStorm(ex: Executor, incidentId: string, stormId: number): Promise<void> {
    await run(
      ex,
      sql`UPDATE incidents SET storm_id = ${stormId}, storm_seq = (SELECT COALESCE(MAX(storm_seq), 0) + 1 FROM incidents WHERE storm_id = ${stormId}) WHERE id = ${incidentId}`,
    );
  }

  /** How many incidents have joined the storm so far (a summary's revision). */
  async stormSize(ex: Executor, stormId: number): Promise<number> {
    return Number((await first(ex, stormSizeOf(stormId)))?.n ?? 0);
  }

  /**
   * Unacknowledged incidents of a priority among the storm's members, by their place: (after, upTo]. The
   * bounds are BIGINT: PostgreSQL would type them as the INTEGER column, and refuse `upTo` = "all of them".
   */
  async stormTriggered(ex: Executor, stormId: number, priority: string, after: number, upTo: number): Promise<Incident[]> {
    return all(
      ex,
      sql<Incident>`SELECT * FROM incidents WHERE storm_id = ${stormId} AND storm_seq > CAST(${after} AS BIGINT) AND storm_seq <= CAST(${upTo} AS BIGINT)
                      AND priority = ${priority} AND status = 'triggered' ORDER BY storm_seq`,
    );
  }

  /**
   * The storm summary's figures. Loading every incident of a long storm to count them took over 200 ms of
   * the event loop at 10,000 incidents, once per pacing interval, and held up webhooks meanwhile.
   */
  async stormSummary(ex: Executor, stormId: number, limits: { newest: number; waitingLimit: number }): Promise<StormSummary> {
    const q = stormQueries(stormId, limits);
    const byPriority = await all(ex, q.byPriority);
    const newest = await all(ex, q.newest);
    const waiting = await all(ex, q.waiting);
    return summarise(byPriority, newest, waiting.map((r) => r.number));
  }

  /** The next storm incident without its own message, most urgent first. */
  async nextUnposted(ex: Executor, stormId: number): Promise<Incident | undefined> {
    return first(ex, sql<Incident>`SELECT * FROM incidents WHERE storm_id = ${stormId} AND alert_posted = 0 ORDER BY ${PRIORITY_ORDER}, created_at, number LIMIT 1`);
  }

  async openedBetween(ex: Executor, since: number, until: number): Promise<Incident[]> {
    return all(ex, openedIn(since, until));
  }

  /** Counts of the day; a column that is null everywhere sums to null, as it always did. */
  async countRecent(ex: Executor, since: number): Promise<{ opened: number; acknowledged: number; breached: number }> {
    const row = await first(
      ex,
      sql<{ opened: number; acknowledged: number; breached: number }>`SELECT
              SUM(CASE WHEN created_at >= ${since} THEN 1 WHEN created_at < ${since} THEN 0 END) AS opened,
              SUM(CASE WHEN acknowledged_at >= ${since} THEN 1 WHEN acknowledged_at < ${since} THEN 0 END) AS acknowledged,
              SUM(CASE WHEN breached_at >= ${since} THEN 1 WHEN breached_at < ${since} THEN 0 END) AS breached
       FROM incidents`,
    );
    return row!;
  }
}
