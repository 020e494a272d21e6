import { webApi } from '@slack/bolt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackStandIn } from '../../standins/slack/index.js';

const { WebClient, ErrorCode, LogLevel } = webApi;
const TOKEN = 'xoxb-test-standin';
const BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0x10, 0x80]);

/** Resolves to the rejection so tests can assert on the real WebClient error object. */
async function rejection(p: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (e) {
    return e as Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}

const platformError = async (p: Promise<unknown>) => {
  const err = await rejection(p);
  expect(err.code).toBe(ErrorCode.PlatformError);
  return (err.data as { error: string }).error;
};

describe('SlackStandIn file uploads (files.getUploadURLExternal → upload URL → files.completeUploadExternal)', () => {
  let standIn: SlackStandIn;
  let client: InstanceType<typeof WebClient>;

  beforeEach(async () => {
    standIn = await SlackStandIn.start({ token: TOKEN });
    client = new WebClient(TOKEN, { slackApiUrl: standIn.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logLevel: LogLevel.ERROR });
  });
  afterEach(() => standIn.close());

  /** The first two steps, sending raw bytes; returns the file id. */
  const upload = async (bytes = BYTES, filename = 'chart.png') => {
    const res = await client.files.getUploadURLExternal({ filename, length: bytes.length, alt_text: 'a chart' });
    const posted = await fetch(res.upload_url!, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    expect(posted.status).toBe(200);
    return res.file_id!;
  };

  it('takes the SDK\'s filesUploadV2 (a multipart upload) and shares the file in a thread, bytes intact', async () => {
    const parent = await client.chat.postMessage({ channel: 'C1', text: 'weekly review' });
    const res = await client.filesUploadV2({ channel_id: 'C1', thread_ts: parent.ts!, file: BYTES, filename: 'review.png', title: 'Review chart', alt_text: 'bars' });
    expect(res.ok).toBe(true);
    const [file, ...more] = standIn.files();
    expect(more).toEqual([]);
    expect(file).toMatchObject({ filename: 'review.png', title: 'Review chart', altText: 'bars', channel: 'C1', threadTs: parent.ts, uploadedAs: 'multipart' });
    expect(file!.bytes.equals(BYTES)).toBe(true);
  });

  it('hands out an upload URL on its own server and shares raw bytes posted there once completed', async () => {
    const res = await client.files.getUploadURLExternal({ filename: 'chart.png', length: BYTES.length });
    expect(res).toMatchObject({ ok: true, file_id: expect.stringMatching(/^F/) });
    expect(new URL(res.upload_url!).host).toBe(new URL(standIn.apiUrl).host);
    await fetch(res.upload_url!, { method: 'POST', body: BYTES });
    expect(standIn.files()).toEqual([]); // uploaded, not yet shared

    const done = await client.files.completeUploadExternal({ files: [{ id: res.file_id!, title: 'Chart' }], channel_id: 'C2', initial_comment: 'here' });
    expect(done.files).toEqual([expect.objectContaining({ id: res.file_id, title: 'Chart' })]);
    expect(standIn.files()).toEqual([
      expect.objectContaining({ id: res.file_id, filename: 'chart.png', channel: 'C2', threadTs: undefined, initialComment: 'here', uploadedAs: 'raw' }),
    ]);
    expect(standIn.files()[0]!.bytes.equals(BYTES)).toBe(true);
  });

  it('can be completed only once: a repeat answers file_not_found and shares nothing more', async () => {
    const id = await upload();
    await client.files.completeUploadExternal({ files: [{ id }], channel_id: 'C1' });
    expect(await platformError(client.files.completeUploadExternal({ files: [{ id }], channel_id: 'C1' }))).toBe('file_not_found');
    expect(standIn.files()).toHaveLength(1);
  });

  it('answers file_not_found for an unknown id and for a file whose bytes never arrived', async () => {
    expect(await platformError(client.files.completeUploadExternal({ files: [{ id: 'F0NOPE' }], channel_id: 'C1' }))).toBe('file_not_found');
    const res = await client.files.getUploadURLExternal({ filename: 'x.png', length: 3 });
    expect(await platformError(client.files.completeUploadExternal({ files: [{ id: res.file_id! }], channel_id: 'C1' }))).toBe('file_not_found');
    expect(standIn.files()).toEqual([]);
  });

  it('answers invalid_arguments for a missing filename or length, no files, and a thread without a channel', async () => {
    expect(await platformError(client.apiCall('files.getUploadURLExternal', { length: 3 }))).toBe('invalid_arguments');
    expect(await platformError(client.apiCall('files.getUploadURLExternal', { filename: 'x.png' }))).toBe('invalid_arguments');
    expect(await platformError(client.apiCall('files.completeUploadExternal', { files: '[]', channel_id: 'C1' }))).toBe('invalid_arguments');
    const id = await upload();
    expect(await platformError(client.files.completeUploadExternal({ files: [{ id }], thread_ts: '1700000000.000100' } as never))).toBe('invalid_arguments');
    // The upload is still there to complete properly.
    await client.files.completeUploadExternal({ files: [{ id }], channel_id: 'C1' });
    expect(standIn.files()).toHaveLength(1);
  });

  it('refuses an upload whose size differs from the announced length, and an upload URL it never gave out', async () => {
    const res = await client.files.getUploadURLExternal({ filename: 'x.png', length: BYTES.length + 1 });
    const wrong = await fetch(res.upload_url!, { method: 'POST', body: BYTES });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toBe(`expected ${BYTES.length + 1} bytes, got ${BYTES.length}`);
    const unknown = await fetch(res.upload_url!.replace(res.file_id!, 'F0NOPE'), { method: 'POST', body: BYTES });
    expect(unknown.status).toBe(404);
  });

  it('injects faults on the upload URL, and a lost answer on completion after the file was shared', async () => {
    standIn.failNext('upload', { kind: 'http_error', status: 503 });
    const res = await client.files.getUploadURLExternal({ filename: 'x.png', length: BYTES.length });
    expect((await fetch(res.upload_url!, { method: 'POST', body: BYTES })).status).toBe(503);
    expect((await fetch(res.upload_url!, { method: 'POST', body: BYTES })).status).toBe(200);

    standIn.failNext('files.completeUploadExternal', { kind: 'lost_response', status: 503 });
    const lost = await rejection(client.files.completeUploadExternal({ files: [{ id: res.file_id! }], channel_id: 'C1' }));
    expect(lost.code).toBe(ErrorCode.HTTPError);
    expect(standIn.files()).toHaveLength(1); // it took effect all the same
    expect(standIn.calls('files.completeUploadExternal')[0]?.status).toBe(503);
  });

  it('forgets files on reset', async () => {
    const id = await upload();
    await client.files.completeUploadExternal({ files: [{ id }], channel_id: 'C1' });
    standIn.reset();
    expect(standIn.files()).toEqual([]);
  });
});
