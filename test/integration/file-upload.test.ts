import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestBot, type TestBot } from '../helpers/bot.js';
import type { OutboxItem } from '../../src/outbox/types.js';

const BYTES = Buffer.from('\x89PNG\r\n\x1a\n a small chart, as far as this test cares', 'latin1');

const parent: OutboxItem = { kind: 'post', payload: { channel: 'C0OPS', text: 'weekly review' }, messageKey: 'digest:7' };
const upload: OutboxItem = {
  kind: 'file_upload',
  payload: { channel: 'C0OPS', threadKey: 'digest:7', filename: 'review.png', title: 'Review chart', altText: 'bars by day', contentBase64: BYTES.toString('base64') },
};

describe('file uploads through the outbox', () => {
  let bot: TestBot;
  beforeEach(async () => {
    bot = await startTestBot();
  });
  afterEach(async () => {
    await bot.stop();
  });

  /** Queues the review post and its chart in one transaction, as the weekly job does, and delivers both. */
  const deliver = async () => {
    const { store, outbox } = bot.waygate.services;
    await store.transaction(async (tx) => {
      for (const item of [parent, upload]) await outbox.enqueue(tx, item);
    });
    await bot.settle();
  };
  const calls = (method: string) => bot.slack.calls(method).map((c) => c.status);

  /** The one file the review's thread holds, bytes intact. */
  const expectSharedOnce = async () => {
    const [review] = bot.slack.messages('C0OPS');
    const files = bot.slack.files();
    expect(files).toHaveLength(1);
    expect(files[0]).toMatchObject({ filename: 'review.png', title: 'Review chart', altText: 'bars by day', channel: 'C0OPS', threadTs: review?.ts, uploadedAs: 'raw' });
    expect(files[0]!.bytes.equals(BYTES)).toBe(true);
    expect((await bot.waygate.services.outbox.stats())).toMatchObject({ pending: 0, failed: 0 });
  };

  it('shares the file in the thread of the message queued with it, through the three upload calls', async () => {
    await deliver();
    await expectSharedOnce();
    expect(calls('files.getUploadURLExternal')).toEqual([200]);
    expect(calls('files.completeUploadExternal')).toEqual([200]);
    expect(bot.slack.calls('files.getUploadURLExternal')[0]?.params).toMatchObject({ filename: 'review.png', length: String(BYTES.length), alt_text: 'bars by day' });
  });

  it('waits out a 429 on files.getUploadURLExternal and shares the file once', async () => {
    bot.slack.failNext('files.getUploadURLExternal', { kind: 'rate_limited', retryAfterSeconds: 2 });
    await deliver();
    await expectSharedOnce();
    expect(calls('files.getUploadURLExternal')).toEqual([429, 200]);
  });

  it('after a 429 on completion, completes the file it already uploaded instead of uploading another', async () => {
    bot.slack.failNext('files.completeUploadExternal', { kind: 'rate_limited', retryAfterSeconds: 1 });
    await deliver();
    await expectSharedOnce();
    expect(calls('files.getUploadURLExternal')).toEqual([200]);
    expect(calls('files.completeUploadExternal')).toEqual([429, 200]);
  });

  it('retries a completion that failed with a 500 and shares the file once', async () => {
    bot.slack.failNext('files.completeUploadExternal', { kind: 'http_error', status: 500 });
    await deliver();
    await expectSharedOnce();
    expect(calls('files.getUploadURLExternal')).toEqual([200]);
    expect(calls('files.completeUploadExternal')).toEqual([500, 200]);
  });

  it('does not share a second copy when a completion took effect but its answer was lost', async () => {
    bot.slack.failNext('files.completeUploadExternal', { kind: 'lost_response', status: 503 });
    await deliver();
    await expectSharedOnce();
    // The retry asked Slack to complete the same file again, which Slack does only once.
    expect(calls('files.getUploadURLExternal')).toEqual([200]);
    expect(calls('files.completeUploadExternal')).toEqual([503, 200]);
    expect(bot.slack.calls('files.completeUploadExternal')[1]?.response).toEqual({ ok: false, error: 'file_not_found' });
  });

  it('uploads again with a fresh URL when the POST of the bytes failed', async () => {
    bot.slack.failNext('upload', { kind: 'http_error', status: 503 });
    await deliver();
    await expectSharedOnce();
    expect(calls('files.getUploadURLExternal')).toEqual([200, 200]);
    expect(calls('files.completeUploadExternal')).toEqual([200]);
  });

  it('uploads again when an upload that was never completed has expired', async () => {
    bot.slack.failNext('files.completeUploadExternal', { kind: 'platform_error', error: 'file_not_found' });
    await deliver();
    await expectSharedOnce();
    expect(calls('files.getUploadURLExternal')).toEqual([200, 200]);
    expect(calls('files.completeUploadExternal')).toEqual([200, 200]);
  });

  it('fails a file Slack refuses to share, visibly, and moves the lane on', async () => {
    bot.slack.failNext('files.completeUploadExternal', { kind: 'platform_error', error: 'not_in_channel' });
    const { store, outbox } = bot.waygate.services;
    await store.transaction(async (tx) => {
      for (const item of [parent, upload, { kind: 'post', payload: { channel: 'C0OPS', text: 'after' } } as OutboxItem]) await outbox.enqueue(tx, item);
    });
    await bot.settle();
    expect(bot.slack.files()).toEqual([]);
    expect(bot.slack.messages('C0OPS').map((m) => m.text)).toEqual(['weekly review', 'after']);
    expect((await outbox.stats())).toMatchObject({ pending: 0, failed: 1 });
    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    expect(metrics).toContain('waygate_slack_api_errors_total{kind="permanent"} 1');
  });
});
