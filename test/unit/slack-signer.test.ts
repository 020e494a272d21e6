import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel, verifySlackRequest } from '@slack/bolt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCapture, type Captured } from '../helpers/capture.js';
import { SlackRequestSigner, slackSignature, SlackStandIn } from '../../standins/slack/index.js';

const SECRET = 'test-signing-secret';



function boltAccepts(req: Captured, secret = SECRET, nowMs?: number): boolean {
  try {
    verifySlackRequest({
      signingSecret: secret,
      body: req.body,
      headers: {
        'x-slack-signature': String(req.headers['x-slack-signature']),
        'x-slack-request-timestamp': Number(req.headers['x-slack-request-timestamp']),
      },
      ...(nowMs !== undefined ? { nowMilliseconds: nowMs } : {}),
    });
    return true;
  } catch {
    return false;
  }
}

describe('slackSignature', () => {
  it("matches Slack's published test vector", () => {
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(slackSignature('8f742231b10e8888abcd99yyyzzz85a5', 1531420618, body)).toBe(
      'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    );
  });
});

describe('SlackRequestSigner on the wire', () => {
  let capture: Awaited<ReturnType<typeof startCapture>>;
  let signer: SlackRequestSigner;

  beforeEach(async () => {
    capture = await startCapture();
    signer = new SlackRequestSigner({ url: capture.url, signingSecret: SECRET });
  });
  afterEach(() => capture.close());

  const last = (): Captured => {
    const req = capture.requests.at(-1);
    if (!req) throw new Error('no request captured');
    return req;
  };

  it('sends a slash command as a signed form body in Slack field order', async () => {
    const res = await signer.slashCommand({ text: 'status api', responseUrl: 'http://127.0.0.1:1/response/r1' });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ received: true });
    const req = last();
    expect(req.path).toBe('/slack/events');
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(boltAccepts(req)).toBe(true);
    const form = new URLSearchParams(req.body);
    expect([...form.keys()]).toEqual([
      'token', 'team_id', 'team_domain', 'channel_id', 'channel_name', 'user_id',
      'user_name', 'command', 'text', 'api_app_id', 'response_url', 'trigger_id',
    ]);
    expect(Object.fromEntries(form)).toMatchObject({
      team_id: 'T0STANDIN',
      channel_id: 'C0CHAN',
      user_id: 'U0USER',
      command: '/waygate',
      text: 'status api',
      response_url: 'http://127.0.0.1:1/response/r1',
    });
  });

  it('sends a block action as a signed payload= form with the block_actions shape', async () => {
    await signer.blockAction({
      actionId: 'approve',
      value: 'run-7',
      blockId: 'b1',
      userId: 'U1',
      channelId: 'C1',
      messageTs: '1700000000.000100',
      responseUrl: 'http://127.0.0.1:1/response/r2',
    });
    const req = last();
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(boltAccepts(req)).toBe(true);
    const payload = JSON.parse(new URLSearchParams(req.body).get('payload') ?? '') as Record<string, unknown>;
    expect(payload).toMatchObject({
      type: 'block_actions',
      user: { id: 'U1', team_id: 'T0STANDIN' },
      container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'C1', is_ephemeral: false },
      team: { id: 'T0STANDIN' },
      channel: { id: 'C1' },
      message: { type: 'message', ts: '1700000000.000100' },
      state: { values: {} },
      response_url: 'http://127.0.0.1:1/response/r2',
      actions: [{ type: 'button', action_id: 'approve', block_id: 'b1', value: 'run-7' }],
    });
    expect(typeof payload.trigger_id).toBe('string');
  });

  it('sends events as signed JSON with retry headers when asked', async () => {
    await signer.event({ type: 'event_callback', event: { type: 'app_mention' } }, { retryNum: 1, retryReason: 'http_timeout' });
    const req = last();
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.body)).toEqual({ type: 'event_callback', event: { type: 'app_mention' } });
    expect(req.headers['x-slack-retry-num']).toBe('1');
    expect(req.headers['x-slack-retry-reason']).toBe('http_timeout');
    expect(boltAccepts(req)).toBe(true);
  });

  it('produces requests Bolt refuses when the signature is bad or stale', async () => {
    await signer.event({ type: 'event_callback' }, { badSignature: true });
    expect(boltAccepts(last())).toBe(false);

    await signer.event({ type: 'event_callback' }, { timestampSec: 1_000_000 });
    expect(last().headers['x-slack-request-timestamp']).toBe('1000000');
    expect(boltAccepts(last())).toBe(false);
    expect(boltAccepts(last(), SECRET, 1_000_000 * 1000)).toBe(true);
  });

  it('takes the timestamp from nowSec when given', async () => {
    await signer.event({}, { nowSec: () => 1_234_567.9 });
    expect(last().headers['x-slack-request-timestamp']).toBe('1234567');
    expect(last().headers['x-slack-retry-num']).toBeUndefined();
  });
});

describe('SlackRequestSigner against a real Bolt app', () => {
  let standIn: SlackStandIn;
  let app: App;
  let signer: SlackRequestSigner;

  beforeEach(async () => {
    standIn = await SlackStandIn.start({ token: 'xoxb-test' });
    app = new App({
      token: 'xoxb-test',
      signingSecret: SECRET,
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: standIn.apiUrl, retryConfig: { retries: 0 } },
    });
    app.command('/waygate', async ({ ack, respond, command }) => {
      await ack();
      await respond({ text: `echo ${command.text}` });
    });
    const server = (await app.start({ port: 0, host: '127.0.0.1' })) as http.Server;
    const { port } = server.address() as AddressInfo;
    signer = new SlackRequestSigner({ url: `http://127.0.0.1:${port}`, signingSecret: SECRET });
  });
  afterEach(async () => {
    await app.stop();
    await standIn.close();
  });

  it('is accepted, acked and answered through the response_url', async () => {
    const res = await signer.slashCommand({ text: 'ping', responseUrl: standIn.responseUrl('cmd1') });
    expect(res.status).toBe(200);
    const post = await standIn.waitFor(() => standIn.responsePosts('cmd1')[0]);
    expect(post.body).toMatchObject({ text: 'echo ping' });
    expect(post.status).toBe(200);
  });

  it('is refused with 401 when badly signed', async () => {
    const res = await signer.slashCommand({ text: 'ping', responseUrl: standIn.responseUrl('cmd2') }, { badSignature: true });
    expect(res.status).toBe(401);
    expect(standIn.responsePosts('cmd2')).toEqual([]);
  });
});
