import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { USERS, startTestBot, type TestBot } from '../helpers/bot.js';

const START = '2026-03-02T08:00:00.000Z';

describe('response figures on /metrics', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  it('exports mean time to acknowledge and to resolve, and SLA breaches, by priority over the last 7 days', async () => {
    const clock = new ManualClock(START);
    const b = (bot = await startTestBot({ clock, pagerDuty: true }));
    const trigger = async (id: string, number: number, priority: string) => {
      await b.pdSigner.send(b.pdSigner.incidentEvent('incident.triggered', { id, number, priority, created_at: clock.now().toISOString() }, { occurredAt: clock.now().toISOString() }));
      await b.waygate.inboxProcessor.whenIdle();
    };
    const command = (text: string) => b.signer.slashCommand({ text, userId: USERS.oncall, responseUrl: b.slack.responseUrl() });
    await trigger('PM1', 301, 'P1');
    await trigger('PM2', 302, 'P1');
    await trigger('PM3', 303, 'P3');
    await b.advanceTo(Date.parse(START) + 2 * 60_000);
    await command('ack 301'); // 2 min
    await b.advanceTo(Date.parse(START) + 6 * 60_000); // #302 breaches its 5-minute SLA
    await command('ack 302'); // 6 min
    await b.advanceTo(Date.parse(START) + 10 * 60_000);
    await command('resolve 301'); // 10 min
    await b.settle();

    const text = await (await fetch(`${b.url}/metrics`)).text();
    expect(text).toContain('waygate_incident_mtta_seconds{priority="P1"} 240');
    expect(text).not.toContain('waygate_incident_mtta_seconds{priority="P3"}'); // nobody acknowledged it yet
    expect(text).toContain('waygate_incident_mttr_seconds{priority="P1"} 600');
    expect(text).toContain('waygate_incident_sla_breaches{priority="P1"} 1');
    expect(text).toContain('waygate_incident_sla_breaches{priority="P3"} 0');

    // A week on, those incidents have left the window.
    await b.advanceTo(Date.parse(START) + 8 * 86_400_000);
    const later = await (await fetch(`${b.url}/metrics`)).text();
    expect(later).not.toContain('waygate_incident_mtta_seconds{');
  });
});
