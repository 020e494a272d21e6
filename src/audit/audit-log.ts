import { createHash, createHmac } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import { DataLayer, all, first, run, type Executor, type Schema } from '../db/data-layer.js';
import type { Clock } from '../clock/clock.js';

/** Every kind of audit row, so a reader of the trail (and a query) can rely on the names. */
export const AUDIT_ACTIONS = [
  'incident.opened',
  'incident.acknowledged',
  'incident.resolved',
  'incident.sla_breached',
  'permission.denied',
  'backup.run',
  'job.run',
  'digest.posted',
  'digest.reviewed',
  /** From this entry on, the chain is keyed with the audit key it names (a switch-over or a key rotation). */
  'audit.keyed',
  'incident.escalated',
  'oncall.handoff',
  'oncall.override',
  'incident.note_added',
  'incident.reassigned',
  'incident.priority_changed',
  'incident.declared',
  'sop.started',
  'sop.step',
  'sop.approved',
  'sop.rejected',
  'sop.override',
  'sop.ended',
  /** Someone took a copy of the trail out of Slack (`/waygate audit export`): who, and which days. */
  'audit.exported',
  /** API keys (SOP-SEC-002): name, owner and action only, never the key or its hash. */
  'key.created',
  'key.rotated',
  'key.rotation_script',
  'key.grace_ended',
  'key.revoked',
  /** SOP-COMP-001: the weekly reminder of overdue compliance items, and a disaster recovery test run by hand. */
  'compliance.reminded',
  'backup.restore_test',
  /** Every `/waygate` command: who, the verb and its arguments, and how it ended (ok, usage, denied, error). */
  'command.run',
  /** Every click and modal submission: who, the element (action or callback id), how it ended. */
  'interaction',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry {
  actor: string;
  action: AuditAction;
  subject?: string;
  details?: Record<string, unknown>;
}

export interface AuditRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  subject: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

type RowContent = Omit<AuditRow, 'id' | 'hash' | 'prev_hash'>;

const GENESIS = '0'.repeat(64);
const SWITCH_OVER: AuditAction = 'audit.keyed';
/** How many rows verify() reads at a time. */
const VERIFY_PAGE = 1_000;

/** Plain SHA-256 link: anyone who can write the database can recompute it. */
function plainHash(prevHash: string, row: RowContent): string {
  return createHash('sha256').update(JSON.stringify([prevHash, row.at, row.actor, row.action, row.subject, row.details])).digest('hex');
}

/** HMAC-SHA256 link: recomputing it needs the key, which lives in the environment, never in the database. */
function keyedHash(key: string, prevHash: string, row: RowContent): string {
  return createHmac('sha256', key).update(JSON.stringify(['hmac-sha256', prevHash, row.at, row.actor, row.action, row.subject, row.details])).digest('hex');
}

/** Names a key in the trail without revealing it, so verify() can pick the right one after a rotation. */
export function auditKeyId(key: string): string {
  return createHmac('sha256', key).update('waygate audit key id').digest('hex').slice(0, 16);
}

function keyIdIn(details: string): string | undefined {
  try {
    const keyId = (JSON.parse(details) as { keyId?: unknown }).keyId;
    return typeof keyId === 'string' ? keyId : undefined;
  } catch {
    return undefined;
  }
}

export type AuditKeying =
  /** Every entry from `since` carries an HMAC under a configured key; the `before` entries predate the key. */
  | { keyed: true; since: number; before: number }
  /** No key configured and no keyed entries: someone who can write the database could rewrite the chain. */
  | { keyed: false; keyMissingFrom?: undefined }
  /** Entries from `keyMissingFrom` are keyed but no key is configured: only the `verified` entries before were checked. */
  | { keyed: false; keyMissingFrom: number; verified: number };

export type AuditVerification =
  /** `keying` is absent only in digests stored before the chain could be keyed. */
  /** `headId`: the id of the head entry (absent for an empty trail, and in digests stored before it was kept). */
  | { ok: true; entries: number; head: string | null; headId?: number; keying?: AuditKeying }
  /**
   * `entry` is the row at `brokenAt` when it exists (an edited or re-linked row), so a reader can find it;
   * absent when the break is rows missing after the last one, or in digests stored before it was kept.
   */
  | { ok: false; brokenAt: number; reason: string; entry?: BrokenEntry };

/** The row a broken chain breaks at, as the verifier found it (its content may be the tampered one). */
export interface BrokenEntry {
  id: number;
  at: number;
  actor: string;
  action: string;
  subject: string | null;
}

function brokenEntry(row: AuditRow): BrokenEntry {
  return { id: row.id, at: row.at, actor: row.actor, action: row.action, subject: row.subject };
}

/**
 * Append-only, hash-chained audit trail: each entry's hash covers the one before it, so editing or deleting a
 * row is detectable by verify(). Record inside the transaction of the action it describes.
 *
 * With audit keys (WAYGATE_AUDIT_KEY, newest first) the links are HMACs, so someone who can write the
 * database but does not have the key cannot recompute the chain after an edit. Entries written before a key
 * was configured stay plain-hashed: the first start with a key appends an `audit.keyed` entry, itself keyed,
 * whose link covers the last plain hash and so freezes everything before it. A new key is rotated in the same
 * way; older keys stay configured (after the newest) for as long as their entries should verify.
 */
export class AuditLog {
  /** The key new entries are chained with; none when no key is configured. */
  private readonly writeKey: { id: string; key: string } | undefined;
  private readonly keysById: Map<string, string>;
  private readonly data: DataLayer;
  /** Whether init() has put the chain under the current key; nothing may be recorded before (a keyed link without it would break the chain). */
  private initialised = false;

  constructor(
    data: DataLayer,
    private readonly clock: Clock,
    keys: readonly string[] = [],
  ) {
    this.data = data;
    this.keysById = new Map(keys.map((key) => [auditKeyId(key), key]));
    const current = keys[0];
    if (current !== undefined) this.writeKey = { id: auditKeyId(current), key: current };
  }

  /**
   * Awaited at start-up before anything records: appends the switch-over entry when the chain is not yet under the
   * current key (the first start with a key, or a rotation). Without a key there is nothing to do.
   */
  async init(): Promise<void> {
    const key = this.writeKey;
    if (key) {
      await this.data.transaction(async (tx) => {
        const latest = await first(tx, sql<AuditRow>`SELECT * FROM audit_log WHERE action = ${SWITCH_OVER} ORDER BY id DESC LIMIT 1`);
        const previous = latest ? (keyIdIn(latest.details) ?? 'unknown') : 'unkeyed';
        if (previous === key.id) return;
        const entriesBefore = Number((await first(tx, sql<{ n: number }>`SELECT COUNT(*) AS n FROM audit_log`))?.n ?? 0);
        await this.append(tx, [{ actor: 'waygate', action: SWITCH_OVER, details: { keyId: key.id, previous, entriesBefore } }]);
      });
    }
    this.initialised = true;
  }

  /**
   * The id of the first keyed entry when the chain is keyed, else null. Start-up warns when it is keyed but no key
   * is configured: new entries are then plain-hashed, and verify() with the key will report them.
   */
  async keyedSince(ex: Executor = this.data.db): Promise<number | null> {
    const row = await first(ex, sql<{ id: number | null }>`SELECT MIN(id) AS id FROM audit_log WHERE action = ${SWITCH_OVER}`);
    return row?.id === undefined || row.id === null ? null : Number(row.id);
  }

  /** Appends an entry in the caller's transaction `ex` (in one of its own when `ex` is not a transaction). */
  async record(ex: Executor, entry: AuditEntry): Promise<void> {
    await this.recordAll(ex, [entry]);
  }

  /** Appends entries in order, in the caller's transaction or one of their own (one commit for a batch). */
  async recordAll(ex: Executor, entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    this.assertInitialised();
    // The read of the previous hash and the inserts must not interleave with another writer.
    await this.data.within(ex, (tx) => this.append(tx, entries));
  }

  private async append(tx: Transaction<Schema>, entries: readonly AuditEntry[]): Promise<void> {
    // On PostgreSQL two transactions could read the same last hash and fork the chain: appends take turns, the
    // writers' turn (see DataLayer.writerTurn), which also orders them with the outbox.
    await this.data.writerTurn(tx);
    const last = await first(tx, sql<{ hash: string }>`SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1`);
    let prevHash = last?.hash ?? GENESIS;
    for (const row of this.chain(entries)) {
      const hash = this.link(prevHash, row);
      await run(
        tx,
        sql`INSERT INTO audit_log (at, actor, action, subject, details, prev_hash, hash)
            VALUES (${row.at}, ${row.actor}, ${row.action}, ${row.subject}, ${row.details}, ${prevHash}, ${hash})`,
      );
      prevHash = hash;
    }
  }

  private assertInitialised(): void {
    if (this.writeKey && !this.initialised) throw new Error('the audit trail was written before AuditLog.init() put it under the audit key');
  }

  /** The rows entries become, stamped now. */
  private chain(entries: readonly AuditEntry[]): RowContent[] {
    const at = this.clock.nowMs();
    return entries.map((entry) => ({
      at,
      actor: entry.actor,
      action: entry.action,
      subject: entry.subject ?? null,
      details: JSON.stringify(entry.details ?? {}),
    }));
  }

  private link(prevHash: string, row: RowContent): string {
    return this.writeKey ? keyedHash(this.writeKey.key, prevHash, row) : plainHash(prevHash, row);
  }

  async recent(limit: number, ex: Executor = this.data.db): Promise<AuditRow[]> {
    return all(ex, sql<AuditRow>`SELECT * FROM audit_log ORDER BY id DESC LIMIT ${limit}`);
  }

  /** The hash of the entry with this id, if there is one: what an anchor posted earlier is checked against. */
  async hashOf(id: number, ex: Executor = this.data.db): Promise<string | undefined> {
    return (await first(ex, sql<{ hash: string }>`SELECT hash FROM audit_log WHERE id = ${id}`))?.hash;
  }

  /** How many entries were recorded in [from, until) (epoch ms). */
  async countBetween(from: number, until: number, ex: Executor = this.data.db): Promise<number> {
    return Number((await first(ex, sql<{ n: number }>`SELECT COUNT(*) AS n FROM audit_log WHERE at >= ${from} AND at < ${until}`))?.n ?? 0);
  }

  /** The entries recorded in [from, until) (epoch ms), oldest first. */
  async between(from: number, until: number, ex: Executor = this.data.db): Promise<AuditRow[]> {
    return all(ex, sql<AuditRow>`SELECT * FROM audit_log WHERE at >= ${from} AND at < ${until} ORDER BY id`);
  }

  /**
   * Checks the whole chain, in one transaction (in the caller's when `ex` is one), so the rows, the id counter and
   * the head are read from one state of the trail; rows are read a page at a time to keep memory flat.
   */
  async verify(ex: Executor = this.data.db): Promise<AuditVerification> {
    return this.data.within(ex, async (tx) => {
      // After appends in flight: on PostgreSQL their ids are taken before they commit.
      await this.data.writerTurn(tx);
      let prev = GENESIS;
      let count = 0;
      let lastId = 0;
      let segment: { id: string; key: string } | undefined;
      let keyedFrom: { id: number; before: number } | undefined;
      for (;;) {
        const page = await all(tx, sql<AuditRow>`SELECT * FROM audit_log WHERE id > ${lastId} ORDER BY id LIMIT ${VERIFY_PAGE}`);
        for (const row of page) {
          if (row.prev_hash !== prev) return { ok: false, brokenAt: row.id, reason: 'previous-hash link broken', entry: brokenEntry(row) };
          if (row.action === SWITCH_OVER) {
            const keyId = keyIdIn(row.details) ?? 'unknown';
            const key = this.keysById.get(keyId);
            if (key === undefined) {
              if (this.keysById.size === 0) return this.keyMissing(tx, row.id, count, prev);
              return { ok: false, brokenAt: row.id, reason: `keyed with audit key ${keyId}, which is not configured in WAYGATE_AUDIT_KEY`, entry: brokenEntry(row) };
            }
            segment = { id: keyId, key };
            keyedFrom ??= { id: row.id, before: count };
          }
          const expected = segment ? keyedHash(segment.key, prev, row) : plainHash(prev, row);
          if (expected !== row.hash) {
            return { ok: false, brokenAt: row.id, reason: segment ? 'content does not match its HMAC' : 'content does not match hash', entry: brokenEntry(row) };
          }
          prev = row.hash;
          count++;
          lastId = row.id;
        }
        if (page.length < VERIFY_PAGE) break;
      }
      // A tripwire, not a proof: the counter is in the database too, but deleting rows does not lower it.
      const counter = await this.idCounter(tx);
      if (counter > lastId) {
        const reason = count === 0 ? `all ${counter} entries are missing: the trail was emptied` : `entries after #${lastId} are missing (the id counter is at #${counter})`;
        return { ok: false, brokenAt: lastId + 1, reason };
      }
      if (this.writeKey && segment?.id !== this.writeKey.id) {
        // Start-up put the chain under the current key; without such an entry the keyed part was cut off or rewritten.
        return { ok: false, brokenAt: lastId + 1, reason: 'no entry is signed with the current audit key: the keyed entries were removed or the chain rewritten' };
      }
      const keying: AuditKeying = keyedFrom ? { keyed: true, since: keyedFrom.id, before: keyedFrom.before } : { keyed: false };
      return { ok: true, entries: count, head: count > 0 ? prev : null, ...(count > 0 ? { headId: lastId } : {}), keying };
    });
  }

  /** The highest id the table ever handed out (deleting rows does not lower it); 0 before the first entry. */
  private async idCounter(tx: Transaction<Schema>): Promise<number> {
    const row =
      this.data.dialect === 'postgres'
        ? // PostgreSQL's sequences are not transactional (a rolled-back insert leaves a gap): a trigger keeps this one.
          await first(tx, sql<{ seq: number | null }>`SELECT last_id AS seq FROM audit_counter WHERE id = 1`)
        : await first(tx, sql<{ seq: number | null }>`SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'`);
    return Number(row?.seq ?? 0);
  }

  /** The chain is keyed from `from` on, and there is no key to check it: say how far it was checked. */
  private async keyMissing(tx: Transaction<Schema>, from: number, verified: number, prevHash: string): Promise<AuditVerification> {
    const head = await first(tx, sql<{ id: number; hash: string }>`SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`);
    const entries = Number((await first(tx, sql<{ n: number }>`SELECT COUNT(*) AS n FROM audit_log`))?.n ?? 0);
    return { ok: true, entries, head: head?.hash ?? prevHash, ...(head ? { headId: head.id } : {}), keying: { keyed: false, keyMissingFrom: from, verified } };
  }
}
