import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { SOP_ACTIONS } from '../../src/sops/actions.js';
import type { StoredMessage } from '../../standins/slack/index.js';
import { DEFAULT_YAML, USERS, startTestBot, type TestBot } from '../helpers/bot.js';

const COMPLIANCE = 'C0COMP';
/** The Compliance Officer: told by direct message. */
const OFFICER = 'U0COMPLY';

type Block = { type?: string; block_id?: string; text?: { text?: string }; elements?: Array<{ type?: string; text?: string; options?: Array<{ value: string }>; initial_options?: Array<{ value: string }> }> };

/** Top-level messages of the compliance channel that are list runs, by title. */
function lists(b: TestBot): StoredMessage[] {
  return b.slack.messages(COMPLIANCE).filter((m) => !m.thread_ts && / run #\d+:/.test(m.text));
}
function list(b: TestBot, title: string): StoredMessage {
  const found = lists(b).find((m) => m.text.startsWith(title));
  if (!found) throw new Error(`no list "${title}" in ${lists(b).map((m) => m.text).join(' | ')}`);
  return found;
}
function threadOf(b: TestBot, message: StoredMessage): string[] {
  return b.slack.messages(COMPLIANCE).filter((m) => m.thread_ts === message.ts && m.ts !== message.ts).map((m) => m.text);
}
const blocksText = (m: StoredMessage): string => JSON.stringify(m.blocks);
const reminders = (b: TestBot): string[] => b.slack.messages(COMPLIANCE).filter((m) => !m.thread_ts && m.text.startsWith('⏰')).map((m) => m.text);

/** The monitored service's database (SOP-BACK-001 backs it up): a SQLite file with `rows` calls in it. */
function makeServiceDb(path: string, rows: number): void {
  const db = new Database(path);
  db.exec('CREATE TABLE tools (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE calls (id INTEGER PRIMARY KEY, tool INTEGER)');
  db.exec(`INSERT INTO tools (name) VALUES ('search'), ('fetch')`);
  addServiceCalls(path, rows, db);
  db.close();
}

/** The service at work: `rows` more calls in its live database. */
function addServiceCalls(path: string, rows: number, open?: Database.Database): void {
  const db = open ?? new Database(path);
  const insert = db.prepare('INSERT INTO calls (tool) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(1 + (i % 2));
  })();
  if (!open) db.close();
}

async function settle(b: TestBot): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await b.settle();
    await b.waygate.sops.whenIdle();
  }
}

/** Ticks these items of a list's checklist (plus what is already ticked), as Slack sends the whole selection. */
async function tick(b: TestBot, message: StoredMessage, userId: string, items: string[]): Promise<void> {
  const current = b.slack.messages(COMPLIANCE).find((m) => m.ts === message.ts)!;
  const group = (current.blocks as Block[]).find((bl) => bl.elements?.[0]?.type === 'checkboxes')!;
  const already = (group.elements![0]!.initial_options ?? []).map((o) => o.value);
  const res = await b.signer.blockAction({
    actionId: SOP_ACTIONS.tick,
    type: 'checkboxes',
    blockId: group.block_id!,
    selectedOptions: [...new Set([...already, ...items])],
    userId,
    channelId: COMPLIANCE,
    messageTs: current.ts,
    responseUrl: b.slack.responseUrl(),
  });
  expect(res.status).toBe(200);
  await settle(b);
}

