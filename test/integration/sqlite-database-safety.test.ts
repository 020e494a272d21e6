import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { SlackStandIn } from '../../standins/slack/index.js';
import { ManualClock } from '../../src/clock/clock.js';
import type { IncidentEvent } from '../../src/incidents/events.js';
import { BOT_TOKEN, healthDetails, startTestBot, type TestBot } from '../helpers/bot.js';

// SQLite's own failure modes, met through the file: damaged pages (quick_check), a read-only or full disk
// (query_only, max_page_count). They run on SQLite only; postgres-bot.test.ts has PostgreSQL's counterpart, a
// database that cannot be reached for a while.

const START = '2026-03-02T08:00:00.000Z';

/**
 * Damages the root page of a table or index: the file opens, but that table or index cannot be used. `cells` makes the page claim
 * cells it does not have; `garbage` overwrites its header.
 */
function damageTable(path: string, name: string, how: 'cells' | 'garbage'): void {
  const db = new Database(path, { readonly: true });
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const root = db.prepare(`SELECT rootpage FROM sqlite_master WHERE name = ?`).pluck().get(name) as number | undefined;
  db.close();
  if (!root) throw new Error(`no table or index ${name} to damage`);
  const fd = openSync(path, 'r+');
  const bytes = how === 'cells' ? Buffer.from([0x0d, 0, 0, 0, 50, 0x0f, 0xf0, 0]) : Buffer.alloc(64, 0xab);
  writeSync(fd, bytes, 0, bytes.length, (root - 1) * pageSize);
  closeSync(fd);
}

const health = (bot: TestBot) => healthDetails(bot.url);

const trigger = (n: number): IncidentEvent => ({
  eventId: `EV${n}`,
  type: 'incident.triggered',
  occurredAt: Date.parse(START),
  agentName: null,
  incidentId: `PX${n}`,
  incident: { id: `PX${n}`, number: n, title: `disk trouble ${n}`, status: 'triggered', priorityName: 'P1', urgency: 'high', service: null, htmlUrl: null, assignees: [], createdAt: Date.parse(START) },
});

