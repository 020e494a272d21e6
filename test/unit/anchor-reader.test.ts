import { webApi } from '@slack/bolt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackStandIn } from '../../standins/slack/index.js';
import { anchorReader } from '../../src/health/anchor-reader.js';
import { anchorMismatch, anchorText, parseAnchor } from '../../src/audit/anchor.js';

const { WebClient, LogLevel } = webApi;
const TOKEN = 'xoxb-test-anchor';

describe('anchorReader', () => {
  let standIn: SlackStandIn;
  let client: InstanceType<typeof WebClient>;
  beforeEach(async () => {
    standIn = await SlackStandIn.start({ token: TOKEN, botUserId: 'U0BOT' });
    client = new WebClient(TOKEN, { slackApiUrl: standIn.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logLevel: LogLevel.ERROR });
  });
  afterEach(() => standIn.close());

  const context = (text: string) => [{ type: 'context', elements: [{ type: 'mrkdwn', text }] }];

  it('pages back past other messages to the newest anchor the bot posted', async () => {
    await client.chat.postMessage({ channel: 'C1', text: 'old digest', blocks: context(`Audit trail verified: 3 entries, ${anchorText({ id: 3, head: 'a'.repeat(64) })}`) });
    const digest = await client.chat.postMessage({ channel: 'C1', text: 'digest', blocks: context(`Audit trail verified: 9 entries, ${anchorText({ id: 9, head: 'b'.repeat(64) })}`) });
    for (let i = 0; i < 250; i++) await client.chat.postMessage({ channel: 'C1', text: `chatter ${i}` });
    standIn.postAsUser('C1', 'U0HUMAN', `head #1 \`${'0'.repeat(16)}\``);

    const found = await anchorReader(client)('C1');
    expect(found).toEqual({ state: 'found', anchor: { id: 9, head: 'b'.repeat(16) }, ts: digest.ts });
    expect(standIn.calls('conversations.history')).toHaveLength(2);
    expect(standIn.calls('auth.test')).toHaveLength(1);
  });

  it('answers none when no message of the bot carries one, and unreadable with Slack error code', async () => {
    await client.chat.postMessage({ channel: 'C1', text: 'hello' });
    const read = anchorReader(client);
    expect(await read('C1')).toEqual({ state: 'none' });
    expect(await read('C0NOPE')).toEqual({ state: 'unreadable', error: 'channel_not_found' });
    standIn.failNext('conversations.history', { kind: 'http_error', status: 500 });
    expect(await read('C1')).toMatchObject({ state: 'unreadable' });
  });

  it('asks auth.test again after it failed once', async () => {
    standIn.failNext('auth.test', { kind: 'platform_error', error: 'invalid_auth' });
    const read = anchorReader(client);
    expect(await read('C1')).toEqual({ state: 'unreadable', error: 'invalid_auth' });
    await client.chat.postMessage({ channel: 'C1', text: 'x' });
    expect(await read('C1')).toEqual({ state: 'none' });
  });
});

describe('anchors', () => {
  it('round-trips through the text the digest posts', () => {
    expect(parseAnchor(`🔏 verified: 2 entries, ${anchorText({ id: 42, head: 'c'.repeat(64) })}`)).toEqual({ id: 42, head: 'c'.repeat(16) });
    expect(parseAnchor('head `abababababababab`')).toBeUndefined();
  });

  it('holds when the entry still has the posted hash, and says why otherwise', async () => {
    const hashes = new Map([[5, `${'d'.repeat(16)}${'e'.repeat(48)}`]]);
    const audit = { hashOf: (id: number) => Promise.resolve(hashes.get(id)) };
    expect(await anchorMismatch(audit, { id: 5, head: 'd'.repeat(16) })).toBeUndefined();
    expect(await anchorMismatch(audit, { id: 5, head: 'f'.repeat(16) })).toContain('rewritten');
    expect(await anchorMismatch(audit, { id: 6, head: 'd'.repeat(16) })).toContain('no longer in the trail');
  });
});
