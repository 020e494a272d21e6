import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { handleSlashCommand } from '../../src/commands/router.js';
import { defineCommand, type CommandReply } from '../../src/commands/types.js';
import type { CommandServices } from '../../src/context.js';
import { ManualClock } from '../../src/clock/clock.js';
import { Metrics } from '../../src/http/metrics.js';
import { InflightWork } from '../../src/lifecycle/inflight.js';
import { ACK_BUDGET_MS } from '../../src/core/ack-budget.js';

describe('the command router and the ack budget', () => {
  it('counts the time the role check took against the budget: Slack started waiting when the request arrived', async () => {
    const clock = new ManualClock('2026-01-05T08:00:00Z');
    let allow: () => void = () => undefined;
    const enqueued: unknown[] = [];
    const services = {
      clock,
      logger: pino({ level: 'silent' }),
      metrics: new Metrics(),
      outbox: { enqueue: (row: unknown) => enqueued.push(row) },
      // A role check that waits on Slack's user groups until the test lets it answer.
      policy: { check: () => new Promise((resolve) => (allow = () => resolve({ allowed: true }))) },
    } as unknown as CommandServices;
    const slow = defineCommand({
      name: 'slow',
      usage: '/waygate slow',
      summary: 'never answers in time',
      roles: 'everyone',
      args: z.tuple([]),
      run: () => new Promise<CommandReply>(() => undefined),
    });
    const acks: Array<{ text: string }> = [];
    const handled = handleSlashCommand(
      { services, commands: [slow], inflight: new InflightWork(), requests: { add: () => undefined } },
      { text: 'slow', user_id: 'U0AMY', channel_id: 'C0CHAN', response_url: 'https://hooks.slack.com/x' },
      async (body) => void acks.push(body),
    );
    await new Promise((r) => setImmediate(r));
    clock.advance(900);
    allow();
    await new Promise((r) => setImmediate(r));
    clock.advance(ACK_BUDGET_MS - 900);
    await new Promise((r) => setImmediate(r));
    expect(acks).toEqual([expect.objectContaining({ text: expect.stringContaining('Working on `/waygate slow`') })]);
    await handled;
  });
});