describe('a damaged database', () => {
  let slack: SlackStandIn;
  let dir: string;
  let bot: TestBot | undefined;

  beforeEach(async () => {
    slack = await SlackStandIn.start({ token: BOT_TOKEN });
    dir = mkdtempSync(join(tmpdir(), 'waygate-db-'));
  });
  afterEach(async () => {
    await bot?.waygate.stop();
    bot = undefined;
    await slack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused at start-up, saying what quick_check found and what to do', async () => {
    const first = await startTestBot({ dir, slack, backend: 'sqlite' });
    await first.waygate.stop();
    damageTable(join(dir, 'waygate.db'), 'incidents', 'cells');
    const refused = startTestBot({ dir, slack, backend: 'sqlite' });
    await expect(refused).rejects.toThrow(`database ${join(dir, 'waygate.db')} is damaged (quick_check: Tree `);
    await expect(refused).rejects.toThrow(/Offset 0 out of range.* and \d+ more\)\. Waygate will not run on it: move it aside and restore a copy/);
  });

  it('that refuses writes while running shows on /health as a stuck inbox, and the events wait until it recovers', async () => {
    const clock = new ManualClock(START);
    bot = await startTestBot({ dir, slack, clock, backend: 'sqlite' });
    const { db, incidents } = bot.waygate.services;
    await bot.waygate.incidentIngest.accept(trigger(1));
    db.pragma('query_only = ON'); // what the processor meets when the disk turns read-only
    await bot.waygate.inboxProcessor.whenIdle();
    expect(await health(bot)).toMatchObject({
      status: 'degraded',
      inbox: { pending: 1, lastError: 'attempt to write a readonly database', lastErrorAt: START },
    });
    expect(await incidents.get('PX1')).toBeUndefined();

    db.pragma('query_only = OFF');
    await bot.advanceTo(Date.parse(START) + 1_000); // the retry, without waiting for another delivery
    await bot.waygate.inboxProcessor.whenIdle();
    await bot.settle();
    expect((await incidents.get('PX1'))?.status).toBe('triggered');
    expect(slack.messages('C0ALERTS').map((m) => m.text)).toEqual([expect.stringContaining('#1 disk trouble 1')]);
    expect(await health(bot)).toMatchObject({ status: 'ok', inbox: { pending: 0, lastError: null } });
  });

  it('damaged while running keeps the events it cannot apply queued instead of dropping them as failed', async () => {
    const clock = new ManualClock(START);
    bot = await startTestBot({ dir, slack, clock, backend: 'sqlite' });
    const { db, store } = bot.waygate.services;
    store.checkpoint();
    damageTable(join(dir, 'waygate.db'), 'incidents', 'garbage');
    db.pragma('shrink_memory'); // drop cached pages: the next read meets the damage on disk
    await bot.waygate.incidentIngest.accept(trigger(2));
    await bot.waygate.inboxProcessor.whenIdle();
    expect(await health(bot)).toMatchObject({ status: 'degraded', inbox: { pending: 1, lastError: expect.stringMatching(/malformed/) } });
    expect(db.prepare('SELECT processed_at, result FROM webhook_inbox').get()).toEqual({ processed_at: null, result: null });
  });

  it('damaged under the outbox and the inbox still answers /health: degraded, naming the broken parts', async () => {
    bot = await startTestBot({ dir, slack, clock: new ManualClock(START), backend: 'sqlite' });
    const { db, store } = bot.waygate.services;
    store.checkpoint();
    damageTable(join(dir, 'waygate.db'), 'outbox_counts', 'garbage');
    damageTable(join(dir, 'waygate.db'), 'webhook_inbox_pending', 'garbage');
    db.pragma('shrink_memory');
    const res = await fetch(`${bot.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'degraded', components: { database: 'ok', outbox: 'degraded', incidents: 'degraded' } });
    expect(await health(bot)).toMatchObject({
      status: 'degraded',
      outbox: { pending: null, error: 'database disk image is malformed' },
      incidents: { error: 'database disk image is malformed' },
    });
  });

  it('that is full keeps the event it cannot store queued instead of dropping it as failed', async () => {
    const clock = new ManualClock(START);
    bot = await startTestBot({ dir, slack, clock, backend: 'sqlite' });
    const { db } = bot.waygate.services;
    const event = trigger(3);
    // The incident row needs pages of its own.
    const big = { ...event, incident: { ...event.incident!, title: 'x'.repeat(6_000) } };
    await bot.waygate.incidentIngest.accept(big);
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`); // the disk is full now
    await bot.waygate.inboxProcessor.whenIdle();
    expect(await health(bot)).toMatchObject({ status: 'degraded', inbox: { pending: 1, lastError: 'database or disk is full' } });
    expect(db.prepare('SELECT processed_at, result FROM webhook_inbox').get()).toEqual({ processed_at: null, result: null });
  });

  it('that refuses the dispatcher its bookkeeping shows on /health, and a message Slack took is not posted twice', async () => {
    const clock = new ManualClock(START);
    bot = await startTestBot({ dir, slack, clock, backend: 'sqlite' });
    const { db, outbox } = bot.waygate.services;
    await bot.waygate.services.store.transaction((tx) => outbox.enqueue(tx, { kind: 'post', payload: { channel: 'C0OPS', text: 'sent while the disk turns read-only' } }));
    db.pragma('query_only = ON');
    await slack.waitFor(() => slack.messages('C0OPS').length === 1 || undefined);
    await slack.waitFor(() => !bot!.waygate.dispatcher.busy() || undefined);
    expect(await health(bot)).toMatchObject({
      status: 'degraded',
      outbox: { pending: 1, lastError: 'attempt to write a readonly database', lastErrorAt: START },
    });

    db.pragma('query_only = OFF');
    await bot.settle(); // past the pause: the delivery is written down
    expect(slack.messages('C0OPS').map((m) => m.text)).toEqual(['sent while the disk turns read-only']);
    expect(await health(bot)).toMatchObject({ status: 'ok', outbox: { pending: 0, lastError: null } });
  });
});
