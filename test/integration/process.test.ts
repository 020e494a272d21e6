import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackStandIn, SlackRequestSigner } from '../../standins/slack/index.js';
import { BOT_TOKEN, DEFAULT_YAML, SIGNING_SECRET, USERS, fetchHealthDetails, healthDetails, testEnv, writeConfig } from '../helpers/bot.js';
import { spawnBot, type BotProcess } from '../helpers/process.js';
import { afterLeaderDeath, backendEnv, databaseLabel, openBotDatabase, testBackend, timeLimit } from '../helpers/sql.js';

// Real processes start in seconds on a quiet machine, but much slower when CI runs test files side by side.
describe('the bot as a process', { timeout: timeLimit(60_000) }, () => {
  let slack: SlackStandIn;
  let dir: string;
  /** The processes' database: the SQLite file in `dir`, or the folder's PostgreSQL database. */
  let database: Record<string, string>;
  const running: BotProcess[] = [];

  beforeEach(async () => {
    slack = await SlackStandIn.start({ token: BOT_TOKEN });
    dir = mkdtempSync(join(tmpdir(), 'waygate-proc-'));
    database = await backendEnv(dir);
  });
  afterEach(async () => {
    for (const bot of running.splice(0)) {
      if (bot.child.exitCode === null && bot.child.signalCode === null) bot.child.kill('SIGKILL');
      await bot.exited;
    }
    await slack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (env: Record<string, string>): BotProcess => {
    const bot = spawnBot(env);
    running.push(bot);
    return bot;
  };
  const env = (): Record<string, string> => ({ ...testEnv(dir, slack, DEFAULT_YAML), ...database, LOG_LEVEL: 'info' });
  const health = (port: number) => healthDetails<{ outbox: { pending: number }; leadership: { role: string } }>(`http://127.0.0.1:${port}`);

  it('serves /health and /metrics, and stops cleanly on SIGTERM', async () => {
    const bot = start(env());
    const port = await bot.ready;
    const res = await fetchHealthDetails(`http://127.0.0.1:${port}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toMatchObject({ status: 'ok', database: { reachable: true } });
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(await metrics.text()).toContain('waygate_outbox_pending 0');
    bot.child.kill('SIGTERM');
    expect(await bot.exited).toEqual({ code: 0, signal: null });
    expect(bot.stdout.some((l) => l.includes('Waygate stopped'))).toBe(true);
  });

  it('exits 1 naming the field when a YAML value is invalid, without a stack trace', async () => {
    const bad = { ...DEFAULT_YAML, roles: { ...DEFAULT_YAML.roles, lead: ['bob'] }, timezone: 'Mars/Olympus' };
    const bot = start({ ...env(), WAYGATE_CONFIG: writeConfig(dir, bad) });
    expect((await bot.exited).code).toBe(1);
    const err = bot.stderr.join('\n');
    expect(err).toContain('roles.lead[0] must be a Slack user id');
    expect(err).toContain('timezone must be an IANA time zone');
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('exits 1 naming a missing required variable', async () => {
    const { SLACK_BOT_TOKEN: _omit, ...rest } = env();
    const bot = start(rest);
    expect((await bot.exited).code).toBe(1);
    expect(bot.stderr.join('\n')).toContain('env: SLACK_BOT_TOKEN is required');
  });

  it('exits 1 naming the versions when the database was written by a newer Waygate', async () => {
    const db = await openBotDatabase(dir);
    await db.sql.run(sql`INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')`);
    await db.close();
    const bot = start(env());
    expect((await bot.exited).code).toBe(1);
    const err = bot.stderr.join('\n');
    expect(err).toContain(`waygate: could not start: database ${await databaseLabel(dir)} has migrations this version of Waygate does not know: 999 (from the future)`);
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('refuses a second process on a SQLite database, naming the first (on PostgreSQL it follows the first); a killed holder leaves no stale lock', async () => {
    const first = start(env());
    await first.ready;
    const second = start(env());
    if (testBackend() === 'postgres') {
      // Replicas share a PostgreSQL database: the second runs as a follower (decision 021; failover is postgres-failover.test.ts).
      const port = await second.ready;
      expect((await health(port)).leadership.role).toBe('follower');
      second.child.kill('SIGKILL');
      await second.exited;
    } else {
      expect((await second.exited).code).toBe(1);
      // SQLite's lock file names the process.
      expect(second.stderr.join('\n')).toContain(`waygate: could not start: database ${await databaseLabel(dir)} is in use by another Waygate (pid ${first.child.pid} on host ${hostname()}`);
    }
    first.child.kill('SIGKILL');
    await first.exited;
    const third = start(env());
    expect(await third.ready).toBeGreaterThan(0);
  }, timeLimit(60_000)); // three processes start one after the other

  it('exits 1 with a clear line when Slack rejects the bot token', async () => {
    const bot = start({ ...env(), SLACK_BOT_TOKEN: 'xoxb-test-wrong' });
    expect((await bot.exited).code).toBe(1);
    expect(bot.stderr.join('\n')).toContain('Slack rejected SLACK_BOT_TOKEN');
    expect(bot.stdout.join('\n')).not.toContain('xoxb-test-wrong');
  });

  it('delivers a committed message exactly once after a SIGKILL mid-delivery', async () => {
    slack.failNext('response_url', { kind: 'hang' });
    const first = start(env());
    const port = await first.ready;
    const signer = new SlackRequestSigner({ url: `http://127.0.0.1:${port}`, signingSecret: SIGNING_SECRET });
    const ack = await signer.slashCommand({
      text: 'jobs run housekeeping',
      userId: USERS.ops,
      responseUrl: slack.responseUrl('kill-1'),
    });
    expect(ack.json.text).toContain('Starting `housekeeping`');
    // The dispatcher only sends committed rows: a request on the wire proves the commit happened.
    await slack.waitFor(() => slack.responsePosts('kill-1').some((p) => p.status === 'hung'));
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const second = start(env());
    const port2 = await second.ready;
    // It delivers once it leads: on PostgreSQL, once the killed process's lease ran out.
    await slack.waitFor(async () => (await health(port2)).outbox.pending === 0 || undefined, afterLeaderDeath(10_000));
    const delivered = slack.responsePosts('kill-1').filter((p) => p.status === 200);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]?.body.text).toMatch(/`housekeeping` run #1 finished ✅ ok/);
  });
});
