import { sql } from 'kysely';
import type { Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import { all, first, run, type DataLayer, type Executor, type Schema } from '../db/data-layer.js';
import type { Clock } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Deadlines, DueDeadline } from '../core/deadlines.js';
import type { ProcessRunner, RunResult } from '../runner/runner.js';
import type { ScriptSpec } from '../sops/scripts.js';
import { generateApiKey, type KeyHasher } from './key-hash.js';

/** The deadline owner of rotation grace periods. */
export const GRACE_DEADLINES = 'api-key-grace';
/** The YAML `scripts:` entry run after a rotation, with the new key on stdin. */
export const ROTATION_SCRIPT = 'rotate-api-keys';
/** Names are typed in Slack and shown in lists: short, no spaces or markup. */
export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type ApiKeyStatus = 'active' | 'grace' | 'revoked';

/** A key version as lists show it: never the hash. */
export interface ApiKeyInfo {
  id: number;
  name: string;
  owner: string;
  createdBy: string;
  createdAt: number;
  rotatedAt: number | null;
  status: ApiKeyStatus;
  graceUntil: number | null;
  revokedAt: number | null;
  revokeReason: string | null;
}

interface Row {
  id: number;
  name: string;
  owner: string;
  hash: string;
  created_by: string;
  created_at: number;
  rotated_at: number | null;
  status: ApiKeyStatus;
  grace_until: number | null;
  revoked_at: number | null;
  revoke_reason: string | null;
}

const info = (r: Row): ApiKeyInfo => ({
  id: r.id,
  name: r.name,
  owner: r.owner,
  createdBy: r.created_by,
  createdAt: r.created_at,
  rotatedAt: r.rotated_at,
  status: r.status,
  graceUntil: r.grace_until,
  revokedAt: r.revoked_at,
  revokeReason: r.revoke_reason,
});

/** When a key version was issued: its rotation, or the creation of the name. */
export const issuedAt = (k: Pick<ApiKeyInfo, 'createdAt' | 'rotatedAt'>): number => k.rotatedAt ?? k.createdAt;

/**
 * A freshly issued key. `key` lives only in memory: shown once in the command's reply and, after a
 * rotation, written to the rotation script's stdin; nothing that persists ever sees it.
 */
export type Issued = { ok: true; key: string; info: ApiKeyInfo } | { ok: false; problem: string };

export type RotationOutcome = { ran: false; reason: string } | { ran: true; result: RunResult };

export interface ApiKeyServiceOptions {
  data: DataLayer;
  /**
   * The synchronous handle, for what `/waygate key` does: it must answer synchronously (a reply holding a key
   * must never miss the ack budget and be queued in the outbox), so create, rotate, revoke and list stay
   * synchronous until commands can keep a late reply out of the outbox.
   */
  db: Db;
  clock: Clock;
  logger: Logger;
  audit: AuditLog;
  deadlines: Deadlines;
  hasher: KeyHasher;
  /** How long a rotated-out key keeps working (YAML `keys.rotationGrace`). */
  graceMs: number;
  runner: ProcessRunner;
  /** YAML `scripts.rotate-api-keys`, when configured. */
  rotationScript: ScriptSpec | undefined;
}

const graceKey = (id: number): string => `key:${id}`;

/** API keys (SOP-SEC-002): issue, rotate with a grace period, revoke, verify, and find the stale ones. */
export class ApiKeyService {
  private readonly db: Db;
  private readonly insert;
  private readonly byId;
  private readonly liveByName;
  private readonly activeByName;
  private readonly all;

