/**
 * Numbered, append-only schema migrations. Never edit a released migration: add the next number.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'outbox, slack messages, job runs, audit log',
    sql: `
      CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        lane            TEXT    NOT NULL,
        kind            TEXT    NOT NULL CHECK (kind IN ('post', 'update', 'ephemeral', 'respond')),
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
];
