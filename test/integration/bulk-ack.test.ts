import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { ACK_BUDGET_MS } from '../../src/core/ack-budget.js';
import type { IncidentEvent } from '../../src/incidents/events.js';
import { validateMessage } from '../../standins/slack/index.js';
import { waitFor } from '../../standins/shared/wait-for.js';
import { DEFAULT_YAML, startTestBot, USERS, type TestBot } from '../helpers/bot.js';
import { timeLimit } from '../helpers/sql.js';

const START = Date.parse('2026-03-02T08:00:00.000Z');
/** The size of a bounded answer: one section of Slack's 3,000 characters and the text beside it, with room. */
const BOUNDED = 8_000;

/** Opens `count` P1 incidents in PagerDuty and in the bot, through the webhook inbox as PagerDuty's events would. */
async function openIncidents(bot: TestBot, count: number, first = 1): Promise<void> {
  const accepted: Array<Promise<unknown>> = [];
  for (let number = first; number < first + count; number++) {
    const id = `PBULK${number}`;
    bot.pd?.addIncident({ id, number, status: 'triggered', title: `disk full on host-${number}`, priority: 'P1' });
    const event: IncidentEvent = {
      eventId: `EVBULK${number}`,
      type: 'incident.triggered',
      occurredAt: START,
      agentName: null,
      incidentId: id,
      incident: { id, number, title: `disk full on host-${number}`, status: 'triggered', priorityName: 'P1', urgency: 'high', service: 'API', htmlUrl: null, assignees: [], createdAt: START },
    };
    accepted.push(bot.waygate.incidentIngest.accept(event));
  }
  await Promise.all(accepted);
  await bot.waygate.inboxProcessor.whenIdle();
}

/**
 * Opens `count` P1 incidents straight in the database, as the webhook path would have left them (without
 * their SLA timers): applying 10,000 webhook events first would cost this test most of its time.
 */
async function seedIncidents(bot: TestBot, count: number): Promise<void> {
  const rows = [];
  for (let number = 1; number <= count; number++) {
    const id = `PBULK${number}`;
    bot.pd!.addIncident({ id, number, status: 'triggered', title: `disk full on host-${number}`, priority: 'P1' });
    rows.push(sql`(${id}, ${number}, ${`disk full on host-${number}`}, 'triggered', 'P1', 'P1', 'high', 'API', ${START}, ${START}, ${START}, ${START + 300_000}, ${START + 240_000}, 'running', ${START})`);
  }
  // Many rows to a statement: one statement per row would cost PostgreSQL a round trip each.
  for (let i = 0; i < rows.length; i += 1_000) {
    await bot.sql.run(
      sql`INSERT INTO incidents (id, number, title, status, priority, pd_priority, urgency, service, created_at, last_event_at, last_pd_event_at, sla_deadline, sla_warn_at, sla_state, updated_at)
          VALUES ${sql.join(rows.slice(i, i + 1_000))}`,
    );
  }
}