  constructor(private readonly opts: ApiKeyServiceOptions) {
    const { db } = opts;
    this.db = db;
    this.insert = db.prepare(
      `INSERT INTO api_keys (name, owner, hash, created_by, created_at, rotated_at, status)
       VALUES (@name, @owner, @hash, @created_by, @created_at, @rotated_at, 'active')`,
    );
    this.byId = db.prepare('SELECT * FROM api_keys WHERE id = ?');
    this.liveByName = db.prepare("SELECT * FROM api_keys WHERE name = ? AND status IN ('active', 'grace') ORDER BY id DESC");
    this.activeByName = db.prepare("SELECT * FROM api_keys WHERE name = ? AND status = 'active'");
    this.all = db.prepare('SELECT * FROM api_keys ORDER BY name, id DESC');
  }

  /** Whether `rotate` will run a script after it. */
  get rotationScriptConfigured(): boolean {
    return this.opts.rotationScript !== undefined;
  }

  get graceMs(): number {
    return this.opts.graceMs;
  }

  /**
   * Issues a new key. Synchronous on purpose: the command's reply is ready before any ack-budget timer can
   * fire, so the key is never handed to the late-reply path, which would queue it in the outbox.
   */
  create(name: string, owner: string, actor: string): Issued {
    if (!KEY_NAME.test(name)) return { ok: false, problem: `a key name is letters, digits, \`.\`, \`_\` and \`-\`, at most 64 (got "${name}")` };
    const key = generateApiKey();
    const hash = this.opts.hasher.hash(key);
    const now = this.opts.clock.nowMs();
    return this.db.transaction((): Issued => {
      if (this.activeByName.get(name)) return { ok: false, problem: `there is already a key named \`${name}\`: rotate or revoke it` };
      const id = Number(this.insert.run({ name, owner, hash, created_by: actor, created_at: now, rotated_at: null }).lastInsertRowid);
      this.opts.audit.recordSync({ actor, action: 'key.created', subject: name, details: { owner } });
      return { ok: true, key, info: info(this.byId.get(id) as Row) };
    })();
  }

  /** Issues a new key for `name`; the old one keeps working for the grace period, then is revoked. */
  rotate(name: string, actor: string): Issued & { graceUntil?: number } {
    const key = generateApiKey();
    const hash = this.opts.hasher.hash(key);
    const now = this.opts.clock.nowMs();
    const graceUntil = now + this.opts.graceMs;
    return this.db.transaction(() => {
      const old = this.activeByName.get(name) as Row | undefined;
      if (!old) return { ok: false as const, problem: `there is no active key named \`${name}\`` };
      this.db.prepare("UPDATE api_keys SET status = 'grace', grace_until = ? WHERE id = ?").run(graceUntil, old.id);
      this.opts.deadlines.scheduleSync(GRACE_DEADLINES, graceKey(old.id), graceUntil);
      const id = Number(this.insert.run({ name, owner: old.owner, hash, created_by: actor, created_at: old.created_at, rotated_at: now }).lastInsertRowid);
      this.opts.audit.recordSync({ actor, action: 'key.rotated', subject: name, details: { owner: old.owner, graceUntil: new Date(graceUntil).toISOString() } });
      return { ok: true as const, key, info: info(this.byId.get(id) as Row), graceUntil };
    })();
  }

  /** Revokes every live version of `name` at once (the active key and any still in its grace period). Synchronous: see `db`. */
  revoke(name: string, actor: string, reason: string): { ok: true; versions: number; owner: string } | { ok: false; problem: string } {
    const now = this.opts.clock.nowMs();
    return this.db.transaction(() => {
      const live = this.liveByName.all(name) as Row[];
      if (live.length === 0) return { ok: false as const, problem: `there is no live key named \`${name}\`` };
      for (const row of live) {
        this.markRevokedSync(row.id, now, actor, reason);
        if (row.status === 'grace') this.opts.deadlines.cancelSync(GRACE_DEADLINES, graceKey(row.id));
      }
      const owner = live[0]!.owner;
      this.opts.audit.recordSync({ actor, action: 'key.revoked', subject: name, details: { owner, reason, versions: live.length } });
      return { ok: true as const, versions: live.length, owner };
    })();
  }

