import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import type { AuditEntry } from '../../src/audit/audit-log.js';
import type { StoredMessage } from '../../standins/slack/index.js';
import { DEFAULT_YAML, startTestBot, USERS, type TestBot } from '../helpers/bot.js';
import { parseCsv } from '../support/csv.js';

const START = '2026-03-02T08:00:00.000Z';

describe('the audit trail, seen from Slack', () => {
  let bot: TestBot;
  beforeEach(async () => {
    bot = await startTestBot({ clock: new ManualClock(START) });
  });
  afterEach(async () => {
    await bot.stop();
  });

  const command = (text: string, userId: string = USERS.security) => bot.signer.slashCommand({ text, userId, responseUrl: bot.slack.responseUrl() });

  /**
   * Three denials a minute apart (08:00, 08:01, 08:02), each recorded with the request itself: rows 1 to 6 are
   * the denials and the `command.run` records of the same requests. Both of a request are written after its
   * answer, on PostgreSQL in either order; resolves to the denials' ids.
   */
  const recordThree = async (): Promise<number[]> => {
    for (let i = 0; i < 3; i++) {
      await command('audit', USERS.nobody);
      // Wait for both records before the next request.
      await bot.settle();
      bot.clock.advance(60_000);
    }
    const denials = await bot.sql.column<number>(sql`SELECT id FROM audit_log WHERE action = 'permission.denied' ORDER BY id`);
    expect(denials).toHaveLength(3);
    return denials;
  };

  it('verify names the row whose content was edited: its id, action and when it was recorded', async () => {
    const [, second] = await recordThree();
    await bot.sql.run(sql`UPDATE audit_log SET details = ${JSON.stringify({ forged: true })} WHERE id = ${second}`);
    const res = await command('audit verify');
    const at = Math.floor((Date.parse(START) + 60_000) / 1000);
    expect(res.json.text).toBe(
      `❌ Audit trail broken at entry #${second} (\`permission.denied\` by U0NOBODY, recorded <!date^${at}^{date_short_pretty} {time}|2026-03-02 08:01 UTC>, subject command.audit): content does not match hash. Treat this as a security incident.`,
    );
  });

  it('verify names an edited actor as plain text, so a forged user id pings nobody', async () => {
    const [, , third] = await recordThree();
    await bot.sql.run(sql`UPDATE audit_log SET actor = ${USERS.admin} WHERE id = ${third}`);
    const res = await command('audit verify');
    expect(res.json.text).toContain(`broken at entry #${third} (\`permission.denied\` by ${USERS.admin}, recorded <!date^`);
    expect(res.json.text).not.toContain(`<@${USERS.admin}>`);
  });

  it('verify says which entries are missing when the newest were deleted', async () => {
    await recordThree();
    await bot.sql.run(sql`DELETE FROM audit_log WHERE id >= 5`);
    const res = await command('audit verify');
    expect(res.json.text).toBe('❌ Audit trail broken at entry #5: entries after #4 are missing (the id counter is at #6). Treat this as a security incident.');
  });
});

