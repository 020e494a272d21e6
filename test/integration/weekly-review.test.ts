import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { formatDuration } from '../../src/core/text.js';
import { DEFAULT_YAML, PD_WEBHOOK_SECRET, startTestBot, USERS, type TestBot } from '../helpers/bot.js';
import { readPng } from '../support/png.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const CHECK = 5 * MIN;

/** Tuesday 3 March 2026, 14:00 in Berlin: the SOP's weekly slot, and the review under test. */
const REVIEW_AT = Date.parse('2026-03-03T13:00:00Z');
const THIS_WEEK = REVIEW_AT - 7 * DAY;
const LAST_WEEK = REVIEW_AT - 14 * DAY;

/**
 * Two weeks of incidents: when each was opened, and after how many minutes it was acknowledged and resolved
 * (null: not yet). Breaches follow from the SOP's windows (P1 5 min, P2 15 min, P3 1 h, P4 next business day).
 */
const INCIDENTS = [
  // Opened before the two weeks: in neither.
  { n: 100, priority: 'P1', at: '2026-02-17T12:00:00Z', ack: 3, resolve: 10 },
  // Last week.
  { n: 101, priority: 'P1', at: '2026-02-18T10:00:00Z', ack: 2, resolve: 30 },
  { n: 102, priority: 'P1', at: '2026-02-20T03:00:00Z', ack: 8, resolve: 60 },
  { n: 103, priority: 'P2', at: '2026-02-22T15:00:00Z', ack: 10, resolve: 120 },
  { n: 104, priority: 'P3', at: '2026-02-23T09:00:00Z', ack: 20, resolve: 26 * 60 },
  // This week.
  { n: 201, priority: 'P1', at: '2026-02-25T08:00:00Z', ack: 1, resolve: 20 },
  { n: 202, priority: 'P2', at: '2026-02-26T20:00:00Z', ack: 20, resolve: 40 },
  { n: 203, priority: 'P2', at: '2026-02-28T11:00:00Z', ack: 5, resolve: 25 },
  { n: 204, priority: 'P4', at: '2026-03-02T10:00:00Z', ack: 30, resolve: null },
  { n: 205, priority: 'P3', at: '2026-03-03T11:30:00Z', ack: null, resolve: null },
] as const;
const SLA_MIN: Record<string, number> = { P1: 5, P2: 15, P3: 60, P4: Infinity };

/** ERROR lines written to the service log before each day's 09:00 digest, from 18 Feb (last week's first). */
const ERRORS_PER_DAY = [3, 0, 5, 1, 0, 2, 4, /* this week */ 1, 0, 0, 2, 0, 1, 0];

/** The health samples: last week a 1-hour outage, this week 3 hours without checks; latencies by a pattern. */
function seedSamples(): Array<{ at: number; ok: boolean; latencyMs: number | null }> {
  const samples: Array<{ at: number; ok: boolean; latencyMs: number | null }> = [];
  for (let i = 0; i < 2016; i++) {
    const at = LAST_WEEK + i * CHECK;
    const down = i >= 600 && i < 612;
    samples.push({ at, ok: !down, latencyMs: down ? null : 100 + (i % 20) * 10 });
  }
  for (let i = 0; i < 2016; i++) {
    if (i >= 1000 && i < 1036) continue;
    samples.push({ at: THIS_WEEK + i * CHECK, ok: true, latencyMs: 80 + (i % 10) * 5 });
  }
  return samples;
}

/** The expected figures, worked out here from the seed alone. */
function nearestRank(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
}
const pct = (from: number, to: number) => `${to > from ? '▲' : '▼'} ${Math.round((Math.abs(to - from) / from) * 100)} %`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function expectedWeek(from: number) {
  const samples = seedSamples().filter((s) => s.at >= from && s.at < from + 7 * DAY);
  const incidents = INCIDENTS.filter((i) => Date.parse(i.at) >= from && Date.parse(i.at) < from + 7 * DAY);
  const acked = incidents.flatMap((i) => (i.ack === null ? [] : [i.ack * MIN]));
  const resolved = incidents.flatMap((i) => (i.resolve === null ? [] : [i.resolve * MIN]));
  const latencies = samples.flatMap((s) => (s.latencyMs === null ? [] : [s.latencyMs]));
  return {
    samples: samples.length,
    uptime: (samples.filter((s) => s.ok).length / samples.length) * 100,
    p50: nearestRank(latencies, 50),
    p95: nearestRank(latencies, 95),
    incidents: incidents.length,
    mtta: mean(acked),
    mttr: mean(resolved),
    breaches: incidents.filter((i) => (i.ack ?? Infinity) > SLA_MIN[i.priority]! && (i.ack !== null || REVIEW_AT - Date.parse(i.at) > SLA_MIN[i.priority]! * MIN)).length,
    byPriority: (p: string) => incidents.filter((i) => i.priority === p),
  };
}