  /** True when `presented` is the active key of `name`, or one still inside its grace period. Constant-time per version. */
  async verify(name: string, presented: string): Promise<boolean> {
    const now = this.opts.clock.nowMs();
    let ok = false;
    const live = await all(this.opts.data.db, sql<Row>`SELECT * FROM api_keys WHERE name = ${name} AND status IN ('active', 'grace') ORDER BY id DESC`);
    for (const row of live) {
      // The grace deadline revokes it; checked here too so a deadline firing late never extends the grace.
      if (row.status === 'grace' && (row.grace_until ?? 0) <= now) continue;
      // No early exit: every live version is checked, so the time taken does not say which matched.
      if (this.opts.hasher.matches(presented, row.hash)) ok = true;
    }
    return ok;
  }

  /** Every version, by name (newest first within a name). Synchronous: see `db`. */
  list(): ApiKeyInfo[] {
    return (this.all.all() as Row[]).map(info);
  }

  /** Active keys issued (created or last rotated) more than `olderThanMs` ago. */
  async stale(now: number, olderThanMs: number, ex: Executor = this.opts.data.db): Promise<ApiKeyInfo[]> {
    const active = await all(ex, sql<Row>`SELECT * FROM api_keys WHERE status = 'active' ORDER BY name, id DESC`);
    return active.map(info).filter((k) => now - issuedAt(k) > olderThanMs);
  }

  /**
   * Runs `scripts.rotate-api-keys` with the new key on stdin (never argv, environment or a file), and
   * audits its outcome (never the key). Called after the ack: the script may take longer than Slack waits.
   */
  async deliverRotated(name: string, key: string, actor: string): Promise<RotationOutcome> {
    const spec = this.opts.rotationScript;
    if (!spec) return { ran: false, reason: 'no `scripts.rotate-api-keys` is configured' };
    // The key goes to stdin only; an argv placeholder could never be filled with it, so refuse any.
    if (spec.run.some((arg) => /\{[a-z]+\}/.test(arg))) {
      return { ran: false, reason: '`scripts.rotate-api-keys` may not use placeholders: the key is given on stdin' };
    }
    const result = await this.opts.runner.run({ argv: spec.run, timeoutMs: spec.timeout, ...(spec.cwd ? { cwd: spec.cwd } : {}), input: `${key}\n` });
    // Recorded after the script, in a transaction of its own: none is held while it runs.
    await this.opts.audit.record(this.opts.data.db, {
      actor,
      action: 'key.rotation_script',
      subject: name,
      details: { ok: result.ok, exitCode: result.exitCode, timedOut: result.timedOut, failedToStart: result.failedToStart },
    });
    // The output is the script's, and could echo what it read: it is neither logged nor shown.
    this.opts.logger.info({ apiKey: name, ok: result.ok, exitCode: result.exitCode, timedOut: result.timedOut }, 'API key rotation script finished');
    return { ran: true, result };
  }

  /** Grace periods that ended: those versions are revoked. Runs inside the deadlines' transaction. */
  async endGrace(due: readonly DueDeadline[], now: number, tx: Transaction<Schema>): Promise<void> {
    for (const d of due) {
      const row = await first(tx, sql<Row>`SELECT * FROM api_keys WHERE id = ${Number(d.key.slice('key:'.length))}`);
      if (!row || row.status !== 'grace') continue; // revoked by hand meanwhile
      await run(tx, sql`UPDATE api_keys SET status = 'revoked', revoked_at = ${now}, revoked_by = 'waygate', revoke_reason = 'rotated: grace period ended' WHERE id = ${row.id}`);
      await this.opts.audit.record(tx, { actor: 'waygate', action: 'key.grace_ended', subject: row.name, details: { owner: row.owner } });
    }
  }

  private markRevokedSync(id: number, now: number, actor: string, reason: string): void {
    this.db.prepare("UPDATE api_keys SET status = 'revoked', revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE id = ?").run(now, actor, reason, id);
  }
}
