import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, type AuditEntry } from '../../src/audit/audit-log.js';
import { DataLayer } from '../../src/db/data-layer.js';
import { ManualClock } from '../../src/clock/clock.js';
import { openDatabase, type Db } from '../../src/db/database.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { renderDigest, type DigestData } from '../../src/health/digest.js';

interface RawRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  subject: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

const KEY = 'k'.repeat(16) + 'audit-key-0123456789abcdef';
const NEXT_KEY = 'n'.repeat(16) + 'audit-key-fedcba9876543210';
const GENESIS = '0'.repeat(64);

/** What someone who can write the database file, but has no key, can do: recompute the plain SHA-256 chain. */
function recomputeUnkeyed(db: Db): void {
  let prev = GENESIS;
  for (const row of db.prepare('SELECT * FROM audit_log ORDER BY id').all() as RawRow[]) {
    const hash = createHash('sha256').update(JSON.stringify([prev, row.at, row.actor, row.action, row.subject, row.details])).digest('hex');
    db.prepare('UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?').run(prev, hash, row.id);
    prev = hash;
  }
}

/** The same, with an HMAC under a key of the attacker's choosing. */
function recomputeWithKey(db: Db, key: string): void {
  let prev = GENESIS;
  for (const row of db.prepare('SELECT * FROM audit_log ORDER BY id').all() as RawRow[]) {
    const hash = createHmac('sha256', key).update(JSON.stringify(['hmac-sha256', prev, row.at, row.actor, row.action, row.subject, row.details])).digest('hex');
    db.prepare('UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?').run(prev, hash, row.id);
    prev = hash;
  }
}

describe('the keyed audit chain', () => {
  let dir: string;
  let dbPath: string;
  let db: Db;
  let clock: ManualClock;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-audit-key-'));
    dbPath = join(dir, 'waygate.db');
    db = openDatabase(dbPath);
    clock = new ManualClock('2026-03-02T09:00:00Z');
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const rows = (): RawRow[] => db.prepare('SELECT * FROM audit_log ORDER BY id').all() as RawRow[];
  /** An audit log as start-up leaves it: init() has put the chain under the newest key. */
  const open = async (keys: string[] = []): Promise<AuditLog> => {
    const audit = new AuditLog(DataLayer.sqlite(db), clock, keys);
    await audit.init();
    return audit;
  };
  const reopen = async (keys: string[]): Promise<AuditLog> => {
    db.close();
    db = openDatabase(dbPath);
    return open(keys);
  };
  const record = (audit: AuditLog, entry: AuditEntry) => audit.record(DataLayer.sqlite(db).db, entry);
  async function recordThree(audit: AuditLog): Promise<void> {
    await record(audit, { actor: 'U0ALICE', action: 'job.run', subject: 'housekeeping' });
    clock.advance(60_000);
    await record(audit, { actor: 'U0BOB', action: 'digest.reviewed', subject: 'digest #1' });
    clock.advance(60_000);
    await record(audit, { actor: 'U0CAROL', action: 'backup.run' });
  }

  it('without a key, a recomputed chain still verifies, and verify says the chain is unkeyed', async () => {
    const audit = await open();
    await recordThree(audit);
    db.prepare('UPDATE audit_log SET actor = ? WHERE id = 2').run('U0MALLORY');
    recomputeUnkeyed(db);
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 3, keying: { keyed: false } });
  });

  it('with a key, detects an edited row whose chain was recomputed, with or without a guessed key', async () => {
    const audit = await open([KEY]);
    await recordThree(audit);
    expect(await audit.verify()).toMatchObject({ ok: true, keying: { keyed: true } });
    db.prepare('UPDATE audit_log SET actor = ? WHERE id = 3').run('U0MALLORY');
    recomputeUnkeyed(db);
    expect(await audit.verify()).toMatchObject({ ok: false, brokenAt: 1 });
    recomputeWithKey(db, 'a guessed key that is long enough to pass');
    expect(await audit.verify()).toMatchObject({ ok: false, brokenAt: 1 });
  });

  it('starts a new database with a switch-over entry and chains every entry after it with the key', async () => {
    const audit = await open([KEY]);
    await recordThree(audit);
    const [first, ...rest] = rows();
    expect(first).toMatchObject({ id: 1, actor: 'waygate', action: 'audit.keyed', prev_hash: GENESIS });
    expect(JSON.parse(first!.details)).toMatchObject({ previous: 'unkeyed', entriesBefore: 0 });
    expect(rest).toHaveLength(3);
    expect(await audit.verify()).toEqual({ ok: true, entries: 4, head: rows()[3]!.hash, headId: rows()[3]!.id, keying: { keyed: true, since: 1, before: 0 } });
  });

  it('never writes the key to the database', async () => {
    await recordThree(await open([KEY]));
    db.pragma('wal_checkpoint(TRUNCATE)');
    expect(readFileSync(dbPath).includes(Buffer.from(KEY))).toBe(false);
    expect(JSON.stringify(rows())).not.toContain(KEY);
  });

  describe('a database from before the key', () => {
    it('seals the earlier entries with a switch-over entry: they verify as hash-chained, the rest as keyed', async () => {
      await recordThree(await open());
      const audit = await reopen([KEY]);
      await record(audit, { actor: 'U0DAVE', action: 'job.run' });
      const list = rows();
      expect(list[3]).toMatchObject({ id: 4, action: 'audit.keyed', prev_hash: list[2]!.hash });
      expect(JSON.parse(list[3]!.details)).toMatchObject({ previous: 'unkeyed', entriesBefore: 3 });
      expect(await audit.verify()).toMatchObject({ ok: true, entries: 5, keying: { keyed: true, since: 4, before: 3 } });
      // Reopening with the same key writes no second switch-over.
      expect(await (await reopen([KEY])).verify()).toMatchObject({ ok: true, entries: 5 });
    });

    it('detects a rewrite of the earlier entries, even with their plain chain recomputed', async () => {
      await recordThree(await open());
      const audit = await reopen([KEY]);
      db.prepare('UPDATE audit_log SET details = ? WHERE id = 2').run('{"forged":true}');
      recomputeUnkeyed(db);
      expect(await audit.verify()).toMatchObject({ ok: false, brokenAt: 4 });
    });

    it('detects a trail cut back to the entries from before the key, even with the id counter reset', async () => {
      await recordThree(await open());
      const audit = await reopen([KEY]);
      await record(audit, { actor: 'U0DAVE', action: 'job.run' });
      db.prepare('DELETE FROM audit_log WHERE id >= 4').run();
      expect(await audit.verify()).toMatchObject({ ok: false, reason: expect.stringContaining('missing') });
      db.prepare(`UPDATE sqlite_sequence SET seq = 3 WHERE name = 'audit_log'`).run();
      expect(await audit.verify()).toMatchObject({ ok: false, reason: expect.stringContaining('no entry is signed with the current audit key') });
    });
  });

  it('notices the newest entries deleted, or the table emptied, from the id counter', async () => {
    const audit = await open([KEY]);
    await recordThree(audit);
    db.prepare('DELETE FROM audit_log WHERE id = 4').run();
    expect(await audit.verify()).toEqual({ ok: false, brokenAt: 4, reason: 'entries after #3 are missing (the id counter is at #4)' });
    db.prepare('DELETE FROM audit_log').run();
    expect(await audit.verify()).toEqual({ ok: false, brokenAt: 1, reason: 'all 4 entries are missing: the trail was emptied' });
  });

  it('rotates to a new key with another switch-over; entries under the old key verify while it is still configured', async () => {
    await recordThree(await open([KEY]));
    const rotated = await reopen([NEXT_KEY, KEY]);
    await record(rotated, { actor: 'U0DAVE', action: 'job.run' });
    const list = rows();
    expect(list[4]).toMatchObject({ action: 'audit.keyed' });
    expect(JSON.parse(list[4]!.details)).toMatchObject({ entriesBefore: 4 });
    expect(JSON.parse(list[4]!.details).previous).toBe(JSON.parse(list[0]!.details).keyId);
    expect(await rotated.verify()).toMatchObject({ ok: true, entries: 6, keying: { keyed: true, since: 1, before: 0 } });
    expect(await (await reopen([NEXT_KEY])).verify()).toMatchObject({ ok: false, brokenAt: 1, reason: expect.stringContaining('not configured') });
  });

  it('says which entries it could not check when the chain is keyed but the key is not configured', async () => {
    await recordThree(await open());
    await recordThree(await reopen([KEY]));
    const audit = await reopen([]);
    expect(await audit.keyedSince()).toBe(4);
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 7, keying: { keyed: false, keyMissingFrom: 4, verified: 3 } });
  });
});

