import type { Statement } from 'better-sqlite3';
import type { Db } from '../db/database.js';
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

const PRIORITY_ORDER = `CASE priority WHEN 'P1' THEN 1 WHEN 'P2' THEN 2 WHEN 'P3' THEN 3 WHEN 'P4' THEN 4 ELSE 5 END`;

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

/** Incidents, their acknowledgements, seen webhook events and alert storms. */
export class IncidentRepository {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly updates = new Map<string, Statement>();
  /** Every other statement, compiled on first use: a storm calls several of them per event. */
  private readonly statements = new Map<string, Statement>();

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO incidents (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`,
    );
    this.getStmt = db.prepare('SELECT * FROM incidents WHERE id = ?');
  }

  private sql(source: string): Statement {
    let stmt = this.statements.get(source);
    if (!stmt) {
      stmt = this.db.prepare(source);
      this.statements.set(source, stmt);
    }
    return stmt;
  }

  insert(incident: Incident): void {
    this.insertStmt.run(incident);
  }

  get(id: string): Incident | undefined {
    return this.getStmt.get(id) as Incident | undefined;
  }

  /**
   * Per priority, of the incidents opened at or after `since` and before `until`: how many, how many were
   * acknowledged and resolved, mean time to acknowledge and to resolve, and SLA breaches.
   */
  responseFigures(since: number, until: number = Number.MAX_SAFE_INTEGER): ResponseFigures[] {
    return this.sql(
      `SELECT priority, COUNT(*) AS incidents, COUNT(acknowledged_at) AS acknowledged, COUNT(resolved_at) AS resolved,
              AVG(acknowledged_at - created_at) AS mttaMs, AVG(resolved_at - created_at) AS mttrMs,
              SUM(breached_at IS NOT NULL) AS breaches
       FROM incidents WHERE created_at >= ? AND created_at < ? GROUP BY priority ORDER BY priority`,
    ).all(since, until) as ResponseFigures[];
  }

  /** Remembers a change sent to PagerDuty, so its webhook is not shown a second time. */
  expectEcho(incidentId: string, kind: EchoKind, fingerprint: string, now: number): void {
    this.sql('INSERT INTO pagerduty_echoes (incident_id, kind, fingerprint, created_at) VALUES (?, ?, ?, ?)').run(incidentId, kind, fingerprint, now);
  }

  /** Whether this webhook is the echo of a change made in Slack; forgets the match (an echo comes once). */
  takeEcho(incidentId: string, kind: EchoKind, fingerprint: string): boolean {
    const id = this.sql('SELECT id FROM pagerduty_echoes WHERE incident_id = ? AND kind = ? AND fingerprint = ? ORDER BY id LIMIT 1').pluck().get(incidentId, kind, fingerprint) as
      | number
      | undefined;
    if (id === undefined) return false;
    this.sql('DELETE FROM pagerduty_echoes WHERE id = ?').run(id);
    return true;
  }

  /** Forgets echoes and declarations older than the cut-off (PagerDuty never answered them). */
  pruneSlackChanges(olderThan: number): number {
    return (
      this.sql('DELETE FROM pagerduty_echoes WHERE created_at < ?').run(olderThan).changes +
      this.sql('DELETE FROM incident_declarations WHERE created_at < ?').run(olderThan).changes
    );
  }

  declare(declaration: Declaration): void {
    this.sql('INSERT INTO incident_declarations (dedup_key, slack_user, priority, title, created_at) VALUES (@dedup_key, @slack_user, @priority, @title, @created_at)').run(declaration);
  }

  declaration(dedupKey: string): Declaration | undefined {
    return this.sql('SELECT * FROM incident_declarations WHERE dedup_key = ?').get(dedupKey) as Declaration | undefined;
  }

  /** The next number for an incident Waygate opens itself: above PagerDuty's, so they never collide in practice. */
  nextLocalNumber(): number {
    return (this.sql(`SELECT COALESCE(MAX(number), 9000000) + 1 FROM incidents WHERE id LIKE 'local:%'`).pluck().get() as number);
  }

  /** The open incident Waygate opened itself under `key`, if any. */
  openLocal(key: string): Incident | undefined {
    return this.sql(`SELECT * FROM incidents WHERE id LIKE ? AND status != 'resolved' ORDER BY created_at DESC LIMIT 1`).get(`local:${key}:%`) as Incident | undefined;
  }

  /** PagerDuty numbers are unique per account; the newest wins if a stand-in ever repeats one. */
  getByNumber(number: number): Incident | undefined {
    return this.sql('SELECT * FROM incidents WHERE number = ? ORDER BY created_at DESC LIMIT 1').get(number) as
      | Incident
      | undefined;
  }

  update(id: string, changes: Partial<Omit<Incident, 'id'>>): void {
    const keys = Object.keys(changes) as (keyof Incident)[];
    if (keys.length === 0) return;
    // The same few column sets recur on every event: compile each once.
    const signature = keys.join(',');
    let stmt = this.updates.get(signature);
    if (!stmt) {
      stmt = this.db.prepare(`UPDATE incidents SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`);
      this.updates.set(signature, stmt);
    }
    stmt.run({ ...changes, id });
  }

  listOpen(priority?: string): Incident[] {
    const where = priority ? `status != 'resolved' AND priority = ?` : `status != 'resolved'`;
    return this.sql(`SELECT * FROM incidents WHERE ${where} ORDER BY ${PRIORITY_ORDER}, created_at`)
      .all(...(priority ? [priority] : [])) as Incident[];
  }

  /** Ids and numbers of the unacknowledged incidents of a priority, oldest first: cheap even for thousands. */
  unacknowledged(priority: string): Array<Pick<Incident, 'id' | 'number'>> {
    return this.sql(`SELECT id, number FROM incidents WHERE status = 'triggered' AND priority = ? ORDER BY created_at, number`)
      .all(priority) as Array<Pick<Incident, 'id' | 'number'>>;
  }

  recordAck(ack: {
    incidentId: string;
    ackedBy: string;
    source: ActorSource;
    ackedAt: number;
    timeToAckMs: number;
    outcome: 'met' | 'breached';
  }): void {
    this.sql(
        `INSERT INTO incident_acks (incident_id, acked_by, source, acked_at, time_to_ack_ms, sla_outcome) VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(ack.incidentId, ack.ackedBy, ack.source, ack.ackedAt, ack.timeToAckMs, ack.outcome);
  }

