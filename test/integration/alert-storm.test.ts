import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { startTestBot, type TestBot } from '../helpers/bot.js';

const START = Date.parse('2026-03-02T08:00:00.000Z');

describe('alert storms', () => {
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
    expect(b.waygate.services.outbox.stats()).toMatchObject({ pending: 0, failed: 0 });
  });

  it('the storm summary’s Acknowledge all P1 button acknowledges every open P1', async () => {
    const clock = new ManualClock(START);
    const b = (bot = await startTestBot({ clock, pagerDuty: true, yaml: undefined }));
    for (let n = 1; n <= 8; n++) {
      const at = clock.now().toISOString();
      await b.pdSigner.send(b.pdSigner.incidentEvent('incident.triggered', { id: `PALL${n}`, number: 7000 + n, priority: (n <= 5 ? 'P1' : 'P2'), created_at: at }, { occurredAt: at }));
      b.pd!.addIncident({ id: `PALL${n}`, number: 7000 + n, status: 'triggered', title: 't' });
    }
    await b.settle();
    const summary = b.slack.messages('C0ALERTS').find((m) => m.text.startsWith('Alert storm'))!;
    await b.signer.blockAction({ actionId: 'incident.acknowledge_all_p1', value: '1', userId: 'U0LEAD', channelId: 'C0ALERTS', messageTs: summary.ts, responseUrl: b.slack.responseUrl('all') });
    await b.slack.waitFor(() => b.slack.responsePosts('all')[0]);
    expect(b.slack.responsePosts('all')[0]?.body.text).toBe('Acknowledged 5 P1 incident(s).');
    const open = b.waygate.services.incidents.open();
    expect(open.filter((i) => i.status === 'acknowledged').map((i) => i.priority)).toEqual(['P1', 'P1', 'P1', 'P1', 'P1']);
    expect(open.filter((i) => i.status === 'triggered').map((i) => i.priority)).toEqual(['P2', 'P2', 'P2']);
  });
});
