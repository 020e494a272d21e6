/**
 * Numbered, append-only schema migrations. Never edit a released migration: add the next number.
 */
export interface Migration {
  version: number;
  name: string;
  /** SQLite's text. */
  sql: string;
  /**
   * PostgreSQL's text, for migrations after 15 (PostgreSQL starts from the schema of 15 at once:
   * postgres-schema.ts). A migration without one cannot be applied to PostgreSQL, and start-up says so.
   */
  postgres?: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'outbox, slack messages, job runs, audit log',
    sql: `
      CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        lane            TEXT    NOT NULL,
        kind            TEXT    NOT NULL, -- validated in code: new kinds must not need a table rebuild
        payload         TEXT    NOT NULL,
        message_key     TEXT,
        status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        delivered_at    INTEGER,
        last_error      TEXT
      );
      CREATE INDEX outbox_pending ON outbox (status, lane, id);

      -- Logical message keys (e.g. "job:housekeeping:42") mapped to the Slack message they became, so a
      -- later chat.update or thread reply can be queued before the first post has been delivered.
      CREATE TABLE slack_messages (
        key        TEXT PRIMARY KEY,
        channel    TEXT    NOT NULL,
        ts         TEXT    NOT NULL,
        created_at INTEGER NOT NULL
      );

      CREATE TABLE job_runs (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        job          TEXT    NOT NULL,
        trigger      TEXT    NOT NULL CHECK (trigger IN ('schedule', 'manual')),
        triggered_by TEXT,
        started_at   INTEGER NOT NULL,
        finished_at  INTEGER,
        outcome      TEXT    NOT NULL CHECK (outcome IN ('running', 'ok', 'failed', 'interrupted')),
        summary      TEXT,
        error        TEXT
      );
      CREATE INDEX job_runs_by_job ON job_runs (job, id);

      -- Append-only; each row's hash covers the previous row's hash, so an edit or deletion breaks the chain.
      CREATE TABLE audit_log (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        at        INTEGER NOT NULL,
        actor     TEXT    NOT NULL,
        action    TEXT    NOT NULL,
        subject   TEXT,
        details   TEXT    NOT NULL,
        prev_hash TEXT    NOT NULL,
        hash      TEXT    NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'incidents, acknowledgements, webhook deduplication, alert storms',
    sql: `
      CREATE TABLE incidents (
        id              TEXT    PRIMARY KEY,           -- PagerDuty incident id
        number          INTEGER NOT NULL,
        title           TEXT    NOT NULL,
        status          TEXT    NOT NULL CHECK (status IN ('triggered', 'acknowledged', 'resolved')),
        priority        TEXT    NOT NULL,              -- P1..P5 as used for the SLA
        pd_priority     TEXT,                          -- PagerDuty's own priority; null when derived from urgency
        urgency         TEXT,
        service         TEXT,
        html_url        TEXT,
        assignees       TEXT    NOT NULL DEFAULT '[]', -- JSON array of names
        created_at      INTEGER NOT NULL,              -- when PagerDuty opened it: the SLA clock starts here
        last_event_at   INTEGER NOT NULL,              -- occurred_at of the newest change applied (ordering guard)
        acknowledged_at INTEGER,
        acknowledged_by TEXT,
        resolved_at     INTEGER,
        resolved_by     TEXT,
        sla_deadline    INTEGER,
        sla_warn_at     INTEGER,
        sla_state       TEXT    NOT NULL DEFAULT 'running'
                        CHECK (sla_state IN ('running', 'warned', 'breached', 'met', 'stopped')),
        breached_at     INTEGER,
        escalations     INTEGER NOT NULL DEFAULT 0,
        alert_channel   TEXT,
        alert_posted    INTEGER NOT NULL DEFAULT 0,    -- 0 while only a storm summary shows it
        pd_sync         TEXT,                          -- pending | synced while a Slack-side change travels to PagerDuty
        storm_id        INTEGER,
        updated_at      INTEGER NOT NULL
      );
      CREATE INDEX incidents_open ON incidents (status, priority);
      -- The SLA timer asks for the earliest reminder and deadline on every change: keep both O(log n).
      CREATE INDEX incidents_sla_warn ON incidents (status, sla_state, sla_warn_at);
      CREATE INDEX incidents_sla_deadline ON incidents (status, sla_state, sla_deadline);
      CREATE INDEX incidents_number ON incidents (number);
      CREATE INDEX incidents_unposted ON incidents (storm_id, alert_posted);