describe('WAYGATE_AUDIT_KEY', () => {
  const base = { SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_SIGNING_SECRET: 'test-signing-secret-0123456789', TZ: 'UTC' };

  it('must be at least 32 characters, and the problem names the variable without echoing it', () => {
    const result = loadConfig({ ...base, WAYGATE_AUDIT_KEY: 'short-key' });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems.join('\n')).toContain('env: WAYGATE_AUDIT_KEY must be at least 32 characters');
    expect(problems.join('\n')).not.toContain('short-key');
  });

  it('is a secret: the logger never writes it', () => {
    const result = loadConfig({ ...base, WAYGATE_AUDIT_KEY: `${NEXT_KEY},${KEY}` });
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.config.auditKeys).toEqual([NEXT_KEY, KEY]);
    let out = '';
    const logger = createLogger({
      level: 'info',
      secrets: result.config.secrets,
      destination: new Writable({ write: (chunk: Buffer, _e, cb) => ((out += chunk.toString()), cb()) }),
    });
    logger.info({ env: { WAYGATE_AUDIT_KEY: `${NEXT_KEY},${KEY}` } }, `key is ${KEY}`);
    logger.flush();
    expect(out).toContain('[REDACTED]');
    expect(out).not.toContain(KEY);
    expect(out).not.toContain(NEXT_KEY);
  });
});

describe('the digest and the audit key', () => {
  const base: DigestData = {
    now: Date.parse('2026-03-02T08:00:00Z'),
    status: { ok: true, httpStatus: 200, latencyMs: 5, summary: 'ok' },
    systemd: 'active',
    last24h: { uptimePct: 100, p50Ms: 5, p95Ms: 9, samples: 10 },
    logs: { error: 'n/a' },
    backup: { error: 'n/a' },
    incidents: null,
    failedJobs: [],
    reviewed: null,
  };
  const auditText = (audit: DigestData['audit']) => JSON.stringify(renderDigest({ ...base, audit }, 1).blocks);

  it('says when the audit chain is not keyed', () => {
    expect(auditText({ ok: true, entries: 3, head: 'ab'.repeat(32), keying: { keyed: false } })).toContain('not keyed: set WAYGATE_AUDIT_KEY');
    expect(auditText({ ok: true, entries: 3, head: 'ab'.repeat(32), keying: { keyed: true, since: 1, before: 0 } })).toContain('Audit trail verified (keyed): 3 entries');
    expect(auditText({ ok: true, entries: 7, head: 'ab'.repeat(32), keying: { keyed: false, keyMissingFrom: 4, verified: 3 } })).toContain(
      'entries from #4 are keyed, but WAYGATE_AUDIT_KEY is not set to check them',
    );
  });
});