describe('the weekly performance review', () => {
  let dir: string;
  let bot: TestBot | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-review-'));
    const serviceDb = new Database(join(dir, 'service.db'));
    serviceDb.exec('CREATE TABLE calls (id INTEGER PRIMARY KEY)');
    serviceDb.close();
  });
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (clockAt: string) =>
    startTestBot({
      dir,
      clock: new ManualClock(clockAt),
      // Incidents arrive as signed PagerDuty webhooks; no API token, so nothing polls PagerDuty every 5 minutes.
      env: { PAGERDUTY_WEBHOOK_SECRET: PD_WEBHOOK_SECRET },
      yaml: {
        ...DEFAULT_YAML,
        schedules: { ...DEFAULT_YAML.schedules, 'health-digest': '0 9 * * *', 'weekly-maintenance': '0 14 * * 2' },
        service: { ...DEFAULT_YAML.service, logFile: join(dir, 'waygate.log'), database: join(dir, 'service.db') },
        backup: { dir: join(dir, 'backups'), configDir: null },
      },
    });

  it('posts last week against this week from the recorded history, with a PNG chart in its thread', async () => {
    const b = (bot = await start('2026-02-17T13:30:00Z'));
    const { health, store } = b.waygate.services;
    await store.transaction(async (tx) => {
      for (const s of seedSamples()) await health.store.record(tx, { at: s.at, ok: s.ok, httpStatus: s.ok ? 200 : null, latencyMs: s.latencyMs, summary: s.ok ? 'ok' : 'connection refused' });
    });

    // Everything that happens in the two weeks, in time order; the clock moves from one to the next.
    const events: Array<{ at: number; run: () => Promise<void> }> = [];
    const webhook = (type: string, i: (typeof INCIDENTS)[number], at: number) => async () => {
      const incident = { id: `PREV${i.n}`, number: i.n, priority: i.priority, created_at: i.at };
      await b.pdSigner.send(b.pdSigner.incidentEvent(type, incident, { occurredAt: new Date(at).toISOString() }));
      await b.waygate.inboxProcessor.whenIdle();
    };
    for (const i of INCIDENTS) {
      const opened = Date.parse(i.at);
      events.push({ at: Math.max(opened, b.clock.nowMs()), run: webhook('incident.triggered', i, opened) });
      if (i.ack !== null) events.push({ at: Math.max(opened + i.ack * MIN, b.clock.nowMs()), run: webhook('incident.acknowledged', i, opened + i.ack * MIN) });
      if (i.resolve !== null) events.push({ at: Math.max(opened + i.resolve * MIN, b.clock.nowMs()), run: webhook('incident.resolved', i, opened + i.resolve * MIN) });
    }
    ERRORS_PER_DAY.forEach((errors, d) => {
      const digestAt = Date.parse('2026-02-18T08:00:00Z') + d * DAY;
      events.push({
        at: digestAt - HOUR,
        run: async () => {
          const stamp = new Date(digestAt - HOUR).toISOString().replace('T', ' ').slice(0, 19);
          const lines = [`${stamp} INFO serving`, ...Array.from({ length: errors }, (_, k) => `${stamp} ERROR tool ${k} failed`)];
          appendFileSync(join(dir, 'waygate.log'), `${lines.join('\n')}\n`);
          return Promise.resolve();
        },
      });
    });
    events.sort((x, y) => x.at - y.at);
    for (const e of events) {
      await b.advanceTo(e.at);
      await e.run();
    }
    await b.advanceTo(REVIEW_AT + MIN);
    await b.settle();

    const reviews = b.slack.messages('C0OPS').filter((m) => m.text.startsWith('Weekly performance review'));
    // Each weekly run posts its own review; the one under test is the second.
    expect(reviews.map((m) => m.text)).toEqual([
      expect.stringMatching(/^Weekly performance review — Tue 24 Feb 2026: uptime /),
      'Weekly performance review — Tue 3 Mar 2026: uptime 100 % (last week 99.4 %), 5 incidents (4), 2 SLA breaches (1)',
    ]);
    const review = reviews[1]!;
    const blocks = review.blocks as Array<{ type: string; text?: { text: string }; elements?: Array<{ text: string }> }>;
    const [service, incidents] = blocks.filter((x) => x.type === 'section').map((x) => x.text!.text);
    const context = blocks.find((x) => x.type === 'context')!.elements!.map((e) => e.text).join('\n');

    const last = expectedWeek(LAST_WEEK);
    const now = expectedWeek(THIS_WEEK);
    expect(last).toMatchObject({ samples: 2016, incidents: 4, breaches: 1 });
    expect(now).toMatchObject({ samples: 1980, incidents: 5, breaches: 2 });

    // Service: uptime with its coverage, latency percentiles, ERROR lines as the daily digests counted them.
    const lastUptime = `${(Math.floor(last.uptime * 10) / 10).toFixed(1)} %`;
    expect(service).toContain(`Uptime ${lastUptime} → 100 % ▲ ${(100 - last.uptime).toFixed(1)} pt · 2,016 of 2,016 checks → 1,980 of 2,016 checks`);
    expect(service).toContain(`Response time p50 ${last.p50} ms → ${now.p50} ms ${pct(last.p50, now.p50)}`);
    expect(service).toContain(`Response time p95 ${last.p95} ms → ${now.p95} ms ${pct(last.p95, now.p95)}`);
    const lastErrors = ERRORS_PER_DAY.slice(0, 7).reduce((a, b2) => a + b2, 0);
    const nowErrors = ERRORS_PER_DAY.slice(7).reduce((a, b2) => a + b2, 0);
    expect(service).toContain(`ERROR lines ${lastErrors} → ${nowErrors} ${pct(lastErrors, nowErrors)} · counted by 7 daily digests → 7 daily digests`);

    // Incidents opened in each week: counts, MTTA, MTTR and breaches, all together and by priority.
    expect(incidents).toContain(`Incidents ${last.incidents} → ${now.incidents} ${pct(last.incidents, now.incidents)}`);
    expect(incidents).toContain(`MTTA ${formatDuration(last.mtta)} → ${formatDuration(now.mtta)} ${pct(last.mtta, now.mtta)}`);
    expect(incidents).toContain(`MTTR ${formatDuration(last.mttr)} → ${formatDuration(now.mttr)} ${pct(last.mttr, now.mttr)}`);
    expect(incidents).toContain(`SLA breaches ${last.breaches} → ${now.breaches} ${pct(last.breaches, now.breaches)}`);
    const p1Last = last.byPriority('P1');
    const p1Now = now.byPriority('P1');
    const p1MttaLast = mean(p1Last.map((i) => i.ack! * MIN));
    expect(incidents).toContain(
      `• *P1* incidents 2 → 1 ▼ 50 % · MTTA ${formatDuration(p1MttaLast)} → ${formatDuration(p1Now[0]!.ack! * MIN)} ${pct(p1MttaLast, p1Now[0]!.ack! * MIN)}`,
    );
    const p2Last = last.byPriority('P2');
    const p2Now = now.byPriority('P2');
    const [p2MttaLast, p2MttaNow] = [mean(p2Last.map((i) => i.ack! * MIN)), mean(p2Now.map((i) => i.ack! * MIN))];
    const [p2MttrLast, p2MttrNow] = [mean(p2Last.map((i) => i.resolve! * MIN)), mean(p2Now.map((i) => i.resolve! * MIN))];
    expect(incidents).toContain(
      `• *P2* incidents 1 → 2 ▲ 100 % · MTTA ${formatDuration(p2MttaLast)} → ${formatDuration(p2MttaNow)} ${pct(p2MttaLast, p2MttaNow)} · ` +
        `MTTR ${formatDuration(p2MttrLast)} → ${formatDuration(p2MttrNow)} ${pct(p2MttrLast, p2MttrNow)} · breaches 0 → 1 ▲\n`,
    );
    // #205 is open and unacknowledged: it counts, and breached, but has no time to acknowledge yet.
    expect(incidents).toContain(`• *P3* incidents 1 → 1 (no change) · MTTA ${formatDuration(20 * MIN)} → no data this week · MTTR ${formatDuration(26 * HOUR)} → no data this week · breaches 0 → 1 ▲`);
    expect(incidents).toMatch(/• \*P4\* incidents 0 → 1 ▲ · MTTA 30 min \(no data last week\) · MTTR: no data either week · breaches 0 → 0 \(no change\)/);
    expect(context).toContain('This week: Tue 24 Feb 14:00 – Tue 3 Mar 14:00; last week: Tue 17 Feb 14:00 – Tue 24 Feb 14:00 (Europe/Berlin)');

    // The chart: a PNG uploaded through Slack's upload flow into the review's thread in the ops channel.
    const files = b.slack.files();
    expect(files).toHaveLength(2);
    const chart = files[1]!;
    expect(chart).toMatchObject({ channel: 'C0OPS', threadTs: review.ts, filename: 'waygate-weekly-review-2026-03-03.png', title: 'Weekly performance review 2026-03-03' });
    expect(chart.altText).toContain('this week against last week');
    expect(chart.bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(chart.bytes.subarray(12, 16).toString('latin1')).toBe('IHDR');
    expect(readPng(chart.bytes)).toMatchObject({ width: 1600, height: 880 });
    expect(b.slack.calls('files.getUploadURLExternal')).toHaveLength(2);
    expect(b.slack.calls('files.completeUploadExternal')).toHaveLength(2);
    expect((await b.waygate.services.outbox.stats())).toMatchObject({ pending: 0, failed: 0 });
  });

  it('is posted by a weekly-maintenance run asked for in Slack, and says what it has no data for', async () => {
    const b = (bot = await start('2026-03-03T13:00:00Z'));
    // A digest asked for by hand counts ERROR lines but keeps no tally: only scheduled digests' windows add up.
    appendFileSync(join(dir, 'waygate.log'), '2026-03-03 12:00:00 ERROR tool 1 failed\n');
    await b.signer.slashCommand({ text: 'digest', userId: USERS.ops, responseUrl: b.slack.responseUrl() });
    await b.settle();
    expect(JSON.stringify(b.slack.messages('C0OPS')[0]?.blocks)).toContain('1 ERROR line');
    const res = await b.signer.slashCommand({ text: 'jobs run weekly-maintenance', userId: USERS.ops, responseUrl: b.slack.responseUrl('wm') });
    expect(res.json.text).toContain('Starting `weekly-maintenance` now');
    await b.settle();

    const review = b.slack.messages('C0OPS').find((m) => m.text.startsWith('Weekly performance review'))!;
    const text = JSON.stringify(review.blocks);
    expect(text).toContain('Uptime: no data either week · 0 of 2,016 checks → 0 of 2,016 checks');
    expect(text).toContain('Response time p50: no data either week');
    expect(text).toContain('ERROR lines: not counted (no scheduled daily digest read the log in these two weeks)');
    expect(text).toContain('No incidents either week.');
    expect(b.slack.files()).toEqual([expect.objectContaining({ channel: 'C0OPS', threadTs: review.ts })]);
    expect(readPng(b.slack.files()[0]!.bytes)).toMatchObject({ width: 1600, height: 880 });
    expect(b.slack.responsePosts('wm')[0]?.body.text).toContain('performance review posted');
  });

  it('posts the chart exactly once when Slack rate-limits the upload and then takes it', async () => {
    const b = (bot = await start('2026-03-03T13:00:00Z'));
    b.slack.failNext('files.getUploadURLExternal', { kind: 'rate_limited', retryAfterSeconds: 3 });
    b.slack.failNext('files.completeUploadExternal', { kind: 'rate_limited', retryAfterSeconds: 1 });
    await b.signer.slashCommand({ text: 'jobs run weekly-maintenance', userId: USERS.ops, responseUrl: b.slack.responseUrl('wm') });
    await b.settle();

    const review = b.slack.messages('C0OPS').find((m) => m.text.startsWith('Weekly performance review'))!;
    expect(b.slack.calls('files.getUploadURLExternal').map((c) => c.status)).toEqual([429, 200]);
    expect(b.slack.calls('files.completeUploadExternal').map((c) => c.status)).toEqual([429, 200]);
    expect(b.slack.files()).toHaveLength(1);
    expect(b.slack.files()[0]).toMatchObject({ channel: 'C0OPS', threadTs: review.ts });
    expect(readPng(b.slack.files()[0]!.bytes).width).toBe(1600);
    expect((await b.waygate.services.outbox.stats())).toMatchObject({ pending: 0, failed: 0 });
  });
});
