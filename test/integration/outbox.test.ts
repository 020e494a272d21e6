import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { healthDetails, startTestBot, type TestBot } from '../helpers/bot.js';
import type { OutboxItem } from '../../src/outbox/types.js';
import type { MessageKey } from '../../src/core/keys.js';

/** Queues items in one transaction, as a domain service would alongside its state change. */
async function enqueueAll(bot: TestBot, items: OutboxItem[]): Promise<void> {
  const { store, outbox } = bot.waygate.services;
  await store.transaction(async (tx) => {
    for (const item of items) await outbox.enqueue(tx, item);
  });
}

const post = (channel: string, text: string, extra: Partial<{ messageKey: MessageKey; threadKey: MessageKey }> = {}): OutboxItem => ({
  kind: 'post',
  payload: { channel, text, ...(extra.threadKey ? { threadKey: extra.threadKey } : {}) },
  ...(extra.messageKey ? { messageKey: extra.messageKey } : {}),
});

describe('outbox delivery to Slack', () => {
  let bot: TestBot;
  beforeEach(async () => {
    bot = await startTestBot();
  });
  afterEach(async () => {
    await bot.stop();
  });

  const idle = () => bot.slack.waitFor(() => !bot.waygate.dispatcher.busy());
  const texts = (channel: string) => bot.slack.messages(channel).map((m) => m.text);

  it('waits out a 429 Retry-After: 1 before sending again, and loses nothing', async () => {
    bot.slack.failNext('chat.postMessage', { kind: 'rate_limited', retryAfterSeconds: 1 });
    await enqueueAll(bot, [post('C0OPS', 'first'), post('C0OPS', 'second'), post('C0OPS', 'third')]);

    await bot.slack.waitFor(() => bot.slack.calls('chat.postMessage').length === 1);
    await idle();
    expect(bot.slack.calls('chat.postMessage')[0]?.status).toBe(429);
    expect(bot.waygate.dispatcher.nextWakeAt()).toBe(bot.clock.nowMs() + 1000);

    bot.clock.advance(999);
    await idle();
    expect(bot.slack.calls('chat.postMessage')).toHaveLength(1);
    expect(texts('C0OPS')).toEqual([]);

    bot.clock.advance(1);
    await bot.slack.waitFor(() => texts('C0OPS').length === 1);
    await bot.settle();
    expect(texts('C0OPS')).toEqual(['first', 'second', 'third']);
    expect(bot.slack.calls('chat.postMessage')).toHaveLength(4);
    expect((await bot.waygate.services.outbox.stats())).toMatchObject({ pending: 0, failed: 0 });
  });

  it('paces one channel to one message per second while other channels go at once', async () => {
    await enqueueAll(bot, [post('C0OPS', 'ops 1'), post('C0OPS', 'ops 2'), post('C0ALERTS', 'alert 1')]);
    await bot.slack.waitFor(() => texts('C0OPS').length === 1 && texts('C0ALERTS').length === 1);
    await idle();
    expect(texts('C0OPS')).toEqual(['ops 1']);
    bot.clock.advance(1000);
    await bot.slack.waitFor(() => texts('C0OPS').length === 2);
    expect(texts('C0OPS')).toEqual(['ops 1', 'ops 2']);
  });

  it('retries a 500 with backoff and delivers once Slack recovers', async () => {
    bot.slack.failNext('chat.postMessage', { kind: 'http_error', status: 500 }, 2);
    await enqueueAll(bot, [post('C0OPS', 'eventually')]);
    await bot.slack.waitFor(() => bot.slack.calls('chat.postMessage').length === 1);
    await idle();
    expect(bot.waygate.dispatcher.nextWakeAt()).toBe(bot.clock.nowMs() + 1000);
    bot.clock.advance(1000);
    await bot.slack.waitFor(() => bot.slack.calls('chat.postMessage').length === 2);
    await idle();
    // The second failure doubles the wait.
    expect(bot.waygate.dispatcher.nextWakeAt()).toBe(bot.clock.nowMs() + 2000);
    await bot.settle();
    expect(texts('C0OPS')).toEqual(['eventually']);
    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    expect(metrics).toContain('waygate_slack_api_errors_total{kind="retryable"} 2');
  });

  it('gives up on a message Slack refuses, keeps the lane moving, and reports degraded health', async () => {
    const tooMany = Array.from({ length: 51 }, () => ({ type: 'divider' as const }));
    await enqueueAll(bot, [
      { kind: 'post', payload: { channel: 'C0OPS', text: 'broken', blocks: tooMany } },
      post('C0OPS', 'after the broken one'),
    ]);
    await bot.settle();
    expect(texts('C0OPS')).toEqual(['after the broken one']);
    const row = (await bot.sql.first<{ status: string; last_error: string }>(sql`SELECT status, last_error FROM outbox WHERE id = 1`))!;
    expect(row.status).toBe('failed');
    expect(row.last_error).toContain('invalid_blocks');
    const health = await healthDetails<{ status: string; outbox: { failed: number } }>(bot.url);
    expect(health).toMatchObject({ status: 'degraded', outbox: { failed: 1 } });
  });

  it('updates a message and replies in its thread even when queued before the post was delivered', async () => {
    await enqueueAll(bot, [
      post('C0ALERTS', 'Incident opened', { messageKey: 'incident:1' }),
      { kind: 'update', payload: { channel: 'C0ALERTS', messageKey: 'incident:1', text: 'Incident acknowledged' } },
      post('C0ALERTS', 'Reminder in thread', { threadKey: 'incident:1' }),
    ]);
    await bot.settle();
    const [first, second] = bot.slack.messages('C0ALERTS');
    expect(first).toMatchObject({ text: 'Incident acknowledged', updates: 1 });
    expect(second).toMatchObject({ text: 'Reminder in thread', thread_ts: first?.ts });
  });

  it('delivers ephemeral messages and response_url replies, refusing response_urls on foreign hosts', async () => {
    const url = bot.slack.responseUrl('resp-1');
    await enqueueAll(bot, [
      { kind: 'ephemeral', payload: { channel: 'C0OPS', user: 'U0OPS', text: 'only you' } },
      { kind: 'respond', payload: { responseUrl: url, text: 'done', inChannel: true } },
      { kind: 'respond', payload: { responseUrl: 'https://evil.example.com/hook', text: 'leak' } },
    ]);
    await bot.settle();
    expect(bot.slack.calls('chat.postEphemeral')[0]?.params).toMatchObject({ user: 'U0OPS', text: 'only you' });
    expect(bot.slack.responsePosts('resp-1')[0]?.body).toMatchObject({ text: 'done', response_type: 'in_channel' });
    const refused = (await bot.sql.first<{ last_error: string }>(sql`SELECT status, last_error FROM outbox WHERE kind = 'respond' AND status = 'failed'`))!;
    expect(refused.last_error).toContain('evil.example.com');
  });

  it('does not retry a response_url past its 30-minute life', async () => {
    bot.slack.failNext('response_url', { kind: 'http_error', status: 503 }, 100);
    await enqueueAll(bot, [{ kind: 'respond', payload: { responseUrl: bot.slack.responseUrl('late'), text: 'late' } }]);
    await bot.slack.waitFor(() => bot.slack.responsePosts('late').length === 1);
    await idle();
    bot.clock.advance(31 * 60_000);
    await bot.settle();
    const row = (await bot.sql.first<{ status: string; last_error: string }>(sql`SELECT status, last_error FROM outbox`))!;
    expect(row).toMatchObject({ status: 'failed' });
    expect(row.last_error).toContain('expired');
  });
});