  acksOf(incidentId: string): Array<{ acked_by: string; source: string; acked_at: number; time_to_ack_ms: number; sla_outcome: string }> {
    return this.sql('SELECT * FROM incident_acks WHERE incident_id = ? ORDER BY id').all(incidentId) as never;
  }

  activeStorm(channel: string): Storm | undefined {
    return this.sql('SELECT * FROM storms WHERE channel = ? AND ended_at IS NULL ORDER BY id DESC LIMIT 1')
      .get(channel) as Storm | undefined;
  }

  getStorm(id: number): Storm | undefined {
    return this.sql('SELECT * FROM storms WHERE id = ?').get(id) as Storm | undefined;
  }

  startStorm(channel: string, now: number): Storm {
    const info = this.sql('INSERT INTO storms (channel, started_at) VALUES (?, ?)').run(channel, now);
    return { id: Number(info.lastInsertRowid), channel, started_at: now, ended_at: null };
  }

  endStorm(id: number, now: number): void {
    this.sql('UPDATE storms SET ended_at = ? WHERE id = ?').run(now, id);
  }

  /** Makes the incident the storm's next member. */
  joinStorm(incidentId: string, stormId: number): void {
    this.sql('UPDATE incidents SET storm_id = ?, storm_seq = (SELECT COALESCE(MAX(storm_seq), 0) + 1 FROM incidents WHERE storm_id = ?) WHERE id = ?')
      .run(stormId, stormId, incidentId);
  }

  /** How many incidents have joined the storm so far (a summary's revision). */
  stormSize(stormId: number): number {
    return this.sql('SELECT COALESCE(MAX(storm_seq), 0) FROM incidents WHERE storm_id = ?').pluck().get(stormId) as number;
  }

  /** Unacknowledged incidents of a priority among the storm's members, by their place: (after, upTo]. */
  stormTriggered(stormId: number, priority: string, after: number, upTo: number): Incident[] {
    return this.sql(
        `SELECT * FROM incidents WHERE storm_id = ? AND storm_seq > ? AND storm_seq <= ? AND priority = ? AND status = 'triggered' ORDER BY storm_seq`,
      )
      .all(stormId, after, upTo, priority) as Incident[];
  }

  /**
   * The storm summary's figures. Loading every incident of a long storm to count them took over 200 ms of
   * the event loop at 10,000 incidents, once per pacing interval, and held up webhooks meanwhile.
   */
  stormSummary(stormId: number, limits: { newest: number; waitingLimit: number }): StormSummary {
    const byPriority = this.sql(
        `SELECT priority, COUNT(*) AS count, SUM(status != 'resolved') AS open, SUM(status = 'triggered') AS triggered,
                SUM(alert_posted = 0) AS waiting, MAX(IFNULL(storm_seq, 0)) AS rev
         FROM incidents WHERE storm_id = ? GROUP BY priority ORDER BY priority`,
      )
      .all(stormId) as Array<{ priority: string; count: number; open: number; triggered: number; waiting: number; rev: number }>;
    const newest = this.sql('SELECT priority, number, title FROM incidents WHERE storm_id = ? ORDER BY created_at DESC, number DESC LIMIT ?')
      .all(stormId, limits.newest) as StormSummary['newest'];
    const waiting = this.sql('SELECT number FROM incidents WHERE storm_id = ? AND alert_posted = 0 ORDER BY created_at, number LIMIT ?')
      .pluck()
      .all(stormId, limits.waitingLimit) as number[];
    const sum = (pick: (row: (typeof byPriority)[number]) => number): number => byPriority.reduce((total, row) => total + pick(row), 0);
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

  /** The next storm incident without its own message, most urgent first. */
  nextUnposted(stormId: number): Incident | undefined {
    return this.sql(
        `SELECT * FROM incidents WHERE storm_id = ? AND alert_posted = 0 ORDER BY ${PRIORITY_ORDER}, created_at, number LIMIT 1`,
      )
      .get(stormId) as Incident | undefined;
  }

  openedBetween(since: number, until: number): Incident[] {
    return this.sql('SELECT * FROM incidents WHERE created_at >= ? AND created_at < ? ORDER BY created_at LIMIT 100').all(since, until) as Incident[];
  }

  countRecent(since: number): { opened: number; acknowledged: number; breached: number } {
    return this.sql(
        `SELECT SUM(created_at >= @since) AS opened, SUM(acknowledged_at >= @since) AS acknowledged,
                SUM(breached_at >= @since) AS breached FROM incidents`,
      )
      .get({ since }) as { opened: number; acknowledged: number; breached: number };
  }
}
