import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { DEFAULT_YAML, startTestBot, USERS, type TestBot } from '../helpers/bot.js';
import { openBotDatabase, type TestSql } from '../helpers/sql.js';

const START = '2026-03-02T08:00:00.000Z';
const HOUR = 3_600_000;
const KEY_IN_REPLY = /```([A-Za-z0-9_-]{43})```/;
const HASH_SECRET = 'test-key-hash-secret-0123456789abcdef-0123';

/** Every form of a key that would count as a copy of it: as shown, its raw bytes, hex and standard base64. */
function forms(key: string): Array<{ form: string; bytes: Buffer }> {
  const raw = Buffer.from(key, 'base64url');
  expect(raw).toHaveLength(32);
  return [
    { form: 'base64url', bytes: Buffer.from(key, 'utf8') },
    { form: 'raw', bytes: raw },
    { form: 'hex', bytes: Buffer.from(raw.toString('hex'), 'utf8') },
    { form: 'HEX', bytes: Buffer.from(raw.toString('hex').toUpperCase(), 'utf8') },
    { form: 'base64', bytes: Buffer.from(raw.toString('base64'), 'utf8') },
    { form: 'base64 unpadded', bytes: Buffer.from(raw.toString('base64').replace(/=+$/, ''), 'utf8') },
  ];
}

/** The forms of `key` found in `haystack`; empty when none. */
function copiesIn(haystack: Buffer, key: string): string[] {
  return forms(key)
    .filter(({ bytes }) => haystack.includes(bytes))
    .map(({ form }) => form);
}