      CREATE TABLE incident_acks (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id      TEXT    NOT NULL REFERENCES incidents (id),
        acked_by         TEXT    NOT NULL,             -- Slack user id, or PagerDuty user name
        source           TEXT    NOT NULL CHECK (source IN ('slack', 'pagerduty')),
        acked_at         INTEGER NOT NULL,
        time_to_ack_ms   INTEGER NOT NULL,
        sla_outcome      TEXT    NOT NULL CHECK (sla_outcome IN ('met', 'breached'))
      );

      -- The webhook inbox: a verified event is committed here before PagerDuty gets its 2xx, then applied
      -- to incidents in batches. The unique event id makes a redelivery a no-op.
      CREATE TABLE webhook_inbox (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id     TEXT    NOT NULL UNIQUE,
        event        TEXT    NOT NULL,              -- the normalised IncidentEvent as JSON
        received_at  INTEGER NOT NULL,
        processed_at INTEGER,
        result       TEXT                           -- applied | stale | ignored | failed: <reason>
      );
      CREATE INDEX webhook_inbox_pending ON webhook_inbox (seq) WHERE processed_at IS NULL;

      CREATE TABLE storms (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        channel     TEXT    NOT NULL,
        started_at  INTEGER NOT NULL,
        ended_at    INTEGER
      );
    `,
  },
  {
    version: 3,
    name: 'health samples, service state, digests',
    sql: `
      CREATE TABLE health_samples (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          INTEGER NOT NULL,
        ok          INTEGER NOT NULL,             -- 1 healthy, 0 failed
        http_status INTEGER,                      -- null when no HTTP answer (refused, timeout)
        latency_ms  INTEGER,
        summary     TEXT    NOT NULL              -- short body summary or the error
      );
      CREATE INDEX health_samples_at ON health_samples (at);

      -- Small durable facts: whether the service is down, since when, the PagerDuty dedup key in use,
      -- where the last digest stopped reading the log.
      CREATE TABLE service_state (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );

      CREATE TABLE digests (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          INTEGER NOT NULL,
        channel     TEXT,
        data        TEXT    NOT NULL,             -- what the digest showed, so "Reviewed" can re-render it
        reviewed_by TEXT,
        reviewed_at INTEGER
      );
    `,
  },
  {
    version: 4,
    name: 'durable deadlines; job runs become execution records',
    sql: `
      -- One table of deadlines for every module (SLA reminders and escalations now; approval expiries and
      -- procedure reminders next). One timer is armed for the earliest pending row.
      CREATE TABLE deadlines (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        owner      TEXT    NOT NULL,              -- the module whose handler fires it, e.g. incident-sla
        key        TEXT    NOT NULL,              -- unique per owner while pending, e.g. "<incident id>:warn"
        due_at     INTEGER NOT NULL,
        payload    TEXT    NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        fired_at   INTEGER,
        fired_late INTEGER                        -- 1 when it fired more than a minute late (bot was down)
      );
      CREATE UNIQUE INDEX deadlines_pending_key ON deadlines (owner, key) WHERE fired_at IS NULL;
      CREATE INDEX deadlines_pending_due ON deadlines (due_at) WHERE fired_at IS NULL;