describe('/waygate audit export', () => {
  // 23:00 on 28 February in Berlin (DEFAULT_YAML's timezone): the day before the exported range.
  const EARLY = '2026-02-28T22:00:00.000Z';
  let bot: TestBot;
  beforeEach(async () => {
    bot = await startTestBot({ clock: new ManualClock(EARLY) });
  });
  afterEach(async () => {
    await bot.stop();
  });

  const command = (text: string, userId: string = USERS.security) => bot.signer.slashCommand({ text, userId, responseUrl: bot.slack.responseUrl() });
  const recordAt = async (at: string, entry: AuditEntry) => {
    bot.clock.set(at);
    await bot.waygate.services.store.transaction((tx) => bot.waygate.services.audit.record(tx, entry));
  };
  type Row = { id: number; at: number; actor: string; action: string; subject: string | null; details: string; hash: string; prev_hash: string };
  const rowsWhere = (where: string) => bot.sql.all<Row>(sql`SELECT * FROM audit_log WHERE ${sql.raw(where)} ORDER BY id`);

  /** Rows on both sides of each edge of 1–2 March in Berlin, and values that need quoting. */
  const recordAroundTheRange = async () => {
    await recordAt('2026-02-28T22:59:59.999Z', { actor: 'U0OPS', action: 'job.run', subject: 'before' });
    await recordAt('2026-02-28T23:00:00.000Z', { actor: 'U0OPS', action: 'job.run', subject: 'first, "in range"' });
    await recordAt('2026-03-01T12:00:00.000Z', { actor: '=cmd|calc', action: 'sop.override', subject: 'two\nlines', details: { reason: 'a, "b"\r\nc' } });
    await recordAt('2026-03-02T22:59:59.999Z', { actor: 'U0LEAD', action: 'sop.approved', subject: 'last in range' });
    await recordAt('2026-03-02T23:00:00.000Z', { actor: 'U0OPS', action: 'job.run', subject: 'after' });
    bot.clock.set('2026-03-03T09:00:00.000Z');
  };

  it('sends the caller a CSV and a JSON file holding exactly the rows of those days in the configured zone', async () => {
    await recordAroundTheRange();
    const expected = (await rowsWhere(`subject NOT IN ('before', 'after')`)).filter((r) => r.at >= Date.parse('2026-02-28T23:00:00Z') && r.at < Date.parse('2026-03-02T23:00:00Z'));
    expect(expected.map((r) => r.subject)).toEqual(['first, "in range"', 'two\nlines', 'last in range']);

    const res = await command('audit export 2026-03-01 2026-03-02');
    expect(res.json.text).toBe(
      '📤 Exporting 3 audit entries from 2026-03-01 to 2026-03-02 (Europe/Berlin): `waygate-audit-2026-03-01-to-2026-03-02.csv` and `waygate-audit-2026-03-01-to-2026-03-02.json` will arrive in your direct messages with Waygate.',
    );
    await bot.settle();

    const files = bot.slack.files();
    expect(files.map((f) => [f.filename, f.channel])).toEqual([
      ['waygate-audit-2026-03-01-to-2026-03-02.csv', USERS.security],
      ['waygate-audit-2026-03-01-to-2026-03-02.json', USERS.security],
    ]);
    const [header, ...records] = parseCsv(files[0]!.bytes.toString('utf8'));
    expect(header).toEqual(['id', 'at', 'actor', 'action', 'subject', 'details', 'hash']);
    expect(records).toEqual(
      expected.map((r) => [String(r.id), new Date(r.at).toISOString(), r.actor === '=cmd|calc' ? "'=cmd|calc" : r.actor, r.action, r.subject ?? '', r.details, r.hash]),
    );

    const json = JSON.parse(files[1]!.bytes.toString('utf8')) as { from: string; to: string; timezone: string; exportedBy: string; entries: Array<Record<string, unknown>> };
    expect(json).toMatchObject({ from: '2026-03-01', to: '2026-03-02', timezone: 'Europe/Berlin', exportedBy: USERS.security });
    expect(json.entries).toEqual(
      expected.map((r) => ({ id: r.id, at: new Date(r.at).toISOString(), atMs: r.at, actor: r.actor, action: r.action, subject: r.subject, details: JSON.parse(r.details) as unknown, prevHash: r.prev_hash, hash: r.hash })),
    );

    // Taking the trail out is itself on the trail, after the rows it exported.
    expect(await rowsWhere(`action = 'audit.exported'`)).toEqual([
      expect.objectContaining({ actor: USERS.security, subject: '2026-03-01 to 2026-03-02', details: JSON.stringify({ from: '2026-03-01', to: '2026-03-02', timezone: 'Europe/Berlin', entries: 3, firstId: expected[0]!.id, lastId: expected[2]!.id }) }),
    ]);
    expect(await bot.waygate.services.audit.verify()).toMatchObject({ ok: true });
  });

  it('exports a single day when both dates are the same', async () => {
    await recordAroundTheRange();
    const res = await command('audit export 2026-03-02 2026-03-02');
    expect(res.json.text).toContain('📤 Exporting 1 audit entry from 2026-03-02 (Europe/Berlin)');
    await bot.settle();
    const [, ...records] = parseCsv(bot.slack.files()[0]!.bytes.toString('utf8'));
    expect(records.map((r) => r[4])).toEqual(['last in range']);
  });

  it.each([
    ['2026-3-1 2026-03-02', 'dates must be real days written YYYY-MM-DD, e.g. `2026-03-01`'],
    ['2026-02-30 2026-03-02', 'dates must be real days written YYYY-MM-DD, e.g. `2026-03-01`'],
    ['2026-03-02 2026-03-01', '2026-03-01 is before 2026-03-02'],
    ['2025-03-01 2026-03-02', 'that is 367 days; an export covers at most 366'],
  ])('refuses `%s` and says why, sending nothing', async (range, problem) => {
    await recordAroundTheRange();
    const res = await command(`audit export ${range}`);
    expect(res.json.text).toBe(`Cannot export: ${problem}. Usage: \`/waygate audit export <from> <to>\` (days in Europe/Berlin, both included).`);
    await bot.settle();
    expect(bot.slack.files()).toEqual([]);
    expect(await rowsWhere(`action = 'audit.exported'`)).toEqual([]);
  });

  it('accepts a whole leap year, and says when a range holds nothing', async () => {
    const res = await command('audit export 2028-01-01 2028-12-31');
    expect(res.json.text).toBe('No audit entries from 2028-01-01 to 2028-12-31 (Europe/Berlin): nothing to export.');
  });

  it('refuses a range holding more entries than one export carries', async () => {
    const { MAX_EXPORT_ENTRIES } = await import('../../commands/audit.js');
    bot.clock.set('2026-03-01T10:00:00.000Z');
    const audit = bot.waygate.services.audit;
    const entries: AuditEntry[] = Array.from({ length: MAX_EXPORT_ENTRIES + 1 }, () => ({ actor: 'U0OPS', action: 'job.run' }));
    await bot.waygate.services.store.transaction((tx) => audit.recordAll(tx, entries));
    const res = await command('audit export 2026-03-01 2026-03-01');
    expect(res.json.text).toBe(`${MAX_EXPORT_ENTRIES + 1} audit entries from 2026-03-01 (Europe/Berlin), more than the ${MAX_EXPORT_ENTRIES} one export carries: ask for a shorter range.`);
  });

  it('is refused to someone without the security role, like the rest of audit', async () => {
    await recordAroundTheRange();
    const res = await command('audit export 2026-03-01 2026-03-02', USERS.ops);
    expect(res.json.text).toContain('needs the *security* role');
    await bot.settle();
    expect(bot.slack.files()).toEqual([]);
  });
});

