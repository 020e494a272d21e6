import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { migrate, openDatabase, type Db } from '../../src/db/database.js';
import { MIGRATIONS } from '../../src/db/migrations.js';
import { Outbox } from '../../src/outbox/outbox.js';
import { OutboxDispatcher } from '../../src/outbox/dispatcher.js';
import { ManualClock } from '../../src/clock/clock.js';
import type { MessageSender } from '../../src/outbox/slack-delivery.js';
import { DeliveryError, type OutboxItem } from '../../src/outbox/types.js';
import { lanes, type MessageKey } from '../../src/core/keys.js';
import { DataLayer } from '../../src/db/data-layer.js';

/**
 * The outbox's cost must not grow with its backlog: a long Slack or PagerDuty outage leaves hundreds of
 * thousands of pending rows, and every pump, every /health and every new alert reads the outbox on the event
 * loop. Checked without timing anything: SQLite's query plans for every statement the outbox and its
 * dispatcher ran against a large backlog, and how many statements a delivery costs with many lanes waiting.
 */
describe('outbox cost with a large backlog', () => {
  let dir: string;
  let db: Db;
  let outbox: Outbox;
  let dispatcher: OutboxDispatcher;
  const clock = new ManualClock('2026-03-02T08:00:00Z');
  /** Statements SQLite ran (with their parameters filled in) while `recording`. */
  let executed: string[];
  let recording: boolean;
  let sent: number;

  const sender: MessageSender = {
    post: (p) => {
      sent++;
      return Promise.resolve({ channel: p.channel, ts: `1.${sent}` });
    },
    update: () => {
      sent++;
      return Promise.resolve();
    },
    ephemeral: () => Promise.resolve(),
    respond: () => {
      sent++;
      return Promise.resolve();
    },
  };

  /** Lets the dispatcher work without moving the clock. */
  const run = async () => {
    for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
  };

  let opened = 0;
  function open(): void {
    executed = [];
    recording = false;
    sent = 0;
    db = new Database(join(dir, `w${++opened}.db`), { verbose: (sql) => recording && executed.push(String(sql)) });
    db.pragma('journal_mode = WAL');
    db.pragma('temp_store = MEMORY');
    migrate(db, MIGRATIONS);
    outbox = new Outbox(DataLayer.sqlite(db), clock);
    dispatcher = new OutboxDispatcher({
      data: DataLayer.sqlite(db),
      outbox,
      sender,
      // PagerDuty is down and asks for an hour's patience: its lanes stay waiting throughout.
      pagerDuty: () => Promise.reject(new DeliveryError({ kind: 'rate_limited', retryAfterMs: 3_600_000, detail: 'HTTP 429' })),
      renderDeferred: () => ({ text: 'storm summary' }),
      clock,
      logger: pino({ level: 'silent' }),
      paceMs: 1000,
      maxBackoffMs: 60_000,
      giveUpAfterMs: 86_400_000,
    });
  }
  async function close(): Promise<void> {
    await dispatcher.stop();
    db.close();
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-backlog-'));
    open();
  });
  afterEach(async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * 2.5 × `alerts` pending rows in two channels (25,000 by default), plus `oneRowLanes` response_url lanes and
   * as many PagerDuty lanes.
   */
  async function fillBacklog({ alerts = 10_000, oneRowLanes = 300 } = {}): Promise<void> {
    const items: OutboxItem[] = [];
    for (let i = 0; i < alerts; i++) {
      const key: MessageKey = `incident:P${i}`;
      items.push({ kind: 'post', payload: { channel: 'CALERTS', text: `alert ${i}` }, messageKey: key, urgent: true });
      items.push({ kind: 'update', payload: { channel: 'CALERTS', messageKey: key, text: `alert ${i} acknowledged` } });
    }
    for (let i = 0; i < alerts / 2; i++) items.push({ kind: 'post', payload: { channel: 'COPS', text: `job report ${i}` } });
    for (let i = 0; i < oneRowLanes; i++) {
      items.push({ kind: 'respond', payload: { responseUrl: `https://hooks.slack.com/actions/T1/${i}/x`, text: 'done' } });
      items.push({ kind: 'pd_status', payload: { incidentId: `PD${i}`, number: i, status: 'acknowledged', slackUser: 'U1' } });
    }
    await DataLayer.sqlite(db).transaction(async (tx) => {
      for (const item of items) await outbox.enqueue(tx, item);
    });
  }

  /** The plan SQLite chose for a statement, one line per step. */
  const plan = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail);
  const readsOutbox = (sql: string) => /\b(FROM|UPDATE)\s+outbox(_lanes|_counts)?\b/i.test(sql);

  it('uses an index for every statement on the outbox table, never a scan, a sort or a count of its rows', async () => {
    await fillBacklog();
    await dispatcher.start(); // forgets the pacing of a previous run: one pass over the lanes, once per start
    recording = true;
    // What the rest of the bot does while the backlog stands: the storm check, card refreshes (replacing
    // older ones), thread replies, storm summaries and their deferred updates, /health.
    await outbox.pendingInLane(lanes.channel('CALERTS'));
    await outbox.urgentPendingInLane(lanes.channel('CALERTS'), 3);
    await outbox.enqueue(DataLayer.sqlite(db).db, { kind: 'update', payload: { channel: 'CALERTS', messageKey: 'incident:P9000', text: 'alert 9000 resolved' } });
    await outbox.enqueue(DataLayer.sqlite(db).db, { kind: 'post', payload: { channel: 'CALERTS', text: 'reminder', threadKey: 'incident:P9001' }, urgent: true });
    await outbox.enqueue(DataLayer.sqlite(db).db, { kind: 'post', payload: { channel: 'CSTORM', text: 'storm' }, messageKey: 'storm:1', urgent: true });
    await outbox.enqueueDeferredUpdate(DataLayer.sqlite(db).db, { channel: 'CSTORM', messageKey: 'storm:1', renderKey: 'storm:1' });
    await outbox.enqueueDeferredUpdate(DataLayer.sqlite(db).db, { channel: 'CSTORM', messageKey: 'storm:1', renderKey: 'storm:1' });
    await run();
    for (let second = 0; second < 5; second++) {
      clock.advance(1000);
      await run();
      (await outbox.stats());
    }
    recording = false;
    expect(db.prepare(`SELECT status FROM outbox WHERE message_key = 'storm:1' AND kind = 'update'`).pluck().get()).toBe('delivered');
    expect(sent).toBeGreaterThan(300);

    const statements = [...new Set(executed)].filter(readsOutbox);
    expect(statements.length).toBeGreaterThan(5);
    for (const analysed of [false, true]) {
      if (analysed) db.exec('ANALYZE'); // the weekly maintenance job may have left statistics behind
      const problems = statements.flatMap((sql) => {
        const steps = plan(sql);
        const bad = steps.filter((s) => /^SCAN\b(?! CONSTANT ROW)|TEMP B-TREE/.test(s));
        // Counting or grouping rows visits every one of them, even through an index; MIN and MAX read one end.
        const aggregates = /\b(COUNT|SUM|TOTAL|AVG|GROUP_CONCAT)\s*\(|\bGROUP BY\b|\bDISTINCT\b/i.test(sql);
        return bad.length > 0 || aggregates ? [`${sql.replace(/\s+/g, ' ').slice(0, 240)}\n    ${steps.join('\n    ')}`] : [];
      });
      expect(problems, analysed ? 'after ANALYZE' : 'without statistics').toEqual([]);
    }
  });

  it('spends as many statements per delivery with 1,000 lanes waiting as with 30', async () => {
    /** Statements run while the two paced channels deliver for five seconds, the other lanes waiting. */
    const statementsWith = async (waitingLanes: number) => {
      await fillBacklog({ alerts: 1_000, oneRowLanes: waitingLanes });
      await dispatcher.start();
      // Every lane is looked at once: responses go out, PagerDuty lanes start waiting an hour.
      for (let i = 0; i < 1000 && (sent < waitingLanes + 2 || dispatcher.busy()); i++) await run();
      clock.advance(1000);
      await run();
      recording = true;
      const before = sent;
      for (let second = 0; second < 5; second++) {
        clock.advance(1000);
        await run();
      }
      recording = false;
      return { deliveries: sent - before, statements: executed.length };
    };
    const few = await statementsWith(30);
    await close();
    open();
    const many = await statementsWith(1_000);
    // Two paced channels: one row each per second.
    expect(few.deliveries).toBe(10);
    expect(many).toEqual(few);
    // Per delivery: pick lanes, read the lane's next row, mark it sent and pace the lane in a transaction.
    expect(few.statements / few.deliveries).toBeLessThanOrEqual(15);
  });

  it('keeps stats() exact through delivery, retries, failures, superseded updates and pruning', async () => {
    const brute = () => ({
      pending: db.prepare(`SELECT COUNT(*) FROM outbox WHERE status = 'pending'`).pluck().get(),
      failed: db.prepare(`SELECT COUNT(*) FROM outbox WHERE status = 'failed'`).pluck().get(),
      oldestPendingAt: db.prepare(`SELECT MIN(created_at) FROM outbox WHERE status = 'pending'`).pluck().get(),
    });
    await outbox.enqueue(DataLayer.sqlite(db).db, { kind: 'post', payload: { channel: 'C1', text: 'card' }, messageKey: 'incident:A' });
    clock.advance(10);
    for (let i = 0; i < 3; i++) await outbox.enqueue(DataLayer.sqlite(db).db, { kind: 'update', payload: { channel: 'C1', messageKey: 'incident:A', text: `v${i}` } });
    await outbox.enqueue(DataLayer.sqlite(db).db, { kind: 'pd_status', payload: { incidentId: 'PX', number: 1, status: 'resolved', slackUser: 'U1' } });
    await outbox.enqueue(DataLayer.sqlite(db).db, { kind: 'respond', payload: { responseUrl: 'https://evil.example.com/x', text: 'no' } });
    expect((await outbox.stats())).toEqual(brute());
    expect((await outbox.stats()).pending).toBe(4); // the two older updates were superseded
    expect(await outbox.pendingInLane(lanes.channel('C1'))).toBe(2);

    await dispatcher.start();
    await run();
    clock.advance(1000);
    await run();
    expect((await outbox.stats())).toEqual(brute());
    expect(await outbox.pendingInLane(lanes.channel('C1'))).toBe(0);

    db.prepare(`UPDATE outbox SET status = 'failed' WHERE kind = 'pd_status'`).run();
    expect((await outbox.stats())).toEqual(brute());
    expect((await outbox.stats())).toMatchObject({ pending: 0, failed: 1, oldestPendingAt: null });

    clock.advance(8 * 86_400_000);
    expect(await outbox.pruneDelivered(DataLayer.sqlite(db).db, 7 * 86_400_000)).toBeGreaterThan(0);
    expect((await outbox.stats())).toEqual(brute());
    db.prepare(`DELETE FROM outbox WHERE status = 'failed'`).run();
    expect((await outbox.stats())).toEqual(brute());
  });

  it('takes over the queue of a database from before priorities: counts, lanes and order', async () => {
    const path = join(dir, 'upgraded.db');
    const old = openDatabase(path, MIGRATIONS.filter((m) => m.version < 5));
    const insert = old.prepare(`INSERT INTO outbox (lane, kind, payload, message_key, status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 0, ?)`);
    const channel = lanes.channel('C1');
    insert.run(channel, 'post', JSON.stringify({ channel: 'C1', text: 'card' }), 'incident:A', 'delivered', 1);
    old.prepare(`INSERT INTO slack_messages (key, channel, ts, created_at) VALUES ('incident:A', 'C1', '1.1', 1)`).run();
    insert.run(channel, 'update', JSON.stringify({ channel: 'C1', messageKey: 'incident:A', text: 'card acknowledged' }), 'incident:A', 'pending', 2);
    insert.run(channel, 'post', JSON.stringify({ channel: 'C1', text: 'new alert' }), null, 'pending', 3);
    insert.run(lanes.channel('C2'), 'post', JSON.stringify({ channel: 'C2', text: 'refused' }), null, 'failed', 4);
    old.close();

    await close();
    db = openDatabase(path);
    outbox = new Outbox(DataLayer.sqlite(db), clock);
    expect((await outbox.stats())).toEqual({ pending: 2, failed: 1, oldestPendingAt: 2 });
    expect(await outbox.pendingInLane(channel)).toBe(2);
    const order: string[] = [];
    dispatcher = new OutboxDispatcher({
      data: DataLayer.sqlite(db),
      outbox,
      sender: { ...sender, post: (p) => (order.push(p.text), sender.post(p, undefined)), update: (p, t) => (order.push(p.text), sender.update(p, t)) },
      clock,
      logger: pino({ level: 'silent' }),
      paceMs: 1000,
      maxBackoffMs: 60_000,
      giveUpAfterMs: 86_400_000,
    });
    await dispatcher.start();
    await run();
    clock.advance(1000);
    await run();
    // The refresh, queued first, now waits for the post.
    expect(order).toEqual(['new alert', 'card acknowledged']);
    expect((await outbox.stats())).toMatchObject({ pending: 0, failed: 1 });
  });
});
