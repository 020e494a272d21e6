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
import type { MessageContent } from '../../src/outbox/types.js';
import { DataLayer } from '../../src/db/data-layer.js';

describe('deferred updates (rendered when sent)', () => {
  let dir: string;
  let db: Db;
  let outbox: Outbox;
  const clock = new ManualClock('2026-03-02T08:00:00Z');
  const sent: Array<{ method: string; text: string }> = [];
  const sender: MessageSender = {
    post: (p) => {
      sent.push({ method: 'post', text: p.text });
      return Promise.resolve({ channel: p.channel, ts: `1.${sent.length}` });
    },
    update: (p) => {
      sent.push({ method: 'update', text: p.text });
      return Promise.resolve();
    },
    ephemeral: () => Promise.resolve(),
    respond: () => Promise.resolve(),
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-deferred-'));
    db = openDatabase(join(dir, 'w.db'));
    outbox = new Outbox(DataLayer.sqlite(db), clock);
    sent.length = 0;
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('queues one deferred update per message however often it is asked, and renders the newest state at send time', async () => {
    let count = 0;
    const dispatcher = new OutboxDispatcher({
      data: DataLayer.sqlite(db),
      outbox,
      sender,
      clock,
      logger: pino({ level: 'silent' }),
      paceMs: 1000,
      maxBackoffMs: 60_000,
      giveUpAfterMs: 86_400_000,
      renderDeferred: (key): MessageContent | null => (key === 'storm:1' ? { text: `${count} incidents` } : null),
    });
    const data = DataLayer.sqlite(db);
    await outbox.enqueue(data.db, { kind: 'post', payload: { channel: 'C1', text: 'summary v0' }, messageKey: 'storm:1' });
    const added = [];
    for (count = 1; count <= 50; count++) {
      added.push(await outbox.enqueueDeferredUpdate(data.db, { channel: 'C1', messageKey: 'storm:1', renderKey: 'storm:1' }));
    }
    count = 50;
    expect(added.filter(Boolean)).toHaveLength(1);
    expect((await outbox.stats()).pending).toBe(2);

    await dispatcher.start();
    const idle = async () => {
      for (let i = 0; i < 100 && (dispatcher.busy() || (await outbox.stats()).pending > 0); i++) {
        await new Promise((r) => setImmediate(r));
        const wake = dispatcher.nextWakeAt();
        if (!dispatcher.busy() && wake !== null) clock.set(Math.max(wake, clock.nowMs()));
      }
    };
    await idle();
    await dispatcher.stop();
    expect(sent).toEqual([
      { method: 'post', text: 'summary v0' },
      { method: 'update', text: '50 incidents' },
    ]);
  });
});
