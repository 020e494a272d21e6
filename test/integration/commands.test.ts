import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fetchHealthDetails, startTestBot, USERS, type TestBot } from '../helpers/bot.js';

describe('/waygate over real HTTP', () => {
  let bot: TestBot;
  beforeEach(async () => {
    bot = await startTestBot();
  });
  afterEach(async () => {
    await bot.stop();
  });

  const command = (text: string, userId: string = USERS.nobody, responseUrl = bot.slack.responseUrl()) =>
    bot.signer.slashCommand({ text, userId, responseUrl });

  it('answers a signed `help` with the verbs the caller may use, ephemerally', async () => {
    const res = await command('help', USERS.security);
    expect(res.status).toBe(200);
    expect(res.json.response_type).toBe('ephemeral');
    expect(res.json.text).toContain('/waygate help');
    expect(res.json.text).toContain('/waygate jobs [run <name>]');
    expect(res.json.text).toContain('/waygate audit [verify | export <from> <to>]');
  });

  it('leaves out of `help` the verbs the caller has no role for, and says so', async () => {
    const res = await command('help', USERS.nobody);
    expect(res.json.text).toContain('/waygate jobs');
    expect(res.json.text).not.toContain('/waygate audit');
    expect(res.json.text).not.toContain('/waygate ack');
    expect(res.json.text).toContain("17 more commands need a role you don't have");
  });

  it('treats an empty command as help', async () => {
    const res = await command('');
    expect(res.json.text).toContain('Waygate commands you can use');
  });

  it('rejects a wrong signature with 401 and runs nothing', async () => {
    const res = await bot.signer.slashCommand(
      { text: 'jobs run housekeeping', userId: USERS.ops, responseUrl: bot.slack.responseUrl() },
      { badSignature: true },
    );
    expect(res.status).toBe(401);
    expect((await bot.waygate.services.jobs.list())[0]?.lastRun).toBeUndefined();
    expect(await bot.waygate.services.audit.recent(10)).toHaveLength(0);
  });

  it('rejects a request signed more than 5 minutes ago with 401 and runs nothing', async () => {
    const res = await bot.signer.slashCommand(
      { text: 'jobs run housekeeping', userId: USERS.ops, responseUrl: bot.slack.responseUrl() },
      { timestampSec: Math.floor(Date.now() / 1000) - 301 },
    );
    expect(res.status).toBe(401);
    expect((await bot.waygate.services.jobs.list())[0]?.lastRun).toBeUndefined();
  });

  it('answers an unknown verb with an ephemeral usage error listing the verbs', async () => {
    const res = await command('frobnicate now');
    expect(res.status).toBe(200);
    expect(res.json.response_type).toBe('ephemeral');
    expect(res.json.text).toContain("I don't know `/waygate frobnicate`");
    expect(res.json.text).toContain('`help`, `ack`, `resolve`, `incidents`, `trigger`, `note`, `reassign`, `priority`, `escalate`, `deploy`, `hotfix`, `security`, `review`, `onboard`, `sop`, `oncall`, `health`, `digest`, `backup`, `jobs`, `audit`, `key`, `compliance`, `whoami`');
  });

  it('answers bad arguments with the usage line of that verb', async () => {
    const res = await command('jobs launch everything', USERS.ops);
    expect(res.json.response_type).toBe('ephemeral');
    expect(res.json.text).toContain('Usage: `/waygate jobs [run <name>]`');
  });

  it('denies a verb to a user without its role, naming the role', async () => {
    const res = await command('audit', USERS.nobody);
    expect(res.json.response_type).toBe('ephemeral');
    expect(res.json.text).toContain('needs the *security* role');
  });

  it('denies running a job to a user without ops, naming the roles', async () => {
    const res = await command('jobs run housekeeping', USERS.oncall);
    expect(res.json.text).toContain('needs the *ops* or *admin* role');
    expect((await bot.waygate.services.jobs.list())[0]?.lastRun).toBeUndefined();
  });

  it('lets an admin use a role-gated verb', async () => {
    const res = await command('audit verify', USERS.admin);
    expect(res.json.text).toContain('Audit trail intact: 0 entries');
  });

  it('runs a job after the ack and posts the outcome to the response_url, recorded and audited', async () => {
    const responseUrl = bot.slack.responseUrl('run-1');
    const res = await command('jobs run housekeeping', USERS.ops, responseUrl);
    expect(res.json.text).toContain('Starting `housekeeping` now');
    await bot.settle();
    const post = await bot.slack.waitFor(() => bot.slack.responsePosts('run-1').find((p) => p.status === 200));
    expect(post.body.text).toMatch(/`housekeeping` run #1 finished ✅ ok/);
    expect(post.body.response_type).toBe('ephemeral');
    const job = (await bot.waygate.services.jobs.list()).find((j) => j.name === 'housekeeping');
    expect(job?.lastRun).toMatchObject({ outcome: 'ok', trigger: 'manual', triggered_by: USERS.ops });
    const audit = await command('audit', USERS.security);
    expect(audit.json.text).toContain(`<@${USERS.ops}> \`job.run\` housekeeping`);
  });

  it('lists jobs with schedule, zone, next run and last outcome', async () => {
    const res = await command('jobs');
    expect(res.json.text).toContain('housekeeping');
    const blocks = JSON.stringify(res.json.blocks);
    expect(blocks).toContain('At 03:30, every day, Europe/Berlin time · `30 3 * * *`');
    // 2026-03-03 03:30 in Berlin (UTC+1) is 02:30 UTC.
    expect(blocks).toContain(`<!date^${Date.parse('2026-03-03T02:30:00Z') / 1000}^`);
    expect(blocks).toContain('never run');
  });

  it('replies that a job is already running instead of starting it twice', async () => {
    const release: Array<() => void> = [];
    await bot.stop();
    bot = await startTestBot({
      overrides: {
        jobs: [
          {
            name: 'slow',
            description: 'waits for the test',
            defaultSchedule: '0 0 1 1 *',
            run: () => new Promise((resolve) => release.push(() => resolve({ summary: 'done' }))),
          },
        ],
      },
    });
    await command('jobs run slow', USERS.ops);
    await bot.slack.waitFor(() => release.length === 1);
    const second = await command('jobs run slow', USERS.ops);
    expect(second.json.text).toContain('`slow` is already running');
    release[0]?.();
    await bot.settle();
  });
});

describe('operational endpoints', () => {
  let bot: TestBot;
  beforeEach(async () => {
    bot = await startTestBot();
  });
  afterEach(async () => {
    await bot.stop();
  });

  it('GET /health reports status, version, uptime, database and each job', async () => {
    bot.clock.advance(65_000);
    const res = await fetchHealthDetails(bot.url);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body).toMatchObject({
      status: 'ok',
      version: '0.1.0',
      uptimeSeconds: 65,
      database: { reachable: true },
      slack: { mode: 'http' },
      outbox: { pending: 0, failed: 0 },
    });
    expect(body.jobs.housekeeping).toMatchObject({ schedule: '30 3 * * *', lastRun: null });
  });

  it('GET /metrics exposes command, outbox and job counters in Prometheus text', async () => {
    await bot.signer.slashCommand({ text: 'help', userId: USERS.ops, responseUrl: bot.slack.responseUrl() });
    const res = await fetch(`${bot.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('waygate_commands_total{verb="help",outcome="ok"} 1');
    expect(text).toContain('waygate_outbox_pending 0');
    expect(text).toContain('# TYPE waygate_job_runs_total counter');
    expect(text).toContain('# TYPE waygate_slack_api_errors_total counter');
    // The one process on SQLite leads from the start.
    expect(text).toContain('waygate_leadership_changes_total{event="elected"} 1');
    expect(text).toContain('waygate_leader 1');
  });
});