describe('the compliance calendar (SOP-COMP-001)', () => {
  let bot: TestBot | undefined;
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-compliance-'));
  });
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const serviceDb = () => join(dir, 'service.db');
  const yaml = () => ({
    ...DEFAULT_YAML,
    schedules: { ...DEFAULT_YAML.schedules, 'compliance-calendar': '0 9 * * *' },
    // New Year's Day is a Friday in 2027 and a holiday: January's lists wait for Monday the 4th.
    businessHours: { holidays: ['2027-01-01'] },
    backup: { dir: join(dir, 'backups'), configDir: null },
    // The service's database, as SOP-BACK-001 backs it up.
    service: { ...DEFAULT_YAML.service, database: serviceDb() },
    compliance: { owner: OFFICER, sopReviewFrom: '2027-01-14' },
  });

  it('posts each list on its first working day, archives the audit trail, restores a backup, tracks who ticked what, and reminds overdue items weekly', async () => {
    // Monday 30 November 2026, 23:00 in Berlin: a command recorded in November, and a backup to restore later.
    makeServiceDb(serviceDb(), 20);
    const b = (bot = await startTestBot({ clock: new ManualClock('2026-11-30T22:00:00.000Z'), yaml: yaml(), dir }));
    const empty = await b.signer.slashCommand({ text: 'compliance', userId: USERS.security, responseUrl: b.slack.responseUrl() });
    expect(empty.json.text).toBe('✅ No compliance list is open. The calendar posts the monthly, quarterly and annual lists on their first working day.');
    await b.waygate.services.backups.run();
    // The service works on after the backup: its live database moves on.
    addServiceCalls(serviceDb(), 7);

    // Tuesday 1 December, 09:00: December's list only (no quarter or year starts), with its archive done.
    await b.advanceTo('2026-12-01T08:00:30.000Z');
    await settle(b);
    expect(lists(b).map((m) => m.text)).toEqual(['Monthly compliance tasks — December 2026 run #1: step 1 of 1']);
    const december = list(b, 'Monthly compliance tasks — December 2026');
    const archiveLine = threadOf(b, december).find((t) => t.startsWith('🤖 Archive audit trails: done by Waygate — '))!;
    expect(archiveLine).toMatch(/audit_2026-11\.json written to the backup folder: \d+ audit entries of November 2026, sha256 [0-9a-f]{64} \(also in audit_2026-11\.json\.sha256\)$/);
    const archive = readFileSync(join(dir, 'backups', 'audit_2026-11.json'));
    const sha = createHash('sha256').update(archive).digest('hex');
    expect(archiveLine).toContain(`sha256 ${sha}`);
    expect(readFileSync(join(dir, 'backups', 'audit_2026-11.json.sha256'), 'utf8')).toBe(`${sha}  audit_2026-11.json\n`);
    const entries = (JSON.parse(archive.toString('utf8')) as { entries: Array<{ action: string; actor: string; at: string }> }).entries;
    expect(entries).toContainEqual(expect.objectContaining({ action: 'command.run', actor: USERS.security, at: '2026-11-30T22:00:00.000Z' }));
    expect(entries.every((e) => e.at < '2026-11-30T23:00:00.000Z')).toBe(true);
    expect(threadOf(b, december)[0]).toBe(`📅 Due by <!date^1798757999^{date_long}|2026-12-31 22:59 UTC>; owner <@${OFFICER}>. Tick each item as it is done; overdue items are reminded every week.`);
    expect(b.slack.messages(OFFICER).map((m) => m.text)).toEqual([`📋 Monthly compliance tasks — December 2026 is posted in <#${COMPLIANCE}>, due by <!date^1798757999^{date_long}|2026-12-31 22:59 UTC> (run #1).`]);

    const runs = await b.signer.slashCommand({ text: 'sop runs', userId: USERS.lead, responseUrl: b.slack.responseUrl() });
    expect(runs.json.text).toContain('*Monthly compliance tasks — December 2026* run #1 by Waygate, started');

    // Ticks over HTTP, each shown with who and when.
    b.clock.set('2026-12-01T09:15:00.000Z');
    await tick(b, december, USERS.security, ['review-access-logs']);
    b.clock.set('2026-12-02T10:00:00.000Z');
    await tick(b, december, USERS.lead, ['update-documentation']);
    const ticked = blocksText(list(b, 'Monthly compliance tasks — December 2026'));
    expect(ticked).toContain(`Review access logs: <@${USERS.security}> <!date^${Date.parse('2026-12-01T09:15:00Z') / 1000}^{ago}`);
    expect(ticked).toContain(`Update documentation: <@${USERS.lead}> <!date^${Date.parse('2026-12-02T10:00:00Z') / 1000}^{ago}`);
    expect(ticked).toContain('Archive audit trails: Waygate <!date^');
    expect(list(b, 'Monthly compliance tasks — December 2026').text).toBe('Monthly compliance tasks — December 2026 run #1: step 1 of 1');

    // The Mondays of December: nothing is overdue yet, so nobody is reminded.
    await b.advanceTo('2026-12-28T08:00:30.000Z');
    await settle(b);
    expect(reminders(b)).toEqual([]);

    // Friday 1 January 2027 is a holiday: nothing is posted.
    await b.advanceTo('2027-01-01T08:00:30.000Z');
    await settle(b);
    expect(lists(b)).toHaveLength(1);

    // Monday 4 January: January's, the first quarter's and the year's lists, and the SOP document's review of the
    // 14th; the year's disaster recovery test restores the backup; December's open item is reminded.
    await b.advanceTo('2027-01-04T08:00:30.000Z');
    await settle(b);
    expect(lists(b).map((m) => m.text.replace(/ run #\d+:.*/, ''))).toEqual([
      'Monthly compliance tasks — December 2026',
      'Monthly compliance tasks — January 2027',
      'Quarterly compliance tasks — Q1 2027',
      'Annual compliance tasks — 2027',
      'SOP document quarterly review — due 14 January 2027',
    ]);
    expect(blocksText(list(b, 'Quarterly compliance tasks — Q1 2027'))).toContain('Full system audit');
    const annual = list(b, 'Annual compliance tasks — 2027');
    expect(threadOf(b, annual)).toContainEqual(expect.stringMatching(/^🤖 Disaster recovery test: done by Waygate — Restore test of `waygate_20261130\.db` passed: integrity ok, \d+ tables, [\d,]+ rows restored \(live [\d,]+; live database since: .*calls \+7/));
    expect(threadOf(b, list(b, 'Monthly compliance tasks — January 2027'))).toContainEqual(expect.stringContaining('audit_2026-12.json written to the backup folder'));
    expect(existsSync(join(dir, 'backups', 'audit_2026-12.json.sha256'))).toBe(true);
    expect(reminders(b)).toEqual([
      `⏰ <@${OFFICER}> Overdue compliance items (SOP-COMP-001):\n• *Monthly compliance tasks — December 2026* (run #1, overdue by 3 d 9 h): Verify compliance controls\nTick them in each list's message as they are done.`,
    ]);
    expect(b.slack.messages(OFFICER).map((m) => m.text)).toContainEqual(expect.stringContaining(`⏰ <@${OFFICER}> Overdue compliance items`));
    // The SOP document's own review reaches its owner.
    expect(b.slack.messages(OFFICER).map((m) => m.text)).toContainEqual(expect.stringMatching(/^📋 SOP document quarterly review — due 14 January 2027 is posted in <#C0COMP>, due by <!date\^\d+\^\{date_long\}\|2027-01-14 22:59 UTC> \(run #\d+\)\.$/));

    // What is open and overdue, from Slack.
    const status = await b.signer.slashCommand({ text: 'compliance', userId: USERS.lead, responseUrl: b.slack.responseUrl() });
    expect(status.json.text).toBe('Compliance calendar: 1 overdue, 4 open.');
    const shown = JSON.stringify(status.json.blocks);
    expect(shown).toContain('Monthly compliance tasks — December 2026');
    expect(shown).toContain('overdue by 3 d 9 h');
    expect(shown).toContain('1 open: Verify compliance controls');
    expect(shown).toContain('Annual compliance tasks — 2027');
    expect(shown).toContain('3 open: Policy review and update; Security assessment; Compliance certification');
    expect((await b.signer.slashCommand({ text: 'compliance', userId: USERS.ops, responseUrl: b.slack.responseUrl() })).json.text).toContain('needs the *security* or *lead* role');

    // December completed: the next Monday reminds nothing of it.
    await tick(b, list(b, 'Monthly compliance tasks — December 2026'), USERS.security, ['verify-compliance-controls']);
    expect(list(b, 'Monthly compliance tasks — December 2026').text).toBe('Monthly compliance tasks — December 2026 run #1: done');
    await b.advanceTo('2027-01-11T08:00:30.000Z');
    await settle(b);
    expect(reminders(b)).toHaveLength(1);
    const audit = await b.waygate.services.audit.recent(500);
    expect(audit.filter((e) => e.action === 'compliance.reminded').map((e) => e.subject)).toEqual(['reminder:2027-W01']);
    expect(audit).toContainEqual(expect.objectContaining({ action: 'sop.step', actor: USERS.security, subject: 'audit-preparation #1' }));
  });

  it('leaves an automatic item open with the reason when it cannot be done', async () => {
    // Monday 4 January 2027 with no backup at all: the disaster recovery test cannot pass.
    const b = (bot = await startTestBot({ clock: new ManualClock('2027-01-04T07:00:00.000Z'), yaml: yaml(), dir }));
    await b.advanceTo('2027-01-04T08:00:30.000Z');
    await settle(b);
    const annual = list(b, 'Annual compliance tasks — 2027');
    expect(threadOf(b, annual)).toContain(`⚠️ Disaster recovery test: Waygate could not do it — Restore test: there is no database backup in ${join(dir, 'backups')} to restore. Put it right and tick it by hand.`);
    expect(blocksText(annual)).toContain('Disaster recovery test: Waygate could not do it');
    expect(blocksText(annual)).not.toContain('Disaster recovery test: Waygate <!date');

    // Done by hand after all: the tick says who, and the warning goes from the message.
    await tick(b, annual, USERS.security, ['disaster-recovery-test']);
    const after = blocksText(list(b, 'Annual compliance tasks — 2027'));
    expect(after).toContain(`Disaster recovery test: <@${USERS.security}> <!date^`);
    expect(after).not.toContain('Waygate could not do it');
  });

  it('posts nothing twice: a second run of the job on the same day, or after a restart, leaves the calendar as it was', async () => {
    const b = (bot = await startTestBot({ clock: new ManualClock('2026-12-01T07:00:00.000Z'), yaml: yaml(), dir }));
    await b.advanceTo('2026-12-01T08:00:30.000Z');
    await settle(b);
    expect(lists(b)).toHaveLength(1);
    const again = await b.signer.slashCommand({ text: 'jobs run compliance-calendar', userId: USERS.ops, responseUrl: b.slack.responseUrl() });
    expect(again.status).toBe(200);
    await settle(b);
    expect(lists(b)).toHaveLength(1);
    expect((await b.waygate.services.jobs.list()).find((j) => j.name === 'compliance-calendar')?.lastRun?.summary).toBe('nothing due today');
    await b.stop();

    // The next morning, after a restart: December's list is still the one open list, and nothing is posted again.
    const restarted = (bot = await startTestBot({ clock: new ManualClock('2026-12-02T07:00:00.000Z'), yaml: yaml(), dir }));
    await restarted.advanceTo('2026-12-02T08:00:30.000Z');
    await settle(restarted);
    expect(lists(restarted)).toEqual([]);
    expect((await restarted.waygate.services.jobs.list()).find((j) => j.name === 'compliance-calendar')?.lastRun?.summary).toBe('nothing due today');
    const status = await restarted.signer.slashCommand({ text: 'compliance', userId: USERS.security, responseUrl: restarted.slack.responseUrl() });
    expect(status.json.text).toBe('Compliance calendar: 0 overdue, 1 open.');
  });
});

describe('/waygate backup restore-test', () => {
  let bot: TestBot | undefined;
  let dir: string;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes on a real backup and fails, with the reason, on a corrupted one', async () => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-restore-'));
    const serviceDb = join(dir, 'service.db');
    makeServiceDb(serviceDb, 20);
    const b = (bot = await startTestBot({ clock: new ManualClock('2026-12-01T08:00:00.000Z'), yaml: { ...DEFAULT_YAML, backup: { dir: join(dir, 'backups'), configDir: null }, service: { ...DEFAULT_YAML.service, database: serviceDb } }, dir }));
    for (let i = 0; i < 5; i++) await b.signer.slashCommand({ text: 'whoami', userId: USERS.ops, responseUrl: b.slack.responseUrl() });
    await b.waygate.services.backups.run();
    addServiceCalls(serviceDb, 5);
    const [backup] = readdirSync(join(dir, 'backups')).filter((n) => n.endsWith('.db'));
    expect(backup).toBe('waygate_20261201.db');

    const ask = async (id: string): Promise<string> => {
      const res = await b.signer.slashCommand({ text: 'backup restore-test', userId: USERS.ops, responseUrl: b.slack.responseUrl(id) });
      expect(res.json.text).toBe('Restoring the newest backup into a scratch database to test it…');
      await settle(b);
      const [answer] = b.slack.responsePosts(id);
      expect(answer?.body.response_type).toBe('in_channel');
      return String(answer?.body.text);
    };
    const passed = await ask('restore-ok');
    expect(passed).toMatch(/^✅ Restore test of `waygate_20261201\.db` passed: integrity ok, \d+ tables, [\d,]+ rows restored \(live [\d,]+; live database since: .*calls \+5.*\)\.\nAsked for by <@U0OPS>\.$/);

    // Garbage over the pages after the first: SQLite still opens the file, but the copy is not intact.
    const path = join(dir, 'backups', backup!);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(8192, 0x5a), 0, 8192, 4096);
    closeSync(fd);
    const failed = await ask('restore-corrupt');
    expect(failed).toMatch(/^❌ Restore test of `waygate_20261201\.db` failed: (integrity check of the restored copy: |waygate_20261201\.db could not be restored: |the restored copy of waygate_20261201\.db is unreadable: ).+\nAsked for by <@U0OPS>\.$/s);
    expect(failed).not.toContain('passed');
    const audited = (await b.waygate.services.audit.recent(50)).filter((e) => e.action === 'backup.restore_test').map((e) => (JSON.parse(e.details) as { ok: boolean }).ok);
    expect(audited).toEqual([false, true]);
  });
});
