import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { startTestBot, USERS, type TestBot } from '../helpers/bot.js';
import { timeLimit } from '../helpers/sql.js';

const START = Date.parse('2026-03-02T08:00:00.000Z');

// Hundreds of real HTTP deliveries: seconds on a quiet machine, much longer when CI runs files side by side.
describe('alert storms', { timeout: timeLimit(60_000) }, () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  it('300 triggers in 10 s into a channel limited to 1 message/s: every incident visible within 15 s, none lost', async () => {
    const clock = new ManualClock(START);
    const b = (bot = await startTestBot({ clock, pagerDuty: true }));
    b.slack.limitChannel('C0ALERTS', 1, () => clock.nowMs());
    const numbers = Array.from({ length: 300 }, (_, i) => 5000 + i);

    // 30 signed deliveries per simulated second for 10 s, with the dispatcher running in between.
    for (let second = 0; second < 10; second++) {
      for (const n of numbers.slice(second * 30, second * 30 + 30)) {
        const at = clock.now().toISOString();
        const res = await b.pdSigner.send(
          b.pdSigner.incidentEvent('incident.triggered', { id: `PSTORM${n}`, number: n, priority: (n % 10 === 0 ? 'P1' : 'P3'), title: `disk alarm ${n}`, created_at: at }, { occurredAt: at }),
        );
        expect(res.status).toBe(200);
      }
      await b.advanceTo(START + (second + 1) * 1000);
    }
    await b.advanceTo(START + 15_000);

    const messages = b.slack.messages('C0ALERTS');
    const visible = new Set<number>();
    for (const m of messages) {
      for (const match of `${m.text} ${JSON.stringify(m.blocks ?? [])}`.matchAll(/#(\d{4})\b/g)) visible.add(Number(match[1]));
    }
    expect(numbers.filter((n) => !visible.has(n))).toEqual([]);
    const summary = messages.find((m) => m.text.startsWith('Alert storm'));
    const folded = Number(/Alert storm: (\d+) incidents/.exec(summary?.text ?? '')?.[1]);
    // Only the first few (up to the storm threshold) got their own message before the storm began.
    expect(folded).toBeGreaterThan(290);
    expect(JSON.stringify(summary?.blocks)).toMatch(/Acknowledge all P1 \((29|30)\)/);
    // Slack's limit was respected: nothing was refused for posting too fast.
    expect(b.slack.calls('chat.postMessage').filter((c) => c.status === 429)).toEqual([]);

    // Nothing lost: given time, every incident gets its own message, most urgent first, and the storm closes.
    await b.advanceTo(START + 400_000);
    await b.settle();
    const own = b.slack.messages('C0ALERTS').filter((m) => /^P\d #\d+ /.test(m.text));
    expect(own).toHaveLength(300);
    const dripped = own.slice(300 - folded).map((m) => m.text.slice(0, 2));
    expect(dripped.lastIndexOf('P1')).toBeLessThan(dripped.indexOf('P3'));
    const closed = b.slack.messages('C0ALERTS').find((m) => JSON.stringify(m.blocks).includes('Alert storm over'));
    expect(closed).toBeDefined();
    expect((await b.waygate.services.outbox.stats())).toMatchObject({ pending: 0, failed: 0 });
  });

  describe('the storm summary’s Acknowledge all P1 button', () => {
    type Element = { action_id?: string; value?: string; text?: { text?: string } };
    const stormButton = (b: TestBot): Element | undefined => {
      const summary = b.slack.messages('C0ALERTS').find((m) => m.text.startsWith('Alert storm'));
      const blocks = (summary?.blocks ?? []) as Array<{ elements?: Element[] }>;
      return blocks.flatMap((x) => x.elements ?? []).find((e) => e.action_id === 'incident.acknowledge_all_p1');
    };
    const summaryTs = (b: TestBot) => b.slack.messages('C0ALERTS').find((m) => m.text.startsWith('Alert storm'))!.ts;
    const trigger = async (b: TestBot, n: number, priority: string) => {
      const at = b.clock.now().toISOString();
      b.pd!.addIncident({ id: `PALL${n}`, number: n, status: 'triggered', title: `alarm ${n}`, priority });
      const res = await b.pdSigner.send(b.pdSigner.incidentEvent('incident.triggered', { id: `PALL${n}`, number: n, priority, title: `alarm ${n}`, created_at: at }, { occurredAt: at }));
      expect(res.status).toBe(200);
      await b.waygate.inboxProcessor.whenIdle();
    };
    const status = async (b: TestBot) =>
      Object.fromEntries((await b.waygate.services.incidents.open()).map((i) => [i.number, i.status]));

    it('acknowledges exactly the P1 incidents the summary showed, and says what it did', async () => {
      const clock = new ManualClock(START);
      const b = (bot = await startTestBot({ clock, pagerDuty: true }));
      // A P1 from before the storm, with its own alert.
      await trigger(b, 7000, 'P1');
      await b.settle();
      // A burst: the alerts channel backs up after three posts, and the rest fold into a storm summary.
      const burst: Array<[number, string]> = [[7001, 'P1'], [7002, 'P2'], [7003, 'P1'], [7004, 'P1'], [7005, 'P2'], [7006, 'P1'], [7007, 'P1']];
      for (const [n, p] of burst) await trigger(b, n, p);
      for (let i = 0; i < 20 && !/\(3\)/.test(stormButton(b)?.text?.text ?? ''); i++) await b.advanceTo(clock.nowMs() + 1_000);
      const shown = stormButton(b);
      expect(shown?.text?.text).toBe('Acknowledge all P1 (3)');
      const drawn = b.slack.messages('C0ALERTS').find((m) => m.text.startsWith('Alert storm'))!;
      expect(drawn.text).toBe('Alert storm: 4 incidents (4 open)');

      // A P1 joins the storm after the summary was drawn; the click carries what was drawn.
      await trigger(b, 7008, 'P1');
      await b.signer.blockAction({ actionId: 'incident.acknowledge_all_p1', value: shown!.value!, userId: USERS.lead, channelId: 'C0ALERTS', messageTs: drawn.ts, responseUrl: b.slack.responseUrl('all') });
      await b.settle();

      expect(await status(b)).toEqual({
        7000: 'triggered', 7001: 'triggered', 7002: 'triggered', 7003: 'triggered',
        7004: 'acknowledged', 7005: 'triggered', 7006: 'acknowledged', 7007: 'acknowledged',
        7008: 'triggered',
      });
      expect(['PALL7004', 'PALL7006', 'PALL7007', 'PALL7008', 'PALL7000'].map((id) => b.pd!.incident(id)?.status)).toEqual(['acknowledged', 'acknowledged', 'acknowledged', 'triggered', 'triggered']);
      const told = b.slack.responsePosts('all').map((p) => p.body.text);
      expect(told).toHaveLength(1);
      expect(told[0]).toContain('Acknowledged the 3 P1 incidents this storm summary showed: #7004, #7006 and #7007.');
      expect(told[0]).toContain('1 P1 incident joined the storm after the summary was drawn and was left alone');
    });

    it('answers a click on a summary it cannot place as a changed message, and acknowledges nothing', async () => {
      const clock = new ManualClock(START);
      const b = (bot = await startTestBot({ clock, pagerDuty: true }));
      for (const n of [7101, 7102, 7103, 7104, 7105]) await trigger(b, n, 'P1');
      await b.settle();
      // An older version's value (the storm's id alone), and a revision the storm never had.
      for (const value of ['1', JSON.stringify({ storm: 1, rev: 99 }), JSON.stringify({ storm: 42, rev: 1 })]) {
        await b.signer.blockAction({ actionId: 'incident.acknowledge_all_p1', value, userId: USERS.lead, channelId: 'C0ALERTS', messageTs: summaryTs(b), responseUrl: b.slack.responseUrl(`stale-${value}`) });
        await b.settle();
        expect(b.slack.responsePosts(`stale-${value}`).map((p) => p.body.text)).toEqual([
          'This message has changed since it was drawn, so nothing was done. Please look at the updated message and try again.',
        ]);
      }
      expect(Object.values(await status(b))).toEqual(['triggered', 'triggered', 'triggered', 'triggered', 'triggered']);
    });
  });
});