      -- Work that runs outside a request (jobs; procedure scripts and checks next). A row is committed before
      -- the work starts, so a crash leaves "interrupted" or "queued", never nothing.
      CREATE TABLE executions (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        kind         TEXT    NOT NULL,
        name         TEXT    NOT NULL,
        trigger      TEXT    NOT NULL CHECK (trigger IN ('schedule', 'manual')),
        triggered_by TEXT,
        queued_at    INTEGER NOT NULL,
        started_at   INTEGER,
        finished_at  INTEGER,
        status       TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'ok', 'failed', 'interrupted')),
        summary      TEXT,
        error        TEXT,
        notify       TEXT                           -- JSON: where to report the outcome to whoever asked
      );
      INSERT INTO executions (id, kind, name, trigger, triggered_by, queued_at, started_at, finished_at, status, summary, error)
        SELECT id, 'job', job, trigger, triggered_by, started_at, started_at, finished_at, outcome, summary, error FROM job_runs;
      DROP TABLE job_runs;
      CREATE INDEX executions_by_name ON executions (kind, name, id);
      CREATE INDEX executions_open ON executions (kind, status) WHERE status IN ('queued', 'running');
      CREATE INDEX executions_finished ON executions (kind, finished_at);

      -- The SLA timer that searched incidents for due reminders is gone; the deadlines table replaces its indexes.
      DROP INDEX incidents_sla_warn;
      DROP INDEX incidents_sla_deadline;

      -- Open incidents keep their SLA reminders and deadlines across the upgrade.
      INSERT INTO deadlines (owner, key, due_at, created_at)
        SELECT 'incident-sla', id || ':warn', sla_warn_at, updated_at FROM incidents
        WHERE status = 'triggered' AND sla_state = 'running' AND sla_warn_at IS NOT NULL;
      INSERT INTO deadlines (owner, key, due_at, created_at)
        SELECT 'incident-sla', id || ':breach', sla_deadline, updated_at FROM incidents
        WHERE status = 'triggered' AND sla_state IN ('running', 'warned') AND sla_deadline IS NOT NULL;
    `,
  },
  {
    version: 5,
    name: 'outbox priorities within a lane',
    sql: `
      -- 2 urgent (new alerts, SLA reminders and breaches), 1 normal, 0 refresh (chat.update of a shown message).
      -- Within a lane the most urgent pending row goes first, then the oldest: a bulk acknowledgement's card
      -- refreshes no longer hold back the next alert.
      ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
      UPDATE outbox SET priority = 0 WHERE kind = 'update';
      CREATE INDEX outbox_lane_queue ON outbox (lane, priority DESC, id) WHERE status = 'pending';
      -- The pending rows of one message (its post, its update): to coalesce updates and order thread replies.
      CREATE INDEX outbox_pending_messages ON outbox (message_key, id) WHERE status = 'pending' AND message_key IS NOT NULL;
    `,
  },
  {
    version: 6,
    name: "PagerDuty events ordered by PagerDuty's own timestamps; storm members numbered",
    sql: `
      -- last_event_at was stamped by changes made in Slack with the bot's clock too, and PagerDuty's later
      -- events were compared with it: a resolve or a reopening could be dropped as stale. PagerDuty events
      -- are now ordered only against the newest PagerDuty event applied. last_event_at stays as the time of
      -- the newest change from either side and no longer orders anything.
      ALTER TABLE incidents ADD COLUMN last_pd_event_at INTEGER;
      UPDATE incidents SET last_pd_event_at = pd.at
        FROM (SELECT json_extract(event, '$.incidentId') AS id, MAX(json_extract(event, '$.occurredAt')) AS at
              FROM webhook_inbox
              WHERE result = 'applied' AND json_extract(event, '$.type') != 'incident.annotated'
              GROUP BY 1) AS pd
        WHERE pd.id = incidents.id;
      -- Where the inbox has forgotten the events (pruned), only PagerDuty's creation time is certainly its own:
      -- accepting an old event there beats dropping a real one.
      UPDATE incidents SET last_pd_event_at = created_at WHERE last_pd_event_at IS NULL;

      -- An incident's place in its storm (1, 2, …): a storm summary carries how many members it showed, so
      -- its "Acknowledge all P1" acts on exactly those, not on incidents that joined after it was drawn.
      ALTER TABLE incidents ADD COLUMN storm_seq INTEGER;
      UPDATE incidents SET storm_seq = s.seq
        FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY storm_id ORDER BY rowid) AS seq FROM incidents WHERE storm_id IS NOT NULL) AS s
        WHERE s.id = incidents.id;
      CREATE INDEX incidents_storm_seq ON incidents (storm_id, storm_seq);
    `,
  },
  {
    version: 7,
    name: 'outbox lane and status counts for constant-cost scheduling',
    sql: `
      -- A lane's next row is the first entry of outbox_lane_queue (migration 5): one index seek, however long
      -- the backlog; the old (status, lane, id) index only served the pass over every pending row.
      DROP INDEX IF EXISTS outbox_pending;
      CREATE INDEX outbox_pending_age ON outbox (created_at) WHERE status = 'pending';

      -- One row per lane that ever had a message: how many rows wait, how urgent the most urgent is, and when
      -- the dispatcher may look at the lane again. Picking the lanes to serve is then a range of an index,
      -- not a pass over every pending row; only a lane's schedule changing, or the lane filling, emptying or
      -- changing its most urgent row, touches that index, not every row queued.
      CREATE TABLE outbox_lanes (
        lane             TEXT    PRIMARY KEY,
        pending          INTEGER NOT NULL DEFAULT 0,  -- kept by the triggers below, as is top_priority
        top_priority     INTEGER,                     -- of the lane's pending rows; null: empty
        paced_until      INTEGER NOT NULL DEFAULT 0,  -- no send before: Slack's pace, a Retry-After
        ready_at         INTEGER,                     -- paced_until, or later while the next row backs off; null: empty
        waiting_priority INTEGER                      -- priority of the row whose backoff ready_at waits for
      ) WITHOUT ROWID;
      INSERT INTO outbox_lanes (lane, pending, top_priority, ready_at)
        SELECT lane, COUNT(*), MAX(priority), 0 FROM outbox WHERE status = 'pending' GROUP BY lane;
      -- Lanes holding urgent rows are served before the rest (a new alert before 10,000 PagerDuty status
      -- changes from a bulk acknowledgement), then those that have waited longest.
      CREATE INDEX outbox_lanes_ready ON outbox_lanes (top_priority, ready_at) WHERE ready_at IS NOT NULL;

      -- /health and /metrics read these instead of counting rows.
      CREATE TABLE outbox_counts (
        status TEXT    PRIMARY KEY,
        n      INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO outbox_counts (status, n) VALUES
        ('pending', (SELECT COUNT(*) FROM outbox WHERE status = 'pending')),
        ('failed', (SELECT COUNT(*) FROM outbox WHERE status = 'failed'));

      -- A row joining a lane: a lane that fills is ready once paced; a row more urgent than the one whose
      -- backoff holds its lane may go at once (Slack's pace permitting); the lane is as urgent as its most
      -- urgent row. The UPDATE writes only when one of these changes.
      CREATE TRIGGER outbox_after_insert AFTER INSERT ON outbox BEGIN
        UPDATE outbox_counts SET n = n + 1 WHERE status = NEW.status;
        INSERT INTO outbox_lanes (lane, pending, top_priority, ready_at) SELECT NEW.lane, 1, NEW.priority, 0 WHERE NEW.status = 'pending'
          ON CONFLICT (lane) DO UPDATE SET pending = pending + 1;
        UPDATE outbox_lanes SET
            ready_at = IIF(ready_at IS NULL OR NEW.priority > waiting_priority, paced_until, ready_at),
            waiting_priority = IIF(ready_at IS NULL OR NEW.priority > waiting_priority, NULL, waiting_priority),
            top_priority = MAX(IFNULL(top_priority, NEW.priority), NEW.priority)
          WHERE lane = NEW.lane AND NEW.status = 'pending'
            AND (ready_at IS NULL OR NEW.priority > waiting_priority OR top_priority IS NULL OR NEW.priority > top_priority);
      END;
      -- A row leaving a lane (sent, given up, superseded): an emptied lane leaves the ready index; when the
      -- most urgent row left, the next one (one index seek) says how urgent the lane is now.
      CREATE TRIGGER outbox_after_status AFTER UPDATE OF status ON outbox WHEN OLD.status <> NEW.status BEGIN
        UPDATE outbox_counts SET n = n - 1 WHERE status = OLD.status;
        UPDATE outbox_counts SET n = n + 1 WHERE status = NEW.status;
        UPDATE outbox_lanes SET pending = pending - 1 WHERE lane = OLD.lane AND OLD.status = 'pending';
        UPDATE outbox_lanes SET ready_at = NULL, waiting_priority = NULL, top_priority = NULL
          WHERE lane = OLD.lane AND OLD.status = 'pending' AND pending = 0;
        UPDATE outbox_lanes SET top_priority = (SELECT priority FROM outbox WHERE status = 'pending' AND lane = OLD.lane ORDER BY priority DESC, id LIMIT 1)
          WHERE lane = OLD.lane AND OLD.status = 'pending' AND pending > 0 AND OLD.priority >= top_priority;
        INSERT INTO outbox_lanes (lane, pending, top_priority, ready_at) SELECT NEW.lane, 1, NEW.priority, 0 WHERE NEW.status = 'pending'
          ON CONFLICT (lane) DO UPDATE SET pending = pending + 1;
        UPDATE outbox_lanes SET ready_at = IFNULL(ready_at, paced_until), top_priority = MAX(IFNULL(top_priority, NEW.priority), NEW.priority)
          WHERE lane = NEW.lane AND NEW.status = 'pending' AND (ready_at IS NULL OR top_priority IS NULL OR NEW.priority > top_priority);
      END;
      CREATE TRIGGER outbox_after_delete AFTER DELETE ON outbox WHEN OLD.status <> 'delivered' BEGIN
        UPDATE outbox_counts SET n = n - 1 WHERE status = OLD.status;
        UPDATE outbox_lanes SET pending = pending - 1 WHERE lane = OLD.lane AND OLD.status = 'pending';
        UPDATE outbox_lanes SET ready_at = NULL, waiting_priority = NULL, top_priority = NULL
          WHERE lane = OLD.lane AND OLD.status = 'pending' AND pending = 0;
        UPDATE outbox_lanes SET top_priority = (SELECT priority FROM outbox WHERE status = 'pending' AND lane = OLD.lane ORDER BY priority DESC, id LIMIT 1)
          WHERE lane = OLD.lane AND OLD.status = 'pending' AND pending > 0 AND OLD.priority >= top_priority;
      END;
    `,
  },
  {
    version: 8,
    name: 'signed Slack requests already handled',
    sql: `
      -- trigger_id (or event_id) of every signed Slack request, kept for the signature window: a replay of
      -- the same signed bytes, or Slack's own retry, is answered without running it again, across restarts.
      CREATE TABLE slack_requests_seen (
        key     TEXT    PRIMARY KEY,
        seen_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX slack_requests_seen_at ON slack_requests_seen (seen_at);
    `,
  },
  {
    version: 9,
    name: 'who acknowledged or resolved an incident: a Slack user or a PagerDuty name',
    sql: `
      -- acknowledged_by and resolved_by hold a Slack user id or a PagerDuty user's name; only a Slack id
      -- Waygate recorded itself may render as a mention, so each says where it came from.
      ALTER TABLE incidents ADD COLUMN acknowledged_source TEXT CHECK (acknowledged_source IN ('slack', 'pagerduty'));
      ALTER TABLE incidents ADD COLUMN resolved_source TEXT CHECK (resolved_source IN ('slack', 'pagerduty'));
      -- Earlier rows learn their source from the acknowledgement and audit records (one pass over each).
      UPDATE incidents SET acknowledged_source = a.source
        FROM (SELECT incident_id, acked_by, source, MAX(id) FROM incident_acks GROUP BY incident_id) AS a
        WHERE a.incident_id = incidents.id AND a.acked_by = incidents.acknowledged_by;
      UPDATE incidents SET resolved_source = r.source
        FROM (
          SELECT json_extract(details, '$.id') AS incident_id, actor, json_extract(details, '$.source') AS source, MAX(id)
          FROM audit_log WHERE action = 'incident.resolved' GROUP BY incident_id
        ) AS r
        WHERE r.incident_id = incidents.id AND r.actor = incidents.resolved_by AND r.source IN ('slack', 'pagerduty');
    `,
  },
  {
    version: 10,
    name: 'on-call overrides',
    sql: `
      -- /waygate oncall override @user <duration>: someone takes the rotation's place for a while.
      CREATE TABLE oncall_overrides (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id    TEXT    NOT NULL,
        starts_at  INTEGER NOT NULL,
        ends_at    INTEGER NOT NULL,
        created_by TEXT    NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX oncall_overrides_ends ON oncall_overrides (ends_at);
    `,
  },
  {
    version: 11,
    name: 'incident changes made in Slack',
    sql: `
      -- The Slack user an incident was assigned to from Slack, shown on the card until PagerDuty assigns someone.
      ALTER TABLE incidents ADD COLUMN assigned_slack TEXT;
      -- /waygate trigger through the Events API: the incident PagerDuty opens for the dedup key takes its
      -- priority and declarer from here, never from the key (which anyone who can send events could forge).
      CREATE TABLE incident_declarations (
        dedup_key  TEXT    PRIMARY KEY,
        slack_user TEXT    NOT NULL,
        priority   TEXT    NOT NULL,
        title      TEXT    NOT NULL,
        created_at INTEGER NOT NULL
      );
      -- A change sent to PagerDuty from Slack comes back as a webhook; it is shown once, when made.
      CREATE TABLE pagerduty_echoes (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT    NOT NULL,
        kind        TEXT    NOT NULL CHECK (kind IN ('note', 'reassign')),
        fingerprint TEXT    NOT NULL,
        created_at  INTEGER NOT NULL
      );
      CREATE INDEX pagerduty_echoes_match ON pagerduty_echoes (incident_id, kind, fingerprint);
    `,
  },
  {
    version: 12,
    name: 'ERROR lines counted by each scheduled digest',
    sql: `
      -- The log is read incrementally (from the byte where the previous scheduled digest stopped) and rotated
      -- weekly, so last week's lines cannot be counted again later: each scheduled digest keeps its count,
      -- and the weekly performance review adds up those of each week.
      CREATE TABLE log_error_counts (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        counted_at  INTEGER NOT NULL,
        error_lines INTEGER NOT NULL
      );
      CREATE INDEX log_error_counts_at ON log_error_counts (counted_at);
    `,
  },
  {
    version: 13,
    name: 'procedure runs',
    sql: `
      -- A run pins the definition it started with (snapshot and content hash): editing a file never changes
      -- a run in flight. state is the run's JSON (steps, ticks, approvals, script outcomes).
      CREATE TABLE sop_runs (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        definition_id   TEXT    NOT NULL,
        definition_hash TEXT    NOT NULL,
        definition      TEXT    NOT NULL,
        requester       TEXT    NOT NULL,
        params          TEXT    NOT NULL,
        channel         TEXT    NOT NULL,
        environment     TEXT,
        status          TEXT    NOT NULL,
        state           TEXT    NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
      );
      -- One open run per environment: the second request is refused by the database itself.
      CREATE UNIQUE INDEX sop_runs_one_per_environment ON sop_runs (environment) WHERE status = 'active' AND environment IS NOT NULL;
      CREATE INDEX sop_runs_definition ON sop_runs (definition_id, id);
      CREATE INDEX sop_runs_status ON sop_runs (status);
    `,
  },
  {
    version: 14,
    name: 'API keys',
    sql: `
      -- SOP-SEC-002. One row per key version: a rotation turns the active row into a 'grace' row (the old key
      -- still works until grace_until) and adds a new active row. Only a salted or keyed hash of a key is
      -- stored (see docs/decisions/016-api-key-storage.md); the key itself is shown once and never written.
      CREATE TABLE api_keys (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        name          TEXT    NOT NULL,
        owner         TEXT    NOT NULL,
        hash          TEXT    NOT NULL,
        created_by    TEXT    NOT NULL,
        -- When the key of this name was first created; kept across rotations.
        created_at    INTEGER NOT NULL,
        -- When this version was issued by a rotation; null for the first version.
        rotated_at    INTEGER,
        status        TEXT    NOT NULL CHECK (status IN ('active', 'grace', 'revoked')),
        grace_until   INTEGER,
        revoked_at    INTEGER,
        revoked_by    TEXT,
        revoke_reason TEXT
      );
      -- One live key per name: a second create of the same name is refused by the database itself.
      CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE status = 'active';
      CREATE INDEX api_keys_name ON api_keys (name, status);
    `,
  },
  {
    version: 15,
    name: 'compliance calendar',
    sql: `
      -- SOP-COMP-001: one row per posted list (key monthly:2026-12, quarterly:2027-Q1, annual:2027,
      -- sop-review:2027-01-14) and per weekly reminder (reminder:2027-W01). The primary key makes each happen
      -- once, also when the daily job runs twice or a restart repeats a day.
      CREATE TABLE compliance_calendar (
        key        TEXT    PRIMARY KEY,
        kind       TEXT    NOT NULL,
        run_id     INTEGER,
        due_at     INTEGER,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX compliance_calendar_run ON compliance_calendar (run_id) WHERE run_id IS NOT NULL;
    `,
  },
  {
    version: 16,
    name: 'executions runner',
    sql: `
      -- The replica (host, pid and a random part) running a procedure script: a new leader marks a script
      -- interrupted only when that replica is gone, not one a live follower is still running. Null for rows
      -- from before; a nullable column, so the version before this one runs beside it.
      ALTER TABLE executions ADD COLUMN runner TEXT;
    `,
    postgres: `ALTER TABLE executions ADD COLUMN runner TEXT;`,
  },
];