describe("the digest's anchor check", () => {
  let dir: string;
  let bot: TestBot;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-anchor-'));
    bot = await startTestBot({
      clock: new ManualClock(START),
      yaml: {
        ...DEFAULT_YAML,
        service: { ...DEFAULT_YAML.service, logFile: join(dir, 'waygate.log'), database: join(dir, 'service.db') },
        backup: { dir: join(dir, 'backups'), configDir: null },
      },
    });
    // The digest channel (C0OPS in DEFAULT_YAML) exists before the first digest, as it does in a workspace.
    bot.slack.postAsUser('C0OPS', USERS.ops, 'good morning');
  });
  afterEach(async () => {
    await bot.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Posts a digest as an operator does, a day after the last, and returns its message. */
  const postDigest = async (): Promise<StoredMessage> => {
    bot.clock.advance(86_400_000);
    const res = await bot.signer.slashCommand({ text: 'digest', userId: USERS.ops, responseUrl: bot.slack.responseUrl() });
    expect(res.json.text).toContain('Building the health digest');
    await bot.settle();
    return bot.slack.messages('C0OPS').at(-1)!;
  };
  const footer = (m: StoredMessage) => JSON.stringify(m.blocks);
  const anchoredId = (m: StoredMessage) => Number(/head #(\d+) `[0-9a-f]{16}`/.exec(footer(m))?.[1]);

  it('posts the head with its id, and the next digest finds it still in the trail: no alarm', async () => {
    const first = await postDigest();
    const id = anchoredId(first);
    expect(id).toBeGreaterThan(0);
    expect(footer(first)).toContain(`head #${id} \`${(await bot.waygate.services.audit.hashOf(id))!.slice(0, 16)}\``);
    expect(footer(first)).toContain('No earlier digest here to check the trail against');

    const second = await postDigest();
    expect(footer(second)).toContain(`Anchor of the previous digest (entry #${id}) still holds`);
    expect(anchoredId(second)).toBeGreaterThan(id);
    expect(bot.slack.calls('conversations.history').at(-1)?.params).toMatchObject({ channel: 'C0OPS' });
    expect(bot.slack.messages('C0SEC')).toEqual([]);
  });

  it('raises an alarm in the security channel when the newest entries were deleted', async () => {
    // Entries before the anchored one, which the cut leaves in place.
    await bot.signer.slashCommand({ text: 'audit', userId: USERS.nobody, responseUrl: bot.slack.responseUrl() });
    await bot.signer.slashCommand({ text: 'audit', userId: USERS.nobody, responseUrl: bot.slack.responseUrl() });
    const first = await postDigest();
    const id = anchoredId(first);
    expect(id).toBeGreaterThan(2);
    await bot.sql.run(sql`DELETE FROM audit_log WHERE id >= ${id}`);

    const second = await postDigest();
    expect(footer(second)).toContain(`🚨 *Anchor of the previous digest (entry #${id}) broken*: entry #${id}, the head an earlier digest posted, is no longer in the trail`);
    expect(second.text).toContain('audit trail tampered with');
    const alarms = bot.slack.messages('C0SEC');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]!.text).toContain(`🚨 *Audit trail tampered with*: the head the previous digest posted (entry #${id}, `);
    expect(alarms[0]!.text).toContain('is no longer in the trail: the newest entries were deleted');
    // New entries chained onto what was left, so the chain itself verifies: only the anchor shows the cut.
    expect(footer(second)).toContain('Audit trail verified');
    expect(alarms[0]!.text).not.toContain('the chain is broken');
  });

  it('catches a cut that also reset the id counter, which the chain alone cannot see', async () => {
    const first = await postDigest();
    const id = anchoredId(first);
    await bot.sql.run(sql`DELETE FROM audit_log WHERE id >= ${id}`);
    // The counter the tripwire reads: SQLite's own sequence table; on PostgreSQL the identity's sequence and
    // the counter a trigger keeps beside it.
    if (bot.sql.backend === 'sqlite') await bot.sql.run(sql`UPDATE sqlite_sequence SET seq = ${id - 1} WHERE name = 'audit_log'`);
    else {
      await bot.sql.run(sql`SELECT setval(pg_get_serial_sequence('audit_log', 'id'), ${id - 1})`);
      await bot.sql.run(sql`UPDATE audit_counter SET last_id = ${id - 1}`);
    }
    expect(await bot.waygate.services.audit.verify()).toMatchObject({ ok: true });

    const second = await postDigest();
    // New entries took the old ids: the chain verifies, but entry #id is not the one the digest posted.
    expect(footer(second)).toContain('Audit trail verified');
    expect(footer(second)).toContain(`no longer has the hash an earlier digest posted for it`);
    const alarms = bot.slack.messages('C0SEC');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]!.text).toContain(`the head the previous digest posted (entry #${id}, \`${/head #\d+ `([0-9a-f]{16})`/.exec(footer(first))![1]}\`) no longer holds`);
    expect(alarms[0]!.text).not.toContain('the chain is broken');
  });

  it('raises the alarm for an edited entry too, naming it', async () => {
    await postDigest();
    await bot.sql.run(sql`UPDATE audit_log SET details = ${JSON.stringify({ forged: true })} WHERE id = 1`);
    await postDigest();
    const alarms = bot.slack.messages('C0SEC');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]!.text).toContain('the chain is broken at entry #1 (`digest.posted` by U0OPS, recorded <!date^');
  });

  it("ignores a person's message imitating an anchor: only the bot's own digests count", async () => {
    const first = await postDigest();
    const id = anchoredId(first);
    bot.slack.postAsUser('C0OPS', USERS.nobody, 'Audit trail verified: 1 entry, head #1 `0000000000000000`');
    const second = await postDigest();
    expect(footer(second)).toContain(`Anchor of the previous digest (entry #${id}) still holds`);
    expect(bot.slack.messages('C0SEC')).toEqual([]);
  });

  it('says so in the digest when the channel cannot be read, without an alarm', async () => {
    await postDigest();
    bot.slack.failNext('conversations.history', { kind: 'platform_error', error: 'missing_scope' });
    const second = await postDigest();
    expect(footer(second)).toContain('⚠️ Could not read the previous digest to check the trail against it: missing_scope');
    expect(bot.slack.messages('C0SEC')).toEqual([]);
  });
});
