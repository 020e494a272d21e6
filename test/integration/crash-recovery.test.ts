import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackStandIn } from '../../standins/slack/index.js';
import { SlackRequestSigner } from '../../standins/slack/index.js';
import { ManualClock } from '../../src/clock/clock.js';
import { BOT_TOKEN, DEFAULT_YAML, SIGNING_SECRET, USERS, startTestBot, testEnv } from '../helpers/bot.js';
import { spawnBot, type BotProcess } from '../helpers/process.js';
import { afterLeaderDeath, backendEnv, timeLimit } from '../helpers/sql.js';

/** A small Waygate MCP database to back up. */
function makeServiceDb(path: string): void {
  const db = new Database(path);
  db.exec('CREATE TABLE tools (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO tools (name) VALUES (\'search\'), (\'fetch\')');
  db.close();
}

// Real processes start in seconds on a quiet machine, but much slower when CI runs test files side by side.
describe('work asked for just before a crash', { timeout: timeLimit(60_000) }, () => {
  let slack: SlackStandIn;
  let dir: string;
  const running: BotProcess[] = [];

  beforeEach(async () => {
    slack = await SlackStandIn.start({ token: BOT_TOKEN });
    dir = mkdtempSync(join(tmpdir(), 'waygate-crash-'));
  });
  afterEach(async () => {
    for (const bot of running.splice(0)) {
      if (bot.child.exitCode === null && bot.child.signalCode === null) bot.child.kill('SIGKILL');
      await bot.exited;
    }
    await slack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const yaml = () => ({
    ...DEFAULT_YAML,
    service: { ...DEFAULT_YAML.service, database: join(dir, 'service.db') },
    backup: { dir: join(dir, 'backups'), configDir: null, offsite: 'remote:/backup/' },
  });

  it('reports a `/waygate backup now` killed mid-run as interrupted to the person who asked, after the restart', async () => {
    makeServiceDb(join(dir, 'service.db'));
    // An offsite copy that never finishes keeps the backup running until the SIGKILL, whatever the machine's speed.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const started = join(dir, 'rsync-started');
    writeFileSync(join(bin, 'rsync'), `#!/bin/sh\necho $$ > '${started}'\nexec sleep 600\n`);
    chmodSync(join(bin, 'rsync'), 0o755);
    const env = { ...testEnv(dir, slack, yaml()), ...(await backendEnv(dir)), LOG_LEVEL: 'info' };

    const first = spawnBot({ ...env, PATH: `${bin}:${process.env.PATH ?? ''}` });
    running.push(first);
    const signer = new SlackRequestSigner({ url: `http://127.0.0.1:${await first.ready}`, signingSecret: SIGNING_SECRET });
    const ack = await signer.slashCommand({ text: 'backup now', userId: USERS.ops, responseUrl: slack.responseUrl('asked') });
    expect(ack.json.text).toContain('Starting a backup now');
    await slack.waitFor(() => existsSync(started) || undefined, 10_000);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    // The dead bot's rsync would linger for ten minutes.
    process.kill(Number(readFileSync(started, 'utf8')), 'SIGKILL');
    expect(slack.responsePosts('asked')).toEqual([]);

    const second = spawnBot(env);
    running.push(second);
    await second.ready;
    // It reports once it leads: on PostgreSQL, once the killed process's lease ran out.
    await slack.waitFor(() => slack.responsePosts('asked').length > 0 || undefined, afterLeaderDeath(10_000));
    expect(slack.responsePosts('asked').map((p) => p.body.text)).toEqual([
      '⚠️ Backup run #1 was interrupted: the bot stopped while this run was in progress. Start it again with `/waygate backup now`.',
    ]);
    await slack.waitFor(() => slack.messages('C0OPS').length > 0 || undefined, 10_000);
    expect(slack.messages('C0OPS').map((m) => m.text)).toEqual([
      `⚠️ Waygate restarted while these job runs were in progress; they did not finish:\n• \`backup\` run #1 (started by <@${USERS.ops}>)`,
    ]);
  });

  it('shows a hotfix whose deploy script was running when the bot was SIGKILLed as interrupted, with Retry/Skip/Abort, and never re-runs it', async () => {
    const started = join(dir, 'deploy-started');
    const deploy = join(dir, 'deploy.sh');
    writeFileSync(deploy, `#!/bin/sh\necho "$$" >> '${started}'\necho deploying\nexec sleep 600\n`);
    chmodSync(deploy, 0o755);
    const env = { ...testEnv(dir, slack, { ...yaml(), scripts: { 'emergency-deploy': { run: [deploy, '{ref}'], timeout: '30m' } } }), ...(await backendEnv(dir)), LOG_LEVEL: 'info' };

    const first = spawnBot(env);
    running.push(first);
    const signer = new SlackRequestSigner({ url: `http://127.0.0.1:${await first.ready}`, signingSecret: SIGNING_SECRET });
    expect((await signer.slashCommand({ text: 'hotfix main crash test', userId: USERS.oncall, responseUrl: slack.responseUrl() })).json.text).toContain('Started *Hotfix* run #1');
    const runMessage = () => slack.messages('C0OPS').find((m) => !m.thread_ts && m.text.startsWith('Hotfix run #1'));
    const approve = await slack.waitFor(() => {
      const blocks = (runMessage()?.blocks ?? []) as Array<{ elements?: Array<{ action_id?: string; value?: string }> }>;
      return blocks.flatMap((b) => b.elements ?? []).find((e) => e.action_id === 'sop.approve')?.value;
    }, 10_000);
    await signer.blockAction({ actionId: 'sop.approve', value: approve, userId: USERS.lead, channelId: 'C0OPS', messageTs: runMessage()!.ts, responseUrl: slack.responseUrl() });
    await slack.waitFor(() => existsSync(started) || undefined, 10_000);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    // The dead bot's script would linger for ten minutes.
    process.kill(Number(readFileSync(started, 'utf8').trim()), 'SIGKILL');

    const second = spawnBot(env);
    running.push(second);
    await second.ready;
    // It recovers the run once it leads: on PostgreSQL, once the killed process's lease ran out.
    await slack.waitFor(() => JSON.stringify(runMessage()?.blocks ?? []).includes('interrupted: Waygate stopped while it ran') || undefined, afterLeaderDeath(10_000));
    const shown = JSON.stringify(runMessage()?.blocks);
    for (const id of ['sop.retry', 'sop.skip', 'sop.abort']) expect(shown).toContain(`"action_id":"${id}"`);
    expect(slack.messages('C0OPS').map((m) => m.text)).toContainEqual(expect.stringContaining('⚠️ Waygate stopped while step 2 was running. It was not re-run'));
    // Started once, before the crash; not again on its own.
    expect(readFileSync(started, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('tells the asker when a queued run names a job this version no longer has', async () => {
    const clock = new ManualClock('2026-03-02T08:00:00Z');
    const first = await startTestBot({ dir, slack, clock });
    await first.sql.run(
      sql`INSERT INTO executions (kind, name, trigger, triggered_by, queued_at, status, notify)
          VALUES ('job', 'nightly-export', 'manual', ${USERS.ops}, ${clock.nowMs()}, 'queued', ${JSON.stringify({ responseUrl: slack.responseUrl('ghost') })})`,
    );
    await first.waygate.stop();
    const second = await startTestBot({ dir, slack, clock });
    try {
      await second.settle();
      expect(slack.responsePosts('ghost').map((p) => p.body.text)).toEqual([
        '`nightly-export` run #1 finished ❌ failed: this version has no job called nightly-export',
      ]);
      expect(await second.sql.value(sql`SELECT status FROM executions WHERE id = 1`)).toBe('failed');
    } finally {
      await second.stop();
    }
  });

  it('runs a backup that was acknowledged but never started, at the next start, and reports it', async () => {
    makeServiceDb(join(dir, 'service.db'));
    const clock = new ManualClock('2026-03-02T08:00:00Z');
    const y = { ...yaml(), backup: { dir: join(dir, 'backups'), configDir: null } };
    const first = await startTestBot({ dir, slack, clock, yaml: y });
    // The state a crash right after the ack leaves: the request committed as a queued run, nothing started.
    const responseUrl = slack.responseUrl('queued');
    await first.sql.run(
      sql`INSERT INTO executions (kind, name, trigger, triggered_by, queued_at, status, notify)
          VALUES ('job', 'backup', 'manual', ${USERS.ops}, ${clock.nowMs()}, 'queued', ${JSON.stringify({ responseUrl })})`,
    );
    // A graceful stop does not run it either: only a start does.
    await first.waygate.stop();
    expect(slack.responsePosts('queued')).toEqual([]);

    const second = await startTestBot({ dir, slack, clock, yaml: y });
    try {
      await second.settle();
      const report = slack.responsePosts('queued').map((p) => p.body.text);
      expect(report).toHaveLength(1);
      expect(report[0]).toMatch(/^✅ Backup finished: waygate_\d{8}.*\.db \(2 rows, integrity ok\); no offsite copy$/);
      expect(slack.messages('C0OPS').some((m) => m.text.includes('*Backup*'))).toBe(true);
      const last = (await second.waygate.services.jobs.list()).find((j) => j.name === 'backup')?.lastRun;
      expect(last).toMatchObject({ outcome: 'ok', trigger: 'manual', triggered_by: USERS.ops });
    } finally {
      await second.stop();
    }
  });
});
