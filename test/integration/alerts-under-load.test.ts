import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { startTestBot, USERS, type TestBot } from '../helpers/bot.js';
import { timeLimit } from '../helpers/sql.js';

const START = Date.parse('2026-03-02T08:00:00.000Z'); // Monday 09:00 in Berlin
const OPEN = 200;

/** Pending card refreshes (chat.update) waiting in the alerts channel's lane. */
async function queuedRefreshes(bot: TestBot): Promise<number> {
  return (await bot.sql.value<number>(sql`SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND kind = 'update' AND lane = 'channel:C0ALERTS'`))!;
}

const alertOf = (bot: TestBot, number: number) => bot.slack.messages('C0ALERTS').find((m) => m.text.startsWith(`P1 #${number} `));

describe('the alerts channel under a backlog of card refreshes', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  /** 200 open P1 alerts, all posted, in a channel Slack limits to one message per second. */
  async function twoHundredOpenP1s(): Promise<{ b: TestBot; clock: ManualClock }> {
    const clock = new ManualClock(START);
    const b = (bot = await startTestBot({ clock, pagerDuty: true }));
    b.slack.limitChannel('C0ALERTS', 1, () => clock.nowMs());
    b.slack.addUser({ id: USERS.oncall, name: 'olga', email: 'olga@example.com' });
    const at = clock.now().toISOString();
    await sendAll(b, (n) => {
      b.pd!.addIncident({ id: `PLOAD${n}`, number: 3000 + n, status: 'triggered', title: `queue depth ${n}` });
      return b.pdSigner.incidentEvent('incident.triggered', { id: `PLOAD${n}`, number: 3000 + n, priority: 'P1', title: `queue depth ${n}`, created_at: at }, { occurredAt: at });
    });
    await b.settle();
    expect(b.slack.messages('C0ALERTS').filter((m) => /^P1 #3\d{3} /.test(m.text))).toHaveLength(OPEN);
    return { b, clock };
  }

  /** Sends one signed PagerDuty delivery for each of the 200 incidents, a few at a time as PagerDuty does. */
  async function sendAll(b: TestBot, body: (n: number) => object): Promise<void> {
    for (let first = 1; first <= OPEN; first += 20) {
      const batch = Array.from({ length: Math.min(20, OPEN - first + 1) }, (_, i) => b.pdSigner.send(body(first + i)));
      for (const res of await Promise.all(batch)) expect(res.status).toBe(200);
    }
  }

  /** `/waygate ack P1` as the on-call engineer: every card must be redrawn as acknowledged. */
  async function ackAllP1(b: TestBot): Promise<void> {
    const res = await b.signer.slashCommand({ text: 'ack P1', userId: USERS.oncall, responseUrl: b.slack.responseUrl('bulk') });
    expect(res.status).toBe(200);
    await b.slack.waitFor(async () => (await b.waygate.services.incidents.open('P1')).every((i) => i.status === 'acknowledged'), 10_000);
  }

  /** Steps the clock from `from` in quarter seconds for up to 5 s; the delay after which `seen()` held, if it did. */
  async function visibleWithin5s(b: TestBot, from: number, seen: () => unknown): Promise<number | undefined> {
    for (let ms = 0; ms <= 5000; ms += 250) {
      await b.advanceTo(from + ms);
      if (seen()) return ms;
    }
    return undefined;
  }

  it('a new P1, and later its SLA escalation, are posted within 5 s although 200 card refreshes wait in the channel each time', async () => {
    const { b, clock } = await twoHundredOpenP1s();
    const iso = (ms: number) => new Date(ms).toISOString();
    await ackAllP1(b);
    expect(await queuedRefreshes(b)).toBeGreaterThanOrEqual(OPEN - 5);

    const storms = () => b.slack.messages('C0ALERTS').filter((m) => m.text.startsWith('Alert storm')).length;
    const stormsBefore = storms();
    const t0 = clock.nowMs();
    const res = await b.pdSigner.send(b.pdSigner.incidentEvent('incident.triggered', { id: 'PNEWP1', number: 4242, priority: 'P1', title: 'payments down', created_at: iso(t0) }, { occurredAt: iso(t0) }));
    expect(res.status).toBe(200);
    expect(await visibleWithin5s(b, t0, () => alertOf(b, 4242)), 'the new P1 alert was not in the channel within 5 s').toBeDefined();
    // Its own alert with buttons, not a line in a new storm summary: refreshes are no reason to fold alerts.
    expect(storms()).toBe(stormsBefore);
    expect(JSON.stringify(alertOf(b, 4242)?.blocks)).toContain('incident.acknowledge');

    // The refreshes were only overtaken, not dropped: every card ends up showing the acknowledgement.
    await b.advanceTo(t0 + 290_000);
    const cards = () => b.slack.messages('C0ALERTS').filter((m) => /^P1 #3\d{3} /.test(m.text));
    expect(cards()).toHaveLength(OPEN);
    expect(cards().filter((m) => !JSON.stringify(m.blocks).includes('Acknowledged'))).toEqual([]);

    // Nobody acknowledges #4242. Shortly before its deadline PagerDuty resolves the 200 others: 200 cards to redraw.
    const resolvedAt = clock.now().toISOString();
    await sendAll(b, (n) =>
      b.pdSigner.incidentEvent('incident.resolved', { id: `PLOAD${n}`, number: 3000 + n, priority: 'P1', title: `queue depth ${n}`, created_at: iso(START) }, { occurredAt: resolvedAt }),
    );
    await b.advanceTo(clock.nowMs());
    expect(await queuedRefreshes(b)).toBeGreaterThanOrEqual(OPEN - 15);
    const escalation = () => b.slack.messages('C0ALERTS').find((m) => m.text.startsWith('🚨 SLA breached') && m.text.includes('#4242'));
    expect(await visibleWithin5s(b, t0 + 300_000, escalation), 'the escalation was not in the channel within 5 s of the deadline').toBeDefined();

    await b.settle();
    expect(cards().filter((m) => !JSON.stringify(m.blocks).includes('Resolved'))).toEqual([]);
    expect(b.slack.calls('chat.postMessage').filter((c) => c.status === 429)).toEqual([]);
    expect(b.slack.calls('chat.update').filter((c) => c.status === 429)).toEqual([]);
    expect((await b.waygate.services.outbox.stats())).toMatchObject({ pending: 0, failed: 0 });
    // 400 signed deliveries and some 600 paced Slack calls: room for a slow shared CI machine.
  }, timeLimit(60_000));
});
