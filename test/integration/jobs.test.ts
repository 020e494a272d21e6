import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_YAML, healthDetails, startTestBot, USERS, type TestBot } from '../helpers/bot.js';
import type { JobDefinition } from '../../src/jobs/types.js';
import type { JobContext } from '../../src/context.js';
import { ManualClock } from '../../src/clock/clock.js';

describe('scheduled jobs', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  const recorder = (name: string, fail = false) => {
    const ranAt: string[] = [];
    const def: JobDefinition<JobContext> = {
      name,
      description: `test job ${name}`,
      defaultSchedule: '0 9 * * *',
      run: async (ctx) => {
        ranAt.push(ctx.clock.now().toISOString());
        if (fail) throw new Error('disk full on /backup');
        return { summary: `ran at ${ctx.clock.now().toISOString()}` };
      },
    };
    return { def, ranAt };
  };

  it('fires at 09:00 in the configured zone on both sides of a DST change, recording each run', async () => {
    const job = recorder('digest');
    // Start: 2026-03-27 10:00 UTC (11:00 Berlin, CET). Berlin moves to CEST on 2026-03-29.
    const clock = new ManualClock('2026-03-27T10:00:00Z');
    bot = await startTestBot({ clock, overrides: { jobs: [job.def] } });
    await bot.advanceTo('2026-03-31T00:00:00Z');
    expect(job.ranAt).toEqual(['2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z', '2026-03-30T07:00:00.000Z']);
    const rows = await bot.sql.all(sql`SELECT status AS outcome, trigger FROM executions WHERE kind = 'job' AND name = 'digest'`);
    expect(rows).toEqual(Array(3).fill({ outcome: 'ok', trigger: 'schedule' }));
  });

  it('honours a YAML schedule override and `false` to disable a job', async () => {
    const a = recorder('alpha');
    const b = recorder('beta');
    bot = await startTestBot({
      yaml: { ...DEFAULT_YAML, timezone: 'UTC', schedules: { alpha: '*/30 * * * *', beta: false } },
      overrides: { jobs: [a.def, b.def] },
    });
    await bot.advanceTo(bot.clock.nowMs() + 61 * 60_000);
    expect(a.ranAt).toHaveLength(2);
    expect(b.ranAt).toHaveLength(0);
    const list = await bot.signer.slashCommand({ text: 'jobs', userId: USERS.nobody, responseUrl: bot.slack.responseUrl() });
    expect(JSON.stringify(list.json.blocks)).toContain('*beta* — test job beta\\n_disabled_');
  });

  it('reports a failed scheduled run in the ops channel with the reason, and counts it', async () => {
    const job = recorder('nightly-export', true);
    bot = await startTestBot({ clock: new ManualClock('2026-03-02T07:30:00Z'), overrides: { jobs: [job.def] } });
    await bot.advanceTo('2026-03-02T08:00:00Z'); // 09:00 Berlin
    await bot.settle();
    const [message] = bot.slack.messages('C0OPS');
    expect(message?.text).toContain('Scheduled job `nightly-export` run #1 ❌ failed');
    expect(message?.text).toContain('disk full on /backup');
    const health = await healthDetails(bot.url);
    expect(health.jobs['nightly-export'].lastRun).toMatchObject({ outcome: 'failed', error: 'disk full on /backup' });
    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    expect(metrics).toContain('waygate_job_failures_total{job="nightly-export"} 1');
  });

  it('marks a run that was in progress at a crash as interrupted on the next start', async () => {
    bot = await startTestBot();
    await bot.sql.run(sql`INSERT INTO executions (kind, name, trigger, queued_at, started_at, status) VALUES ('job', 'housekeeping', 'schedule', 0, 0, 'running')`);
    const { dir, clock, slack } = bot;
    await bot.waygate.stop();
    bot = await startTestBot({ dir, clock, slack });
    const last = (await bot.waygate.services.jobs.list()).find((j) => j.name === 'housekeeping')?.lastRun;
    expect(last).toMatchObject({ outcome: 'interrupted', error: 'the bot stopped while this run was in progress' });
  });
});

describe('housekeeping', () => {
  it('prunes only old delivered messages, old webhook ids and old job records; pending messages and the audit trail stay', async () => {
    const bot = await startTestBot({ clock: new ManualClock('2026-06-01T00:00:00Z') });
    try {
      const { clock, audit } = bot.waygate.services;
      const db = bot.sql;
      const day = 86_400_000;
      const now = clock.nowMs();
      const insertOutbox = (status: string, createdAt: number, deliveredAt: number | null) =>
        db.run(sql`INSERT INTO outbox (lane, kind, payload, status, next_attempt_at, created_at, delivered_at) VALUES ('channel:CX', 'post', '{}', ${status}, ${now}, ${createdAt}, ${deliveredAt})`);
      await insertOutbox('delivered', now - 8 * day, now - 8 * day);
      await insertOutbox('delivered', now - 2 * day, now - 2 * day);
      await insertOutbox('failed', now - 40 * day, null);
      await db.run(sql`INSERT INTO webhook_inbox (event_id, event, received_at, processed_at) VALUES ('old', '{}', ${now - 31 * day}, ${now - 31 * day}), ('new', '{}', ${now - day}, ${now - day}), ('queued', '{}', ${now - 40 * day}, NULL)`);
      await db.run(sql`INSERT INTO executions (kind, name, trigger, queued_at, finished_at, status) VALUES ('job', 'x', 'schedule', ${now - 91 * day}, ${now - 91 * day}, 'ok'), ('job', 'x', 'schedule', ${now - day}, ${now - day}, 'ok')`);
      // A change sent to PagerDuty a month ago whose webhook never came back, and one of yesterday's.
      await db.run(sql`INSERT INTO pagerduty_echoes (incident_id, kind, fingerprint, created_at) VALUES ('P1', 'reassign', '', ${now - 31 * day}), ('P2', 'reassign', '', ${now - day})`);
      await bot.waygate.services.store.transaction((tx) => audit.record(tx, { actor: 'U0OPS', action: 'backup.run' }));
      const started = await bot.waygate.services.jobs.run('housekeeping', 'manual', 'U0OPS');
      if (!started.started) throw new Error(started.reason);
      const run = await started.done;
      expect(run.summary).toBe('removed 1 delivered message(s), 1 old webhook id(s), 1 unanswered change record(s) sent to PagerDuty and 1 old job run record(s)');
      expect(await db.column(sql`SELECT incident_id FROM pagerduty_echoes`)).toEqual(['P2']);
      expect(await db.column(sql`SELECT status FROM outbox ORDER BY id`)).toEqual(['delivered', 'failed']);
      // A processed id past retention goes; an event not yet applied stays, however old.
      expect(await db.column(sql`SELECT event_id FROM webhook_inbox ORDER BY seq`)).toEqual(['new', 'queued']);
      expect(await audit.verify()).toMatchObject({ ok: true, entries: 1 });
    } finally {
      await bot.stop();
    }
  });
});