describe('acknowledging thousands of incidents at once', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  it(
    '`/waygate ack P1` with 10,000 open: a bounded, valid answer at once, the work in batches that let /health through, PagerDuty told in bulk',
    async () => {
      // No alerts channel: this is about the command, not about redrawing 10,000 alert messages.
      const { alerts: _alerts, ...channels } = DEFAULT_YAML.channels;
      const b = (bot = await startTestBot({ clock: new ManualClock(START), pagerDuty: true, yaml: { ...DEFAULT_YAML, channels } }));
      b.slack.addUser({ id: USERS.oncall, name: 'olga', email: 'olga@example.com' });
      const N = 10_000;
      await seedIncidents(b, N);
      const acknowledged = async () => (await b.sql.value<number>(sql`SELECT COUNT(*) FROM incidents WHERE status = 'acknowledged'`))!;

      const answer = b.signer.slashCommand({ text: 'ack P1', userId: USERS.oncall, responseUrl: b.slack.responseUrl('bulk') });
      // Once the work is under way, a load balancer asks for /health: it is answered before the work is done.
      await waitFor(async () => (await acknowledged()) > 0, 15_000);
      let acknowledgedWhenHealthAnswered = -1;
      const health = fetch(`${b.url}/health`).then(async (r) => {
        acknowledgedWhenHealthAnswered = await acknowledged();
        return r.status;
      }, () => -1);

      const res = await answer;
      // Answered by the command itself (Bolt answers 404 when nothing acks within 3 s).
      expect(res.status).toBe(200);
      expect(validateMessage(res.json)).toEqual([]);
      expect(res.text.length).toBeLessThan(BOUNDED);
      expect(res.json.text).toContain('Acknowledging 10,000 open, unacknowledged P1 incidents');
      expect(res.json.text).toContain('#1, #2, #3, #4, #5 and 9,995 more');
      expect(res.json.text).toContain('`/waygate incidents`');

      expect(await health).toBe(200);
      expect(acknowledgedWhenHealthAnswered).toBeGreaterThan(0);
      expect(acknowledgedWhenHealthAnswered).toBeLessThan(N);

      await b.waygate.inflight.drain();
      await b.settle();
      expect(await acknowledged()).toBe(N);
      // PagerDuty heard of all of them in bulk updates, one per batch.
      const puts = b.pd!.calls('rest').filter((c) => c.method === 'PUT');
      expect(puts.map((c) => c.path)).toEqual(Array.from({ length: N / 100 }, () => '/incidents'));
      expect(puts[0]?.headers.from).toBe('olga@example.com');
      expect(b.pd!.allIncidents().filter((i) => i.status === 'acknowledged')).toHaveLength(N);
      expect(await b.sql.value(sql`SELECT COUNT(*) FROM incidents WHERE pd_sync = 'synced'`)).toBe(N);

      // The outcome follows at the response_url, bounded too.
      const told = b.slack.responsePosts('bulk');
      expect(told).toHaveLength(1);
      const outcome = told[0]!.body as { text: string; blocks?: unknown[] };
      expect(validateMessage(outcome)).toEqual([]);
      expect(JSON.stringify(outcome).length).toBeLessThan(BOUNDED);
      expect(outcome.text).toContain('✅ Acknowledged 10,000 P1 incidents: #1, #2, #3, #4, #5, #6, #7, #8, #9, #10 and 9,990 more.');
    },
    timeLimit(180_000),
  );

  it(
    'a storm summary’s Acknowledge all P1 over hundreds of incidents: batches, PagerDuty told in bulk, a bounded, valid answer',
    async () => {
      const clock = new ManualClock(START);
      const b = (bot = await startTestBot({ clock, pagerDuty: true }));
      const N = 250;
      await openIncidents(b, N, 9001);
      // The channel backed up after the first alerts, so the rest are in one storm; let its summary catch up.
      type Element = { action_id?: string; value?: string; text?: { text?: string } };
      const button = (): Element | undefined =>
        ((b.slack.messages('C0ALERTS').find((m) => m.text.startsWith('Alert storm'))?.blocks ?? []) as Array<{ elements?: Element[] }>)
          .flatMap((x) => x.elements ?? [])
          .find((e) => e.action_id === 'incident.acknowledge_all_p1');
      for (let i = 0; i < 20 && !/\((24\d)\)/.test(button()?.text?.text ?? ''); i++) await b.advanceTo(clock.nowMs() + 1_000);
      const members = Number(/\((\d+)\)/.exec(button()?.text?.text ?? '')?.[1]);
      expect(members).toBeGreaterThan(240);

      const summary = b.slack.messages('C0ALERTS').find((m) => m.text.startsWith('Alert storm'))!;
      let answered = false;
      const clicked = b.signer
        .blockAction({ actionId: 'incident.acknowledge_all_p1', value: button()!.value!, userId: USERS.lead, channelId: 'C0ALERTS', messageTs: summary.ts, responseUrl: b.slack.responseUrl('storm-all') })
        .finally(() => (answered = true));
      // The batches take what they take (on PostgreSQL longer than Slack waits): once the work is recorded, the
      // ack budget runs out on the bot's clock, as it would after 2 s, and the click is acked while they go on.
      await waitFor(async () => answered || ((await b.sql.value<number>(sql`SELECT COUNT(*) FROM executions WHERE kind = 'incident-bulk'`)) ?? 0) > 0, 15_000);
      b.clock.advance(ACK_BUDGET_MS);
      const res = await clicked;
      expect(res.status).toBe(200);
      await b.waygate.inflight.drain();
      await b.settle();

      const acknowledged = (await b.waygate.services.incidents.open('P1')).filter((i) => i.status === 'acknowledged');
      expect(acknowledged).toHaveLength(members);
      const puts = b.pd!.calls('rest').filter((c) => c.method === 'PUT');
      expect(puts.map((c) => c.path)).toEqual(['/incidents', '/incidents', '/incidents']);
      const told = b.slack.responsePosts('storm-all');
      expect(told).toHaveLength(1);
      expect(validateMessage(told[0]!.body)).toEqual([]);
      expect(JSON.stringify(told[0]!.body).length).toBeLessThan(BOUNDED);
      const text = String(told[0]!.body.text);
      expect(text.startsWith(`Acknowledged the ${members} P1 incidents this storm summary showed: #`)).toBe(true);
      expect(text.endsWith(` and ${members - 10} more.`)).toBe(true);
      expect(text.match(/#\d+/g)).toHaveLength(10);
    },
    timeLimit(120_000),
  );

  it('when PagerDuty refuses a bulk update (one incident moved on there), the rest go one at a time, and the user hears once', async () => {
    const b = (bot = await startTestBot({ clock: new ManualClock(START), pagerDuty: true }));
    b.slack.addUser({ id: USERS.oncall, name: 'olga', email: 'olga@example.com' });
    await openIncidents(b, 12, 501);
    await b.settle();
    // PagerDuty resolved #505 a moment ago; its webhook has not arrived yet.
    b.pd!.addIncident({ id: 'PBULK505', number: 505, status: 'resolved', title: 'disk full on host-505', priority: 'P1' });

    const res = await b.signer.slashCommand({ text: 'ack P1', userId: USERS.oncall, responseUrl: b.slack.responseUrl('refused') });
    expect(res.json.text).toContain('✅ Acknowledged 12 P1 incidents: #501, #502');
    await b.settle();

    const puts = b.pd!.calls('rest').filter((c) => c.method === 'PUT').map((c) => c.path);
    expect(puts[0]).toBe('/incidents');
    expect(puts.slice(1).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `/incidents/PBULK${501 + i}`).sort());
    expect(b.pd!.allIncidents().filter((i) => i.status === 'acknowledged').map((i) => i.number).sort()).toEqual([501, 502, 503, 504, 506, 507, 508, 509, 510, 511, 512]);
    expect(b.slack.responsePosts('refused').map((p) => p.body.text)).toEqual([
      expect.stringMatching(/^⚠️ PagerDuty refused the acknowledgement of 12 incidents sent together: .*Incident Already Resolved.*\. Sending 12 of them again one at a time; each alert shows whether PagerDuty took it\.$/),
    ]);
    const sync = async (id: string) => (await b.waygate.services.incidents.get(id))?.pd_sync;
    expect([await sync('PBULK501'), await sync('PBULK505')]).toEqual(['synced', 'failed']);
    const alert = b.slack.messages('C0ALERTS').find((m) => m.text.includes('#505 '));
    expect(JSON.stringify(alert?.blocks)).toContain('PagerDuty did not accept the change made here');
  });

  it('when PagerDuty is briefly unavailable for a bulk update, the user hears once and it goes through on retry', async () => {
    const b = (bot = await startTestBot({ clock: new ManualClock(START), pagerDuty: true }));
    await openIncidents(b, 3, 601);
    await b.settle();
    b.pd!.failNext('rest', { kind: 'http_error', status: 503 });
    await b.signer.slashCommand({ text: 'ack P1', userId: USERS.oncall, responseUrl: b.slack.responseUrl('retry') });
    await b.settle();
    expect(b.slack.responsePosts('retry').map((p) => p.body.text)).toEqual([
      expect.stringMatching(/^PagerDuty did not take the acknowledgement of 3 incidents yet \(.*503.*\)\. It stands here, and I'll keep retrying until PagerDuty has it\.$/),
    ]);
    expect(b.pd!.calls('rest').filter((c) => c.method === 'PUT').map((c) => c.path)).toEqual(['/incidents', '/incidents']);
    expect(b.pd!.allIncidents().map((i) => i.status)).toEqual(['acknowledged', 'acknowledged', 'acknowledged']);
  });

  it('a database failure mid-way stops the bulk acknowledgement and says how far it got; what was done stands', async () => {
    const { alerts: _alerts, ...channels } = DEFAULT_YAML.channels;
    const b = (bot = await startTestBot({ clock: new ManualClock(START), yaml: { ...DEFAULT_YAML, channels } }));
    await openIncidents(b, 250, 1001);
    // The incident in the second batch cannot be written (as a full disk would refuse it).
    if (b.sql.backend === 'sqlite') {
      await b.sql.run(sql`CREATE TRIGGER refuse BEFORE UPDATE ON incidents WHEN NEW.id = 'PBULK1150' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    } else {
      await b.sql.run(sql`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$`);
      await b.sql.run(sql`CREATE TRIGGER refuse BEFORE UPDATE ON incidents FOR EACH ROW WHEN (NEW.id = 'PBULK1150') EXECUTE FUNCTION refuse()`);
    }
    const res = await b.signer.slashCommand({ text: 'ack P1', userId: USERS.oncall, responseUrl: b.slack.responseUrl('broken') });
    expect(res.json.text).toContain('Acknowledging 250 open, unacknowledged P1 incidents');
    await b.waygate.inflight.drain();
    await b.settle();
    expect(b.slack.responsePosts('broken').map((p) => p.body.text)).toEqual([
      '⚠️ `/waygate ack P1` stopped after 100 of 250 incidents: something went wrong, and it has been logged. Those it got to stay acknowledged.',
    ]);
    expect((await b.waygate.services.incidents.open('P1')).filter((i) => i.status === 'acknowledged')).toHaveLength(100);
  });

  it('tells whoever asked when a restart cut a bulk acknowledgement short', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waygate-bulk-'));
    try {
      const first = await startTestBot({ clock: new ManualClock(START), dir });
      const { incidents } = first.waygate.services;
      // Recorded before the ack; the process died before the work began, and another one mid-way.
      await incidents.acknowledgeLater({ ids: ['PX1'], slackUser: USERS.oncall, responseUrl: first.slack.responseUrl('queued'), what: '`/waygate ack P2`', report: () => ({ text: 'never' }) });
      await incidents.acknowledgeLater({ ids: ['PX2'], slackUser: USERS.oncall, responseUrl: first.slack.responseUrl('running'), what: '`/waygate ack P1`', report: () => ({ text: 'never' }) });
      await first.sql.run(sql`UPDATE executions SET status = 'running', started_at = queued_at WHERE name = '\`/waygate ack P1\`'`);
      const slack = first.slack;
      await first.waygate.stop();

      const again = (bot = await startTestBot({ clock: new ManualClock(START + 60_000), dir, slack }));
      await again.settle();
      expect(slack.responsePosts('running').map((p) => p.body.text)).toEqual([
        '⚠️ Waygate restarted before it finished `/waygate ack P1`. The incidents it got to stay acknowledged; do it again to acknowledge the rest.',
      ]);
      expect(slack.responsePosts('queued').map((p) => p.body.text)).toEqual([
        '⚠️ Waygate restarted before it finished `/waygate ack P2`. The incidents it got to stay acknowledged; do it again to acknowledge the rest.',
      ]);
      expect(await again.sql.column(sql`SELECT status FROM executions WHERE kind = 'incident-bulk' ORDER BY id`)).toEqual(['failed', 'interrupted']);
      await again.stop();
      bot = undefined;
      await slack.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
