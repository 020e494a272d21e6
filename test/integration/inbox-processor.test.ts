import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { InboxProcessor, MAX_APPLY_LAG_MS } from '../../src/incidents/inbox-processor.js';
import type { IncidentEvent } from '../../src/incidents/events.js';
import { startTestBot, type TestBot } from '../helpers/bot.js';

const START = '2026-03-02T08:00:00.000Z';

function trigger(n: number): IncidentEvent {
  return {
    eventId: `EV${n}`,
    type: 'incident.triggered',
    occurredAt: Date.parse(START),
    agentName: null,
    incidentId: `PX${n}`,
    incident: { id: `PX${n}`, number: n, title: `t${n}`, status: 'triggered', priorityName: 'P3', urgency: 'low', service: null, htmlUrl: null, assignees: [], createdAt: Date.parse(START) },
  };
}

describe('InboxProcessor', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  it('waits for a quiet moment while requests are in flight, but never longer than the lag bound', async () => {
    const clock = new ManualClock(START);
    bot = await startTestBot({ clock });
    const { incidents, logger } = bot.waygate.services;
    const ingest = bot.waygate.incidentIngest;
    let busy = true;
    const processor = new InboxProcessor(ingest, logger, clock, () => busy);
    const applied = () => incidents.open().length;
    await ingest.inbox.acceptSoon(trigger(1), clock.nowMs());
    await ingest.inbox.acceptSoon(trigger(2), clock.nowMs());

    const timersBefore = clock.pendingTimers();
    processor.nudge();
    await bot.slack.waitFor(() => clock.pendingTimers() > timersBefore || undefined); // deferred: lag timer armed
    expect(applied()).toBe(0);

    clock.advance(MAX_APPLY_LAG_MS - 1);
    await new Promise((r) => setImmediate(r));
    expect(applied()).toBe(0);

    clock.advance(1); // the oldest event has waited the full bound: applied although still busy
    await bot.slack.waitFor(() => applied() === 2 || undefined);

    await ingest.inbox.acceptSoon(trigger(3), clock.nowMs());
    busy = false; // the server went quiet: the next nudge applies at once
    processor.nudge();
    await bot.slack.waitFor(() => applied() === 3 || undefined);
    await processor.stop();
  });

  it('applies everything still queued when it stops', async () => {
    const clock = new ManualClock(START);
    bot = await startTestBot({ clock });
    const { incidents, logger } = bot.waygate.services;
    const ingest = bot.waygate.incidentIngest;
    const processor = new InboxProcessor(ingest, logger, clock, () => true);
    for (let n = 1; n <= 60; n++) await ingest.inbox.acceptSoon(trigger(n), clock.nowMs());
    await processor.stop();
    expect(incidents.open()).toHaveLength(60);
    expect(ingest.inbox.pendingCount()).toBe(0);
  });
});
