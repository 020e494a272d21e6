import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import type { Logger } from '../../src/logging/logger.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { startTestBot, USERS, type TestBot } from '../helpers/bot.js';
import { openBotDatabase } from '../helpers/sql.js';

const START = '2026-03-02T08:00:00.000Z';
const AUDIT_KEY = 'test-audit-key-0123456789abcdef-0123456789';

/** Edits an entry in the stopped bot's database and recomputes the plain hash chain, as someone without the key can. */
async function forgeEntry(dir: string, id: number, actor: string): Promise<void> {
  const db = await openBotDatabase(dir);
  try {
    await db.sql.run(sql`UPDATE audit_log SET actor = ${actor} WHERE id = ${id}`);
    let prev = '0'.repeat(64);
    for (const row of await db.sql.all<Record<string, string | number | null>>(sql`SELECT * FROM audit_log ORDER BY id`)) {
      const hash = createHash('sha256').update(JSON.stringify([prev, row.at, row.actor, row.action, row.subject, row.details])).digest('hex');
      await db.sql.run(sql`UPDATE audit_log SET prev_hash = ${prev}, hash = ${hash} WHERE id = ${row.id}`);
      prev = hash;
    }
  } finally {
    await db.close();
  }
}

describe('the keyed audit trail, seen from Slack', () => {
  let dir: string;
  let bot: TestBot | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-audit-key-'));
  });
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (env: Record<string, string | undefined>, logger?: Logger) =>
    (bot = await startTestBot({ dir, clock: new ManualClock(START), env, ...(logger ? { overrides: { logger } } : {}) }));
  const command = (b: TestBot, text: string, userId: string) => b.signer.slashCommand({ text, userId, responseUrl: b.slack.responseUrl() });

  it('without a key, verify says the chain is unkeyed, and a recomputed forgery passes unnoticed', async () => {
    const b = await start({});
    await command(b, 'audit', USERS.nobody); // a denial and the command's own record: two entries
    await b.stop();
    bot = undefined;
    await forgeEntry(dir, 1, USERS.admin);
    const again = await start({});
    const res = await command(again, 'audit verify', USERS.security);
    expect(res.json.text).toContain('✅ Audit trail intact: 2 entries, hash chain verified.');
    expect(res.json.text).toContain('The chain is not keyed');
  });

  it('with a key, keys the existing trail at start-up and reports a recomputed forgery as a break', async () => {
    const b = await start({});
    await command(b, 'audit', USERS.nobody);
    await b.stop();
    bot = undefined;

    const keyed = await start({ WAYGATE_AUDIT_KEY: AUDIT_KEY });
    await command(keyed, 'audit', USERS.nobody);
    const ok = await command(keyed, 'audit verify', USERS.security);
    // #1 the denial and #2 its command record, unkeyed; #3 the switch-over; #4 and #5 keyed.
    expect(ok.json.text).toContain('✅ Audit trail intact: 5 entries, keyed hash chain (HMAC-SHA256) verified.');
    expect(ok.json.text).toContain('The 2 entries before #3 were written before the key was set');
    await keyed.stop();
    bot = undefined;

    await forgeEntry(dir, 4, USERS.admin);
    const after = await start({ WAYGATE_AUDIT_KEY: AUDIT_KEY });
    const res = await command(after, 'audit verify', USERS.security);
    expect(res.json.text).toContain('❌ Audit trail broken at entry #3');
  });

  it('warns at start-up when the trail is keyed but the key is no longer set, and verify says what it could not check', async () => {
    const b = await start({ WAYGATE_AUDIT_KEY: AUDIT_KEY });
    await command(b, 'audit', USERS.nobody);
    await b.stop();
    bot = undefined;

    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
    const unkeyed = await start({}, logger);
    expect(lines.some((l) => l.level === 40 && l.msg.includes('the audit trail is keyed but WAYGATE_AUDIT_KEY is not set'))).toBe(true);
    const res = await command(unkeyed, 'audit verify', USERS.security);
    expect(res.json.text).toContain('entries from #1 on are keyed, but WAYGATE_AUDIT_KEY is not set');
  });

  it('refuses to start with a key too short to be safe, naming the variable', async () => {
    await expect(start({ WAYGATE_AUDIT_KEY: 'too-short' })).rejects.toThrow(/WAYGATE_AUDIT_KEY must be at least 32 characters/);
  });
});
