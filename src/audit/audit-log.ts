import { createHash } from 'node:crypto';
import type { Db } from '../db/database.js';
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
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry {
  actor: string;
  action: AuditAction;
  subject?: string;
  details?: Record<string, unknown>;
}

interface AuditRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  subject: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);

function hashOf(prevHash: string, row: Omit<AuditRow, 'id' | 'hash' | 'prev_hash'>): string {
  return createHash('sha256')
    .update(JSON.stringify([prevHash, row.at, row.actor, row.action, row.subject, row.details]))
    .digest('hex');
}

export type AuditVerification =
  | { ok: true; entries: number; head: string | null }
  | { ok: false; brokenAt: number; reason: string };

/**
 * Append-only, hash-chained audit trail: each entry's hash covers the one before it, so editing or
 * deleting a row is detectable by verify(). Record inside the transaction of the action it describes.
 */
export class AuditLog {
  private readonly last;
  private readonly insert;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {
    this.last = db.prepare('SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1').pluck();
    this.insert = db.prepare(
      `INSERT INTO audit_log (at, actor, action, subject, details, prev_hash, hash)
       VALUES (@at, @actor, @action, @subject, @details, @prev_hash, @hash)`,
    );
  }

  record(entry: AuditEntry): void {
    // The read of the previous hash and the insert must not interleave with another writer.
    this.db.transaction(() => {
      const prev_hash = (this.last.get() as string | undefined) ?? GENESIS;
      const row = {
        at: this.clock.nowMs(),
        actor: entry.actor,
        action: entry.action,
        subject: entry.subject ?? null,
        details: JSON.stringify(entry.details ?? {}),
      };
      this.insert.run({ ...row, prev_hash, hash: hashOf(prev_hash, row) });
    })();
  }

  recent(limit: number): AuditRow[] {
    return this.db.prepare('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?').all(limit) as AuditRow[];
  }

  verify(): AuditVerification {
    let prev = GENESIS;
    let count = 0;
    for (const row of this.db.prepare('SELECT * FROM audit_log ORDER BY id').iterate() as Iterable<AuditRow>) {
      if (row.prev_hash !== prev) return { ok: false, brokenAt: row.id, reason: 'previous-hash link broken' };
      if (hashOf(prev, row) !== row.hash) return { ok: false, brokenAt: row.id, reason: 'content does not match hash' };
      prev = row.hash;
      count++;
    }
    return { ok: true, entries: count, head: count > 0 ? prev : null };
  }
}
