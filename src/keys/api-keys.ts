import { sql } from 'kysely';
import type { Transaction } from 'kysely';
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
  constructor(private readonly opts: ApiKeyServiceOptions) {}

  /** Whether `rotate` will run a script after it. */
  get rotationScriptConfigured(): boolean {
    return this.opts.rotationScript !== undefined;
  }

  get graceMs(): number {
    return this.opts.graceMs;
  }

  /**
   * Issues a new key. The command marks its reply secret, so should it ever miss the ack budget the key is
   * not queued in the outbox (CommandReply.secret).
   */
  async create(name: string, owner: string, actor: string): Promise<Issued> {
    if (!KEY_NAME.test(name)) return { ok: false, problem: `a key name is letters, digits, \`.\`, \`_\` and \`-\`, at most 64 (got "${name}")` };
    const key = generateApiKey();
    const hash = this.opts.hasher.hash(key);
    const now = this.opts.clock.nowMs();
    return this.opts.data.transaction(async (tx): Promise<Issued> => {
      if (await this.activeByName(tx, name)) return { ok: false, problem: `there is already a key named \`${name}\`: rotate or revoke it` };
      const row = await this.insert(tx, { name, owner, hash, createdBy: actor, createdAt: now, rotatedAt: null });
      await this.opts.audit.record(tx, { actor, action: 'key.created', subject: name, details: { owner } });
      return { ok: true, key, info: info(row) };
    });
  }

  /** Issues a new key for `name`; the old one keeps working for the grace period, then is revoked. */
  async rotate(name: string, actor: string): Promise<Issued & { graceUntil?: number }> {
    const key = generateApiKey();
    const hash = this.opts.hasher.hash(key);
    const now = this.opts.clock.nowMs();
    const graceUntil = now + this.opts.graceMs;
    return this.opts.data.transaction(async (tx) => {
      const old = await this.activeByName(tx, name);
      if (!old) return { ok: false as const, problem: `there is no active key named \`${name}\`` };
      await run(tx, sql`UPDATE api_keys SET status = 'grace', grace_until = ${graceUntil} WHERE id = ${old.id}`);
      await this.opts.deadlines.schedule(tx, GRACE_DEADLINES, graceKey(old.id), graceUntil);
      const row = await this.insert(tx, { name, owner: old.owner, hash, createdBy: actor, createdAt: old.created_at, rotatedAt: now });
      await this.opts.audit.record(tx, { actor, action: 'key.rotated', subject: name, details: { owner: old.owner, graceUntil: new Date(graceUntil).toISOString() } });
      return { ok: true as const, key, info: info(row), graceUntil };
    });
  }

  /** Revokes every live version of `name` at once (the active key and any still in its grace period). */
  async revoke(name: string, actor: string, reason: string): Promise<{ ok: true; versions: number; owner: string } | { ok: false; problem: string }> {
    const now = this.opts.clock.nowMs();
    return this.opts.data.transaction(async (tx) => {
      const live = await all(tx, sql<Row>`SELECT * FROM api_keys WHERE name = ${name} AND status IN ('active', 'grace') ORDER BY id DESC`);
      if (live.length === 0) return { ok: false as const, problem: `there is no live key named \`${name}\`` };
      for (const row of live) {
        await run(tx, sql`UPDATE api_keys SET status = 'revoked', revoked_at = ${now}, revoked_by = ${actor}, revoke_reason = ${reason} WHERE id = ${row.id}`);
        if (row.status === 'grace') await this.opts.deadlines.cancel(tx, GRACE_DEADLINES, graceKey(row.id));
      }
      const owner = live[0]!.owner;
      await this.opts.audit.record(tx, { actor, action: 'key.revoked', subject: name, details: { owner, reason, versions: live.length } });
      return { ok: true as const, versions: live.length, owner };
    });
  }

  private activeByName(tx: Executor, name: string): Promise<Row | undefined> {
    return first(tx, sql<Row>`SELECT * FROM api_keys WHERE name = ${name} AND status = 'active'`);
  }

  private async insert(
    tx: Executor,
    k: { name: string; owner: string; hash: string; createdBy: string; createdAt: number; rotatedAt: number | null },
  ): Promise<Row> {
    const row = await first(
      tx,
      sql<Row>`INSERT INTO api_keys (name, owner, hash, created_by, created_at, rotated_at, status)
        VALUES (${k.name}, ${k.owner}, ${k.hash}, ${k.createdBy}, ${k.createdAt}, ${k.rotatedAt}, 'active') RETURNING *`,
    );
    if (!row) throw new Error(`the key ${k.name} was not stored`);
    return row;
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

  /** Every version, by name (newest first within a name). */
  async list(): Promise<ApiKeyInfo[]> {
    return (await all(this.opts.data.db, sql<Row>`SELECT * FROM api_keys ORDER BY name, id DESC`)).map(info);
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
}
