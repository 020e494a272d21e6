import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { key } from '../../commands/key.js';
import { handleSlashCommand } from '../../src/commands/router.js';
import type { CommandServices } from '../../src/context.js';
import { ManualClock } from '../../src/clock/clock.js';
import { Metrics } from '../../src/http/metrics.js';
import { InflightWork } from '../../src/lifecycle/inflight.js';
import { ACK_BUDGET_MS } from '../../src/core/ack-budget.js';

/**
 * The router answers a command that misses the ack budget through an outbox `respond` row, which is stored
 * in the database. A reply showing an API key must never take that path: the key goes out with the ack, or
 * not at all.
 */
describe('/waygate key never stores the key it shows', () => {
  const KEY = 'k'.repeat(43);
  const info = { id: 1, name: 'ci', owner: 'U0SEC', createdBy: 'U0SEC', createdAt: 0, rotatedAt: 0, status: 'active' as const, graceUntil: null, revokedAt: null, revokeReason: null };

  /** Runs `/waygate <text>` with the database answering after `dbDelayMs` of the clock. */
  async function run(text: string, dbDelayMs: number) {
    const clock = new ManualClock('2026-03-02T08:00:00Z');
    const enqueued: Array<{ payload: { text: string } }> = [];
    const answered: Array<() => void> = [];
    const later = <T>(value: T) => new Promise<T>((resolve) => answered.push(() => resolve(value)));
    const services = {
      clock,
      logger: pino({ level: 'silent' }),
      metrics: new Metrics(),
      outbox: { enqueue: (_tx: unknown, row: { payload: { text: string } }) => Promise.resolve(void enqueued.push(row)) },
      store: { transaction: (fn: (tx: unknown) => Promise<unknown>) => fn({}) },
      policy: { check: () => Promise.resolve({ allowed: true }) },
      apiKeys: {
        create: () => later({ ok: true, key: KEY, info }),
        rotate: () => later({ ok: true, key: KEY, info, graceUntil: 1 }),
        rotationScriptConfigured: false,
        graceMs: 86_400_000,
      },
    } as unknown as CommandServices;
    const acks: Array<{ text: string }> = [];
    const inflight = new InflightWork();
    const handled = handleSlashCommand(
      { services, commands: [key], inflight, requests: { add: () => undefined } },
      { text: `key ${text}`, user_id: 'U0SEC', channel_id: 'C0SEC', response_url: 'https://hooks.slack.com/x' },
      async (body) => void acks.push(body),
    );
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    clock.advance(dbDelayMs);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    for (const answer of answered) answer();
    await handled;
    await inflight.drain();
    return { acks, enqueued };
  }

  it.each([['create ci'], ['rotate ci']])('`key %s` in time: the key goes out with the ack and nothing is queued', async (text) => {
    const { acks, enqueued } = await run(text, 100);
    expect(acks).toHaveLength(1);
    expect(acks[0]!.text).toContain(KEY);
    expect(JSON.stringify(acks[0])).not.toContain('lateText');
    expect(enqueued).toEqual([]);
  });

  it.each([['create ci'], ['rotate ci']])('`key %s` too late: the outbox carries how to get a key, never the key', async (text) => {
    const { acks, enqueued } = await run(text, ACK_BUDGET_MS + 100);
    expect(acks).toEqual([expect.objectContaining({ text: expect.stringContaining('Working on `/waygate key`') })]);
    expect(enqueued).toHaveLength(1);
    expect(JSON.stringify(enqueued)).not.toContain(KEY);
    expect(enqueued[0]!.payload.text).toBe(
      '🔑 The key `ci` was issued, but the answer came too late to show it safely (it would have been stored on the way). Run `/waygate key rotate ci` to get one you can copy.',
    );
  });
});
