import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { InboxProcessor, MAX_APPLY_LAG_MS, SLICE_MAX_EVENTS } from '../../src/incidents/inbox-processor.js';
import type { IncidentEvent } from '../../src/incidents/events.js';
import { PD_WEBHOOK_SECRET, startTestBot, type TestBot } from '../helpers/bot.js';
import { testBackend } from '../helpers/sql.js';

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
    const applied = async () => (await incidents.open()).length;
    await ingest.inbox.acceptSoon(trigger(1), clock.nowMs());
    await ingest.inbox.acceptSoon(trigger(2), clock.nowMs());

    const timersBefore = clock.pendingTimers();
    processor.nudge();
    await bot.slack.waitFor(() => clock.pendingTimers() > timersBefore || undefined); // deferred: lag timer armed
    expect(await applied()).toBe(0);

    clock.advance(MAX_APPLY_LAG_MS - 1);
    await new Promise((r) => setImmediate(r));
    expect(await applied()).toBe(0);

    clock.advance(1); // the oldest event has waited the full bound: applied although still busy
    await bot.slack.waitFor(async () => (await applied()) === 2 || undefined);

    await ingest.inbox.acceptSoon(trigger(3), clock.nowMs());
    busy = false; // the server went quiet: the next nudge applies at once
    processor.nudge();
    await bot.slack.waitFor(async () => (await applied()) === 3 || undefined);
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
    expect(await incidents.open()).toHaveLength(60);
    expect(await ingest.inbox.pendingCount()).toBe(0);
  });

  it('applies an overdue backlog in short slices that yield, so a webhook arriving meanwhile is answered before the backlog is done', async () => {
    const clock = new ManualClock(START);
    bot = await startTestBot({ clock, env: { PAGERDUTY_WEBHOOK_SECRET: PD_WEBHOOK_SECRET } });
    const b = bot;
    const ingest = b.waygate.incidentIngest;
    const BACKLOG = 300;
    for (let n = 1; n <= BACKLOG; n++) await ingest.inbox.acceptSoon(trigger(n), clock.nowMs());
    // Overdue: the processor applies even while requests are in flight, as it must during a flood.
    clock.advance(MAX_APPLY_LAG_MS);

    // The most events applied between two turns of the event loop: what a request arriving then waits behind.
    let largestTurn = 0;
    let sampling = true;
    const sampler = (async () => {
      let before = await ingest.inbox.pendingCount();
      while (sampling) {
        await new Promise((r) => setImmediate(r));
        const now = await ingest.inbox.pendingCount();
        largestTurn = Math.max(largestTurn, before - now);
        before = now;
      }
    })();

    b.waygate.inboxProcessor.nudge();
    await b.slack.waitFor(async () => (await ingest.inbox.pendingCount()) < BACKLOG || undefined);
    const res = await b.pdSigner.send(
      b.pdSigner.incidentEvent('incident.triggered', { id: 'PLATE01', number: 9001, priority: 'P1' }, { eventId: 'EVLATE01', occurredAt: clock.now().toISOString() }),
    );
    const pendingAtAnswer = await ingest.inbox.pendingCount();
    await b.waygate.inboxProcessor.whenIdle();
    sampling = false;
    await sampler;

    expect(res.status).toBe(200);
    expect(pendingAtAnswer).toBeGreaterThan(BACKLOG / 2);
    expect(largestTurn).toBeGreaterThan(0);
    // SQLite applies a slice without yielding, so the sampler's turns see one slice at most. On PostgreSQL every
    // statement of a slice yields to the event loop while it waits, and the sampler's own count is a round
    // trip during which the next slice may commit: there the webhook answered mid-backlog is what shows it.
    if (testBackend() === 'sqlite') expect(largestTurn).toBeLessThanOrEqual(SLICE_MAX_EVENTS);
    expect(await b.waygate.services.incidents.open()).toHaveLength(BACKLOG + 1);
  });
});
