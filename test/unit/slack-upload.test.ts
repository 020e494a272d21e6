import { webApi } from '@slack/bolt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackStandIn } from '../../standins/slack/index.js';
import { SlackSender, type UploadProgressStore } from '../../src/outbox/slack-delivery.js';
import { DeliveryError, type FileUploadProgress } from '../../src/outbox/types.js';

const { WebClient, LogLevel } = webApi;
const TOKEN = 'xoxb-test-upload';
const BYTES = Buffer.from('chart bytes');
const FILE = { channel: 'C1', filename: 'c.png', title: 'Chart', altText: 'a chart', contentBase64: BYTES.toString('base64') };

/** Progress kept in memory, as the dispatcher keeps it in the outbox row. */
function memoryProgress(): UploadProgressStore & { saved: Array<FileUploadProgress | undefined> } {
  let current: FileUploadProgress | undefined;
  const saved: Array<FileUploadProgress | undefined> = [];
  return {
    saved,
    get current() {
      return current;
    },
    save(next) {
      saved.push(next);
      current = next;
      return Promise.resolve();
    },
  };
}

describe('SlackSender.uploadFile', () => {
  let standIn: SlackStandIn;
  let client: InstanceType<typeof WebClient>;
  beforeEach(async () => {
    standIn = await SlackStandIn.start({ token: TOKEN });
    client = new WebClient(TOKEN, { slackApiUrl: standIn.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logLevel: LogLevel.ERROR });
  });
  afterEach(() => standIn.close());

  it('sends the bytes to the upload URL without the bot token', async () => {
    const seen: Array<{ url: string; authorization: string | null }> = [];
    const fetchImpl: typeof fetch = (input, init) => {
      seen.push({ url: input instanceof URL ? input.href : typeof input === 'string' ? input : input.url, authorization: new Headers(init?.headers).get('authorization') });
      return fetch(input, init);
    };
    const host = new URL(standIn.apiUrl).host;
    const sender = new SlackSender({ client, allowedResponseHosts: [], allowedUploadHosts: [host], fetchImpl });
    const progress = memoryProgress();
    expect(await sender.uploadFile(FILE, undefined, progress)).toBe('shared');
    expect(seen).toEqual([{ url: expect.stringContaining(`http://${host}/upload/`), authorization: null }]);
    expect(standIn.files()[0]?.bytes.equals(BYTES)).toBe(true);
    // The file id was kept before completion was asked for, and the completion marked before it was sent.
    const fileId = standIn.files()[0]?.id;
    expect(progress.saved).toEqual([{ fileId, completing: false }, { fileId, completing: true }]);
  });

  it('refuses an upload URL on a host other than Slack\'s file host, and uploads nothing', async () => {
    const sender = new SlackSender({ client, allowedResponseHosts: [], allowedUploadHosts: ['files.slack.com'] });
    const err = await sender.uploadFile(FILE, undefined, memoryProgress()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).failure).toEqual({ kind: 'permanent', detail: `upload URL host ${new URL(standIn.apiUrl).host} is not allowed` });
    expect(standIn.files()).toEqual([]);
  });

  it('gives up at once on an upload the file host refuses as malformed', async () => {
    standIn.failNext('upload', { kind: 'http_error', status: 400 });
    const sender = new SlackSender({ client, allowedResponseHosts: [], allowedUploadHosts: [new URL(standIn.apiUrl).host] });
    const err = (await sender.uploadFile(FILE, undefined, memoryProgress()).catch((e: unknown) => e)) as DeliveryError;
    expect(err.failure).toMatchObject({ kind: 'permanent', detail: expect.stringMatching(/^upload URL answered HTTP 400/) });
  });
});