describe('API keys (SOP-SEC-002), seen from Slack', () => {
  let dir: string;
  let bot: TestBot | undefined;
  let logs: string[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-keys-'));
    logs = [];
  });
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Every log line at every level, Bolt's included, so a key written anywhere would be caught. */
  const capturingLogger = () =>
    pino(
      { level: 'trace' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          logs.push(chunk.toString('utf8'));
          done();
        },
      }),
    );

  const start = async (opts: { yaml?: Record<string, unknown>; env?: Record<string, string | undefined> } = {}) =>
    (bot = await startTestBot({ dir, clock: new ManualClock(START), yaml: opts.yaml ?? DEFAULT_YAML, env: opts.env ?? {}, overrides: { logger: capturingLogger() } }));
  const command = (b: TestBot, text: string, userId: string = USERS.security, responseUrl = b.slack.responseUrl()) => b.signer.slashCommand({ text, userId, responseUrl });

  /** On SQLite the database file, its write-ahead log and shared memory as they are on disk right now; on PostgreSQL every row of every table. */
  const databaseBytes = async (b: TestBot): Promise<Buffer> =>
    b.sql.backend === 'postgres'
      ? everyRow(b.sql)
      : Buffer.concat(['', '-wal', '-shm'].map((suffix) => join(b.dir, `waygate.db${suffix}`)).filter((p) => existsSync(p)).map((p) => readFileSync(p)));
  /** Every row of every table of Waygate's PostgreSQL database, as text (binary columns in hex). */
  const everyRow = async (db: TestSql): Promise<Buffer> => {
    const rows: string[] = [];
    for (const table of await db.column<string>(sql`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)) {
      rows.push(...(await db.column<string>(sql`SELECT t::text FROM ${sql.table(table)} t`)));
    }
    return Buffer.from(rows.join('\n'), 'utf8');
  };

  async function createKey(b: TestBot, text: string): Promise<string> {
    const res = await command(b, text);
    expect(res.json.response_type).toBe('ephemeral');
    const key = KEY_IN_REPLY.exec(String(res.json.text))?.[1];
    expect(key, String(res.json.text)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    return key!;
  }

  const verify = (b: TestBot, name: string, key: string) => b.waygate.services.apiKeys.verify(name, key);

  it.each([
    { scheme: 'scrypt with a salt per key (no hash secret)', env: {} },
    { scheme: 'HMAC-SHA-256 (WAYGATE_KEY_HASH_SECRET)', env: { WAYGATE_KEY_HASH_SECRET: HASH_SECRET } },
  ])('create shows the key once, and no copy of it is in the database, its WAL or the logs: $scheme', async ({ env }) => {
    const b = await start({ env });
    const key = await createKey(b, `key create billing-api <@${USERS.ops}|ops>`);
    await b.settle();

    expect(await verify(b, 'billing-api', key)).toBe(true);
    expect(await verify(b, 'billing-api', key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'))).toBe(false);
    expect(await verify(b, 'other', key)).toBe(false);

    const bytes = await databaseBytes(b);
    expect(bytes.length).toBeGreaterThan(0);
    if (b.sql.backend === 'sqlite') expect(existsSync(join(b.dir, 'waygate.db-wal'))).toBe(true);
    expect(copiesIn(bytes, key)).toEqual([]);
    const logText = Buffer.from(logs.join(''), 'utf8');
    expect(logs.length).toBeGreaterThan(0);
    expect(copiesIn(logText, key)).toEqual([]);
    // Nothing sent through the outbox either: the key went out only in the HTTP reply.
    expect(b.slack.responsePosts('all').some((p) => JSON.stringify(p.body).includes(key))).toBe(false);

    const audit = (await b.waygate.services.audit.recent(5)).find((e) => e.action === 'key.created');
    expect(audit).toMatchObject({ actor: USERS.security, subject: 'billing-api' });
    expect(JSON.parse(audit!.details)).toEqual({ owner: USERS.ops });

    // Still none after the bot folds the WAL into the file and stops.
    await b.stop();
    bot = undefined;
    let closed: Buffer;
    if (b.sql.backend === 'postgres') {
      const db = await openBotDatabase(dir);
      closed = await everyRow(db.sql).finally(() => db.close());
    } else {
      closed = Buffer.concat(['', '-wal'].map((s) => join(dir, `waygate.db${s}`)).filter((p) => existsSync(p)).map((p) => readFileSync(p)));
    }
    expect(closed.length).toBeGreaterThan(0);
    expect(copiesIn(closed, key)).toEqual([]);
  });

  it('refuses a second live key of the same name, a bad name, and callers without the role', async () => {
    const b = await start();
    await createKey(b, 'key create ci-token');
    expect((await command(b, 'key create ci-token')).json.text).toContain('there is already a key named `ci-token`');
    expect((await command(b, 'key create bad<name>')).json.text).toContain('a key name is letters');
    expect((await command(b, 'key create x <@U0OPS> extra')).json.text).toContain('Usage: `/waygate key list');
    expect((await command(b, 'key list', USERS.oncall)).json.text).toContain('needs the *security* or *admin* role');
    expect(KEY_IN_REPLY.test(String((await command(b, 'key create by-admin', USERS.admin)).json.text))).toBe(true);
    expect((await command(b, 'key rotate nothing-here')).json.text).toContain('there is no active key named `nothing-here`');
    expect((await command(b, 'key revoke nothing-here gone')).json.text).toContain('there is no live key named `nothing-here`');
  });

  it('rotate: new key on the script stdin only, old key valid through the grace period, then revoked; revoke with a reason', async () => {
    const received = join(dir, 'received-key');
    const argvSeen = join(dir, 'argv-seen');
    const script = join(dir, 'rotate.sh');
    // Writes what it read on stdin to $1, and its argv and environment to $2, so the test sees every channel.
    writeFileSync(script, '#!/bin/sh\ncat > "$1"\n{ echo "$@"; env; } > "$2"\n');
    chmodSync(script, 0o755);
    const yaml = { ...DEFAULT_YAML, keys: { rotationGrace: '24h' }, scripts: { 'rotate-api-keys': { run: [script, received, argvSeen], timeout: '30s' } } };
    const b = await start({ yaml });

    const first = await createKey(b, 'key create payments');
    b.clock.set(new Date(START).getTime() + HOUR);
    const responseUrl = b.slack.responseUrl('rotation');
    const res = await command(b, 'key rotate payments', USERS.security, responseUrl);
    const second = KEY_IN_REPLY.exec(String(res.json.text))?.[1];
    expect(second).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(second).not.toBe(first);
    expect(res.json.text).toContain('The old key keeps working until');
    await b.settle();

    // The script got the new key on stdin, and nowhere else.
    expect(readFileSync(received, 'utf8')).toBe(`${second}\n`);
    expect(copiesIn(readFileSync(argvSeen), second!)).toEqual([]);
    expect(b.slack.responsePosts('rotation').map((p) => p.body.text)).toEqual(['✅ Rotation script `rotate-api-keys` for `payments`: exit 0.']);
    const scriptAudit = (await b.waygate.services.audit.recent(10)).find((e) => e.action === 'key.rotation_script');
    expect(JSON.parse(scriptAudit!.details)).toMatchObject({ ok: true, exitCode: 0 });

    // Both work during the grace period…
    expect(await verify(b, 'payments', first)).toBe(true);
    expect(await verify(b, 'payments', second!)).toBe(true);
    const during = String((await command(b, 'key list')).json.text);
    expect(during).toContain('grace (old version) until');
    expect(during).toMatch(/\*payments\*.*· active/);

    for (const key of [first, second!]) {
      expect(copiesIn(await databaseBytes(b), key)).toEqual([]);
      expect(copiesIn(Buffer.from(logs.join('')), key)).toEqual([]);
    }

    // …and the old one stops at its end, on the durable deadline.
    await b.advanceTo(new Date(START).getTime() + 25 * HOUR + 1_000);
    expect(await verify(b, 'payments', first)).toBe(false);
    expect(await verify(b, 'payments', second!)).toBe(true);
    const after = String((await command(b, 'key list')).json.text);
    expect(after).toContain('revoked');
    expect(after).toContain('rotated: grace period ended');
    expect(after).not.toContain('grace (old version)');
    expect((await b.waygate.services.audit.recent(20)).map((e) => e.action)).toContain('key.grace_ended');

    // Revoke: the key stops at once, with the reason in the audit trail.
    const revoked = await command(b, 'key revoke payments leaked in a CI log');
    expect(revoked.json.text).toContain('is revoked');
    expect(await verify(b, 'payments', second!)).toBe(false);
    const row = (await b.waygate.services.audit.recent(5)).find((e) => e.action === 'key.revoked');
    expect(row).toMatchObject({ actor: USERS.security, subject: 'payments' });
    expect(JSON.parse(row!.details)).toMatchObject({ reason: 'leaked in a CI log', versions: 1 });
    const listed = String((await command(b, 'key list')).json.text);
    expect(listed).toContain('(0 active)');
    expect(listed).toContain('leaked in a CI log');
    // The name is free again.
    await createKey(b, 'key create payments');
  });

  it('the grace period survives a restart, and revoking during it revokes both versions', async () => {
    const b = await start({ yaml: { ...DEFAULT_YAML, keys: { rotationGrace: '2h' } } });
    const first = await createKey(b, 'key create search');
    const res = await command(b, 'key rotate search');
    expect(res.json.text).toContain('No `scripts.rotate-api-keys` is configured');
    const second = KEY_IN_REPLY.exec(String(res.json.text))![1]!;
    await createKey(b, 'key create reports');
    await command(b, 'key rotate reports');
    await b.settle();
    await b.stop();

    const again = await start({ yaml: { ...DEFAULT_YAML, keys: { rotationGrace: '2h' } } });
    expect(await verify(again, 'search', first)).toBe(true);
    const revoked = await command(again, 'key revoke reports team disbanded');
    expect(revoked.json.text).toContain('is revoked (2 versions, including the one still in its rotation grace period)');

    await again.advanceTo(new Date(START).getTime() + 2 * HOUR + 1_000);
    expect(await verify(again, 'search', first)).toBe(false);
    expect(await verify(again, 'search', second)).toBe(true);
    const list = String((await command(again, 'key list')).json.text);
    expect(list).toContain('team disbanded');
    expect(list).toContain('rotated: grace period ended');
    // The revoked old version of `reports` keeps its revocation reason; its deadline was cancelled.
    expect((await again.waygate.services.audit.recent(20)).filter((e) => e.action === 'key.grace_ended').map((e) => e.subject)).toEqual(['search']);
  });

  it('a rotation script that fails is reported by its exit code, never its output', async () => {
    const script = join(dir, 'fail.sh');
    writeFileSync(script, '#!/bin/sh\ncat\nexit 3\n');
    chmodSync(script, 0o755);
    const b = await start({ yaml: { ...DEFAULT_YAML, scripts: { 'rotate-api-keys': { run: [script] } } } });
    await createKey(b, 'key create legacy');
    const res = await command(b, 'key rotate legacy', USERS.security, b.slack.responseUrl('failed-rotation'));
    const key = KEY_IN_REPLY.exec(String(res.json.text))![1]!;
    await b.settle();
    expect(b.slack.responsePosts('failed-rotation').map((p) => p.body.text)).toEqual(['❌ Rotation script `rotate-api-keys` for `legacy` failed: exit 3.']);
    expect(copiesIn(await databaseBytes(b), key)).toEqual([]);
    expect(copiesIn(Buffer.from(logs.join('')), key)).toEqual([]);
  });

  it('the monthly review lists keys older than 30 days in the security channel and tells their owners', async () => {
    const b = await start();
    await createKey(b, `key create old-one <@${USERS.ops}>`);
    await createKey(b, `key create mine`);
    // April 1st, 09:00 in Berlin: the keys are 29 days and 23 hours old, not yet due.
    await b.advanceTo('2026-04-01T07:30:00Z');
    await b.settle();
    expect(b.slack.messages('C0SEC').map((m) => m.text)).toEqual(['🔑 Monthly API key review: no key is older than 30 days.']);

    await b.advanceTo('2026-04-20T08:00:00Z');
    await createKey(b, `key create fresh <@${USERS.ops}>`);
    await command(b, 'key rotate mine');
    await b.advanceTo('2026-05-01T07:30:00Z');
    await b.settle();
    const review = b.slack.messages('C0SEC').at(-1)!.text;
    expect(review).toContain('1 key(s) older than 30 days');
    expect(review).toContain(`*old-one* · <@${USERS.ops}>`);
    expect(review).not.toContain('fresh');
    expect(review).not.toContain('mine');
    const dm = b.slack.messages(USERS.ops).map((m) => m.text);
    expect(dm).toHaveLength(1);
    expect(dm[0]).toContain('You own 1 API key(s) older than 30 days');
    expect(dm[0]).toContain('*old-one*');
    expect(b.slack.messages(USERS.security)).toEqual([]);
    const run = (await b.waygate.services.jobs.list()).find((j) => j.name === 'api-key-review')?.lastRun;
    expect(run?.summary).toBe('1 key(s) older than 30 days, 1 owner(s) told');
  });
});
