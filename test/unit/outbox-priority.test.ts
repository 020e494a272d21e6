import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { openDatabase, type Db } from '../../src/db/database.js';
import { Outbox } from '../../src/outbox/outbox.js';
import { OutboxDispatcher } from '../../src/outbox/dispatcher.js';
import { ManualClock } from '../../src/clock/clock.js';
import type { MessageSender } from '../../src/outbox/slack-delivery.js';
import { DeliveryError, type OutboxItem } from '../../src/outbox/types.js';
import type { MessageKey } from '../../src/core/keys.js';
import { DataLayer } from '../../src/db/data-layer.js';

const post = (text: string, extra: { key?: MessageKey; thread?: MessageKey; urgent?: boolean } = {}): OutboxItem => ({
  kind: 'post',
  payload: { channel: 'C1', text, ...(extra.thread ? { threadKey: extra.thread } : {}) },
  ...(extra.key ? { messageKey: extra.key } : {}),
  ...(extra.urgent ? { urgent: true } : {}),
});
const update = (key: MessageKey, text: string): OutboxItem => ({ kind: 'update', payload: { channel: 'C1', messageKey: key, text } });

describe('priorities within an outbox lane', () => {
  let dir: string;
  let db: Db;
  let outbox: Outbox;
  let dispatcher: OutboxDispatcher;
  let clock: ManualClock;
  /** What reached "Slack", in order: `post <text>`, `reply <text>` (in a thread) or `update <text>`. */
  let sent: string[];
  /** Texts whose next sends fail as Slack's 5xx would. */
  let failing: Set<string>;

  const sender: MessageSender = {
    post: (p, threadTs) => {
      if (failing.has(p.text)) return Promise.reject(new DeliveryError({ kind: 'retryable', detail: 'HTTP 503' }));
      sent.push(`${threadTs ? 'reply' : 'post'} ${p.text}`);
      return Promise.resolve({ channel: p.channel, ts: `1.${sent.length}` });
    },
    update: (p) => {
      if (failing.has(p.text)) return Promise.reject(new DeliveryError({ kind: 'retryable', detail: 'HTTP 503' }));
      sent.push(`update ${p.text}`);
      return Promise.resolve();
    },
    ephemeral: () => Promise.resolve(),
    respond: () => Promise.resolve(),
  };

  const enqueueAll = (items: OutboxItem[]) =>
    DataLayer.sqlite(db).transaction(async (tx) => {
      for (const item of items) await outbox.enqueue(tx, item);
    });
  /** Lets the dispatcher work without moving the clock. */
  const run = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  /** Delivers everything, moving the clock over pacing gaps and backoffs. */
  const drain = async () => {
    for (let i = 0; i < 200 && (dispatcher.busy() || (await outbox.stats()).pending > 0); i++) {
      await new Promise((r) => setImmediate(r));
      const wake = dispatcher.nextWakeAt();
      if (!dispatcher.busy() && wake !== null) clock.set(Math.max(wake, clock.nowMs()));
    }
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-priority-'));
    db = openDatabase(join(dir, 'w.db'));
    clock = new ManualClock('2026-03-02T08:00:00Z');
    outbox = new Outbox(DataLayer.sqlite(db), clock);
    sent = [];
    failing = new Set();
    dispatcher = new OutboxDispatcher({ data: DataLayer.sqlite(db), outbox, sender, clock, logger: pino({ level: 'silent' }), paceMs: 1000, maxBackoffMs: 60_000, giveUpAfterMs: 86_400_000 });
  });
  afterEach(async () => {
    await dispatcher.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends urgent rows first, then the rest, refreshes last, and never an update before its post or a reply before its parent', async () => {
    await enqueueAll([post('card B', { key: 'incident:B' })]);
    await dispatcher.start();
    await drain();
    sent = [];

    await enqueueAll([
      post('note'),
      update('incident:B', 'B acknowledged'),
      post('card A', { key: 'incident:A' }),
      update('incident:A', 'A acknowledged'),
      // Asks to be urgent, but its parent is not sent yet: it must not overtake it.
      post('reminder for A', { thread: 'incident:A', urgent: true }),
      post('NEW P1', { urgent: true }),
      update('incident:B', 'B resolved'),
    ]);
    await drain();

    expect(sent).toEqual([
      'post NEW P1',
      'post note',
      'post card A',
      'reply reminder for A',
      'update A acknowledged',
      // The card's older refresh was replaced by the newer one while both waited.
      'update B resolved',
    ]);
    expect((await outbox.stats())).toMatchObject({ pending: 0, failed: 0 });
  });

  it('lets a new alert pass a refresh Slack keeps refusing, but holds a reply until its parent is through', async () => {
    await enqueueAll([post('card X', { key: 'incident:X' })]);
    await dispatcher.start();
    await drain();
    sent = [];

    failing.add('X acknowledged');
    await enqueueAll([update('incident:X', 'X acknowledged')]);
    await run();
    clock.advance(1000); // past the pacing gap: the refresh is tried and fails
    await run();
    expect(dispatcher.nextWakeAt()).toBeGreaterThan(clock.nowMs());

    await enqueueAll([post('NEW P1', { urgent: true })]);
    await run();
    expect(sent).toEqual(['post NEW P1']);

    failing.clear();
    failing.add('card Y');
    await enqueueAll([post('card Y', { key: 'incident:Y' }), post('escalation for Y', { thread: 'incident:Y', urgent: true })]);
    clock.advance(1000);
    await run();
    expect(sent).toEqual(['post NEW P1']);

    failing.clear();
    await drain();
    expect(sent).toEqual(['post NEW P1', 'post card Y', 'reply escalation for Y', 'update X acknowledged']);
    expect((await outbox.stats())).toMatchObject({ pending: 0, failed: 0 });
  });

  it('gives the next free slot to a channel with an urgent row before 1,000 PagerDuty lanes that were ready earlier', async () => {
    const inPagerDuty: Array<() => void> = [];
    const pagerDuty = (p: { incidentId: string }) =>
      new Promise<void>((resolve) => {
        sent.push(`pd ${p.incidentId}`);
        inPagerDuty.push(resolve);
      });
    const narrow = new OutboxDispatcher({ data: DataLayer.sqlite(db), outbox, sender, pagerDuty, clock, logger: pino({ level: 'silent' }), paceMs: 1000, maxBackoffMs: 60_000, giveUpAfterMs: 86_400_000, concurrency: 2 });
    const answerPagerDuty = async () => {
      inPagerDuty.splice(0).forEach((resolve) => resolve());
      await run();
    };
    try {
      await enqueueAll([post('card', { key: 'incident:C' })]);
      await narrow.start();
      await run();
      // A bulk acknowledgement: 1,000 status changes for PagerDuty, each its own lane, while the channel is paced.
      await enqueueAll(Array.from({ length: 1000 }, (_, i): OutboxItem => ({ kind: 'pd_status', payload: { incidentId: `PD${i}`, number: i, status: 'acknowledged', slackUser: 'U1' } })));
      await run();
      await enqueueAll([post('NEW P1', { urgent: true })]);
      clock.advance(1000);
      await answerPagerDuty();
      expect(sent.slice(0, 4)).toEqual(['post card', 'pd PD0', 'pd PD1', 'post NEW P1']);
      for (let i = 0; i < 600 && inPagerDuty.length > 0; i++) await answerPagerDuty();
      expect(sent.filter((s) => s.startsWith('pd '))).toHaveLength(1000);
    } finally {
      const stopped = narrow.stop();
      inPagerDuty.splice(0).forEach((resolve) => resolve());
      await stopped;
    }
  });
});
