import http from 'node:http';
import { webApi } from '@slack/bolt';
import { SocketModeClient, LogLevel as SocketLogLevel } from '@slack/socket-mode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SlackStandIn } from '../../standins/slack/index.js';

const { WebClient, ErrorCode, LogLevel } = webApi;
const TOKEN = 'xoxb-test-standin';

const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
const button = (actionId: string) => ({ type: 'button', action_id: actionId, text: { type: 'plain_text', text: 'Go' } });

/** Resolves to the rejection so tests can assert on the real WebClient error object. */
async function rejection(p: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (e) {
    return e as Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}

function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

describe('SlackStandIn via the real WebClient', () => {
  let standIn: SlackStandIn;
  let client: InstanceType<typeof WebClient>;

  beforeEach(async () => {
    standIn = await SlackStandIn.start({ token: TOKEN, botUserId: 'U0BOT' });
    client = new WebClient(TOKEN, {
      slackApiUrl: standIn.apiUrl,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      logLevel: LogLevel.ERROR,
    });
  });
  afterEach(() => standIn.close());

  it('answers auth.test with the configured bot user', async () => {
    const res = await client.auth.test();
    expect(res).toMatchObject({ ok: true, team_id: 'T0STANDIN', user_id: 'U0BOT', bot_id: 'B0WAYGATE' });
  });

  it('posts, updates and tracks channel state', async () => {
    const first = await client.chat.postMessage({ channel: 'C1', text: 'deploying', blocks: [section('*deploying*')] });
    const reply = await client.chat.postMessage({ channel: 'C1', text: 'step 1', thread_ts: first.ts });
    expect(first.ok).toBe(true);
    expect(first.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(Number(reply.ts)).toBeGreaterThan(Number(first.ts));
    expect(reply.message).toMatchObject({ text: 'step 1', thread_ts: first.ts });

    const updated = await client.chat.update({ channel: 'C1', ts: first.ts!, text: 'deployed', blocks: [section('*done*')] });
    expect(updated).toMatchObject({ ok: true, channel: 'C1', ts: first.ts, text: 'deployed' });

    expect(standIn.messages('C1')).toEqual([
      { ts: first.ts, text: 'deployed', blocks: [section('*done*')], updates: 1 },
      { ts: reply.ts, text: 'step 1', blocks: undefined, thread_ts: first.ts, updates: 0 },
    ]);
    // Form-encoded blocks are recorded parsed, not as JSON strings.
    expect(standIn.calls('chat.postMessage')[0]?.params.blocks).toEqual([section('*deploying*')]);
  });

  it('refuses updates to messages that do not exist', async () => {
    const err = await rejection(client.chat.update({ channel: 'C1', ts: '1.000001', text: 'x' }));
    expect(err.code).toBe(ErrorCode.PlatformError);
    expect((err.data as { error: string }).error).toBe('message_not_found');
  });

  it.each([
    ['51 blocks', Array.from({ length: 51 }, () => ({ type: 'divider' }))],
    ['an unknown block type', [{ type: 'carousel' }]],
    ['a duplicate action_id in one actions block', [{ type: 'actions', elements: [button('go'), button('go')] }]],
    ['section text of 3001 chars', [section('a'.repeat(3001))]],
  ])('answers invalid_blocks for %s', async (_label, blocks) => {
    const err = await rejection(client.chat.postMessage({ channel: 'C1', text: 'x', blocks }));
    const data = err.data as { error: string; errors: string[] };
    expect(data.error).toBe('invalid_blocks');
    expect(data.errors.length).toBeGreaterThan(0);
    expect(standIn.messages('C1')).toEqual([]);
  });

  it('answers no_text and channel_not_found like Slack', async () => {
    const noText = await rejection(client.chat.postMessage({ channel: 'C1', text: '' }));
    expect((noText.data as { error: string }).error).toBe('no_text');
    const noChannel = await rejection(client.chat.postMessage({ channel: '', text: 'hi' }));
    expect((noChannel.data as { error: string }).error).toBe('channel_not_found');
  });

  it('rejects a wrong token and unknown methods with HTTP 200 platform errors', async () => {
    const wrong = new WebClient('xoxb-test-wrong', { slackApiUrl: standIn.apiUrl, retryConfig: { retries: 0 } });
    expect((await rejection(wrong.auth.test())).data).toMatchObject({ ok: false, error: 'invalid_auth' });
    expect((await rejection(client.apiCall('reactions.add', { name: 'x' }))).data).toMatchObject({ error: 'unknown_method' });
    expect(standIn.calls().map((c) => c.status)).toEqual([200, 200]);
  });

  it('accepts JSON bodies with a bearer token', async () => {
    const res = await postJson(`${standIn.apiUrl}chat.postEphemeral`, { channel: 'C1', user: 'U1', text: 'psst' }, {
      Authorization: `Bearer ${TOKEN}`,
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ ok: true });
    expect(typeof body.message_ts).toBe('string');
    expect(standIn.calls('chat.postEphemeral')[0]?.params).toEqual({ channel: 'C1', user: 'U1', text: 'psst' });
  });

  it('serves users, DMs and user groups', async () => {
    standIn.addUser({ id: 'U1', name: 'ada', email: 'ada@example.com', tz: 'Europe/London' });
    standIn.addUserGroup('S1', ['U1', 'U2']);
    expect((await client.users.info({ user: 'U1' })).user).toMatchObject({
      id: 'U1',
      name: 'ada',
      tz: 'Europe/London',
      profile: { email: 'ada@example.com', display_name: 'ada' },
    });
    expect((await rejection(client.users.info({ user: 'U9' }))).data).toMatchObject({ error: 'user_not_found' });

    const a = await client.conversations.open({ users: 'U1,U2' });
    const b = await client.conversations.open({ users: 'U2,U1' });
    const c = await client.conversations.open({ users: 'U1' });
    expect(a.channel?.id).toMatch(/^D/);
    expect(b.channel?.id).toBe(a.channel?.id);
    expect(c.channel?.id).not.toBe(a.channel?.id);

    expect((await client.usergroups.users.list({ usergroup: 'S1' })).users).toEqual(['U1', 'U2']);
    expect((await rejection(client.usergroups.users.list({ usergroup: 'S9' }))).data).toMatchObject({ error: 'no_such_subteam' });
  });

  it('answers 429 with Retry-After for a rate_limited fault, then recovers', async () => {
    standIn.failNext('chat.postMessage', { kind: 'rate_limited', retryAfterSeconds: 7 });
    const err = await rejection(client.chat.postMessage({ channel: 'C1', text: 'hi' }));
    expect(err.code).toBe(ErrorCode.RateLimitedError);
    expect(err.retryAfter).toBe(7);
    expect((await client.chat.postMessage({ channel: 'C1', text: 'hi' })).ok).toBe(true);
    expect(standIn.calls('chat.postMessage').map((c) => c.status)).toEqual([429, 200]);
  });

  it('applies http_error and platform_error faults the given number of times', async () => {
    standIn.failNext('auth.test', { kind: 'http_error', status: 503 });
    standIn.failNext('auth.test', { kind: 'platform_error', error: 'fatal_error' }, 2);
    expect((await rejection(client.auth.test())).statusCode).toBe(503);
    expect((await rejection(client.auth.test())).data).toMatchObject({ error: 'fatal_error' });
    expect((await rejection(client.auth.test())).data).toMatchObject({ error: 'fatal_error' });
    expect((await client.auth.test()).ok).toBe(true);

    standIn.failNext('auth.test', { kind: 'http_error', status: 500 });
    standIn.clearFaults();
    expect((await client.auth.test()).ok).toBe(true);
  });

  it('records a hung call and never answers it', async () => {
    standIn.failNext('chat.postMessage', { kind: 'hang' });
    const impatient = new WebClient(TOKEN, {
      slackApiUrl: standIn.apiUrl,
      retryConfig: { retries: 0 },
      timeout: 200,
      logLevel: LogLevel.ERROR,
    });
    const err = await rejection(impatient.chat.postMessage({ channel: 'C1', text: 'hi' }));
    expect(err.code).toBe(ErrorCode.RequestError);
    expect(standIn.calls('chat.postMessage')).toMatchObject([{ status: 'hung', params: { channel: 'C1', text: 'hi' } }]);
    expect(standIn.messages('C1')).toEqual([]);
  });

  it('rate-limits a channel per second when asked', async () => {
    standIn.limitChannel('C1', 2);
    await client.chat.postMessage({ channel: 'C1', text: '1' });
    await client.chat.postMessage({ channel: 'C1', text: '2' });
    const err = await rejection(client.chat.postMessage({ channel: 'C1', text: '3' }));
    expect(err.retryAfter).toBe(1);
    expect((await client.chat.postMessage({ channel: 'C2', text: 'other' })).ok).toBe(true);
    expect(standIn.messages('C1').map((m) => m.text)).toEqual(['1', '2']);
  });

  it('reset clears records, faults and messages', async () => {
    await client.chat.postMessage({ channel: 'C1', text: 'hi' });
    standIn.failNext('auth.test', { kind: 'http_error', status: 500 });
    standIn.reset();
    expect(standIn.calls()).toEqual([]);
    expect(standIn.messages('C1')).toEqual([]);
    expect((await client.auth.test()).ok).toBe(true);
  });
});

describe('SlackStandIn response_url', () => {
  let standIn: SlackStandIn;
  beforeEach(async () => {
    standIn = await SlackStandIn.start();
  });
  afterEach(() => standIn.close());

  it('accepts five valid posts and refuses the sixth with used_url', async () => {
    const url = standIn.responseUrl('r1');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await postJson(url, { text: `update ${i}`, replace_original: true });
      statuses.push(res.status);
      if (i === 5) expect(await res.text()).toBe('used_url');
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 404]);
    expect(standIn.responsePosts('r1').map((p) => p.body.text)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `update ${i}`));
    expect(standIn.responsePosts('other')).toEqual([]);
  });

  it('validates bodies unless deleting the original', async () => {
    const url = standIn.responseUrl();
    const noText = await postJson(url, { response_type: 'ephemeral' });
    expect([noText.status, await noText.text()]).toEqual([400, 'no_text']);
    const bad = await postJson(url, { text: 'x', blocks: [{ type: 'carousel' }] });
    expect([bad.status, await bad.text()]).toEqual([400, 'invalid_blocks']);
    const del = await postJson(url, { delete_original: true });
    expect([del.status, await del.text()]).toEqual([200, 'ok']);
  });

  it('applies faults targeted at response_url', async () => {
    standIn.failNext('response_url', { kind: 'http_error', status: 502 });
    const url = standIn.responseUrl('r2');
    expect((await postJson(url, { text: 'a' })).status).toBe(502);
    expect((await postJson(url, { text: 'a' })).status).toBe(200);
    expect(standIn.responsePosts('r2').map((p) => p.status)).toEqual([502, 200]);
  });
});

describe('SlackStandIn lifecycle helpers', () => {
  it('close resolves promptly even with a hung request open', async () => {
    const standIn = await SlackStandIn.start();
    standIn.failNext('auth.test', { kind: 'hang' });
    const outcome = new Promise<string>((resolve) => {
      const req = http.request(`${standIn.apiUrl}auth.test`, { method: 'POST' }, () => resolve('answered'));
      req.on('error', (e) => resolve(`error: ${e.message}`));
      req.end();
    });
    await standIn.waitFor(() => standIn.calls('auth.test')[0]?.status === 'hung');
    await standIn.close();
    expect(await outcome).toMatch(/^error/);
  });

  it('waitFor resolves with the first defined value and rejects clearly on timeout', async () => {
    const standIn = await SlackStandIn.start();
    try {
      let n = 0;
      await expect(standIn.waitFor(() => (++n >= 3 ? n : undefined))).resolves.toBe(3);
      await expect(standIn.waitFor(() => false, 50)).rejects.toThrow(/waitFor timed out after 50 ms/);
    } finally {
      await standIn.close();
    }
  });
});

describe('SlackStandIn Socket Mode via the real SocketModeClient', () => {
  const APP_TOKEN = 'xapp-1-test-standin';
  let standIn: SlackStandIn;
  let clients: SocketModeClient[];

  // The client logs an error when the stand-in drops it, which one test does on purpose.
  const quiet = {
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: () => {},
    setLevel: () => {},
    getLevel: () => SocketLogLevel.ERROR,
    setName: () => {},
  };

  const connectClient = (opts: { appToken?: string; autoReconnectEnabled?: boolean; clientPingTimeout?: number } = {}) => {
    const client = new SocketModeClient({
      appToken: opts.appToken ?? APP_TOKEN,
      autoReconnectEnabled: opts.autoReconnectEnabled ?? false,
      clientPingTimeout: opts.clientPingTimeout ?? 5000,
      logger: quiet,
      clientOptions: { slackApiUrl: standIn.apiUrl, retryConfig: { retries: 0 } },
    });
    clients.push(client);
    return client;
  };

  /** Resolves to how an upgrade attempt at `url` ended: 'open' or the HTTP status it was refused with. */
  const upgrade = (url: string) =>
    new Promise<string>((resolve) => {
      const ws = new WebSocket(url);
      ws.on('open', () => {
        ws.terminate();
        resolve('open');
      });
      ws.on('unexpected-response', (_req, res) => {
        resolve(String(res.statusCode));
        ws.terminate();
      });
      ws.on('error', (e) => resolve(`error: ${e.message}`));
    });

  const openConnection = async (token: string) => {
    const res = await postJson(`${standIn.apiUrl}apps.connections.open`, {}, { Authorization: `Bearer ${token}` });
    return (await res.json()) as { ok: boolean; url?: string; error?: string };
  };

  beforeEach(async () => {
    standIn = await SlackStandIn.start({ token: TOKEN, appToken: APP_TOKEN, appId: 'A0TEST' });
    clients = [];
  });
  afterEach(async () => {
    await Promise.all(clients.map((c) => c.disconnect()));
    await standIn.close();
  });

  it('opens connections only for the app-level token', async () => {
    const ok = await openConnection(APP_TOKEN);
    expect(ok.ok).toBe(true);
    expect(ok.url).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/socket-mode\\?ticket=[0-9a-f-]{36}&app_id=A0TEST$`));
    expect(await openConnection(TOKEN)).toEqual({ ok: false, error: 'not_allowed_token_type' });
    expect(await openConnection('xapp-1-test-wrong')).toEqual({ ok: false, error: 'invalid_auth' });
    expect(await openConnection('garbage')).toEqual({ ok: false, error: 'invalid_auth' });
    const anon = await postJson(`${standIn.apiUrl}apps.connections.open`, {});
    expect(await anon.json()).toEqual({ ok: false, error: 'not_authed' });
    // And the app-level token is no good for bot methods.
    const wrongType = await postJson(`${standIn.apiUrl}auth.test`, {}, { Authorization: `Bearer ${APP_TOKEN}` });
    expect(await wrongType.json()).toEqual({ ok: false, error: 'not_allowed_token_type' });
  });

  it('accepts an upgrade only with an unused ticket on the Socket Mode path', async () => {
    const url = (await openConnection(APP_TOKEN)).url!;
    expect(await upgrade(url.replace(/ticket=[^&]+/, 'ticket=forged'))).toBe('401');
    expect(await upgrade(url.replace('/socket-mode', '/elsewhere'))).toBe('404');
    expect(await upgrade(url)).toBe('open');
    expect(await upgrade(url)).toBe('401');
  });

  it('says hello, which the client takes as connected', async () => {
    const client = connectClient();
    const states: string[] = [];
    for (const state of ['authenticated', 'connected']) client.on(state, () => states.push(state));
    const hello = await client.start();
    expect(hello).toMatchObject({ ok: true, url: expect.stringContaining('/socket-mode?ticket=') });
    expect(states).toEqual(['authenticated', 'connected']);
    expect(standIn.socketConnections()).toBe(1);
    expect(standIn.calls('apps.connections.open')).toMatchObject([{ status: 200, response: { ok: true } }]);
  });

  it('delivers envelopes and resolves with the ack sent through the client', async () => {
    const client = connectClient();
    client.on('slash_commands', ({ ack, body }: { ack: (r?: object) => Promise<void>; body: { text: string } }) => {
      void ack({ response_type: 'ephemeral', text: `you said ${body.text}` });
    });
    client.on('app_mention', ({ ack }: { ack: () => Promise<void> }) => void ack());
    await client.start();

    const reply = await standIn.sendEnvelope('slash_commands', { command: '/waygate', text: 'hi' });
    expect(reply).toMatchObject({ type: 'slash_commands', payload: { response_type: 'ephemeral', text: 'you said hi' } });
    const event = await standIn.sendEnvelope('events_api', { event: { type: 'app_mention', text: 'yo' } });
    expect(event.payload).toEqual({});
    expect(standIn.socketAcks().map((a) => [a.envelope_id, a.type])).toEqual([
      [reply.envelope_id, 'slash_commands'],
      [event.envelope_id, 'events_api'],
    ]);
    standIn.reset();
    expect(standIn.socketAcks()).toEqual([]);
  });

  it('rejects clearly when nobody is connected or an envelope goes unacked', async () => {
    await expect(standIn.sendEnvelope('interactive', {})).rejects.toThrow(/no Socket Mode client is connected/);
    const client = connectClient();
    await client.start();
    await expect(standIn.sendEnvelope('interactive', { type: 'block_actions' }, 100)).rejects.toThrow(
      /no ack for interactive envelope [0-9a-f-]{36} within 100 ms/,
    );
  });

  it('reconnects with a fresh ticket when asked to disconnect', async () => {
    const client = connectClient({ autoReconnectEnabled: true, clientPingTimeout: 600 });
    await client.start();
    standIn.sendDisconnect();
    await standIn.waitFor(() => standIn.calls('apps.connections.open').length === 2 && standIn.socketConnections() === 1);
    client.on('slash_commands', ({ ack }: { ack: () => Promise<void> }) => void ack());
    expect((await standIn.sendEnvelope('slash_commands', { text: '' })).payload).toEqual({});
  });

  it('sees a client disconnect, and close() resolves promptly with a client still connected', async () => {
    const leaving = connectClient();
    await leaving.start();
    await leaving.disconnect();
    await standIn.waitFor(() => standIn.socketConnections() === 0);

    const staying = connectClient();
    await staying.start();
    const pending = standIn.sendEnvelope('events_api', { event: { type: 'app_mention' } });
    const started = Date.now();
    await standIn.close();
    await expect(pending).rejects.toThrow(/the stand-in closed/);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('SlackStandIn conversations.history', () => {
  let standIn: SlackStandIn;
  let client: InstanceType<typeof WebClient>;
  beforeEach(async () => {
    standIn = await SlackStandIn.start({ token: TOKEN, botUserId: 'U0BOT' });
    client = new WebClient(TOKEN, { slackApiUrl: standIn.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logLevel: LogLevel.ERROR });
  });
  afterEach(() => standIn.close());

  it('answers newest first, with the author, leaving thread replies out unless broadcast', async () => {
    const first = await client.chat.postMessage({ channel: 'C1', text: 'one', blocks: [section('*one*')] });
    await client.chat.postMessage({ channel: 'C1', text: 'reply', thread_ts: first.ts! });
    const broadcast = await client.chat.postMessage({ channel: 'C1', text: 'shown', thread_ts: first.ts!, reply_broadcast: true });
    const person = standIn.postAsUser('C1', 'U0HUMAN', 'hello');
    await client.chat.update({ channel: 'C1', ts: first.ts!, text: 'one, edited' });

    const res = await client.conversations.history({ channel: 'C1' });
    expect(res).toMatchObject({ ok: true, has_more: false, response_metadata: { next_cursor: '' } });
    expect(res.messages).toEqual([
      { type: 'message', text: 'hello', ts: person.ts, user: 'U0HUMAN' },
      { type: 'message', text: 'shown', ts: broadcast.ts, user: 'U0BOT', bot_id: 'B0WAYGATE', thread_ts: first.ts },
      { type: 'message', text: 'one, edited', blocks: [section('*one*')], ts: first.ts, user: 'U0BOT', bot_id: 'B0WAYGATE', edited: { user: 'U0BOT', ts: first.ts } },
    ]);
  });

  it('pages with limit and cursor, and bounds by oldest and latest', async () => {
    const ts: string[] = [];
    for (let i = 0; i < 5; i++) ts.push((await client.chat.postMessage({ channel: 'C1', text: `m${i}` })).ts!);
    const page1 = await client.conversations.history({ channel: 'C1', limit: 2 });
    expect(page1.messages?.map((m) => m.text)).toEqual(['m4', 'm3']);
    expect(page1.has_more).toBe(true);
    const page2 = await client.conversations.history({ channel: 'C1', limit: 2, cursor: page1.response_metadata!.next_cursor! });
    expect(page2.messages?.map((m) => m.text)).toEqual(['m2', 'm1']);
    const page3 = await client.conversations.history({ channel: 'C1', limit: 2, cursor: page2.response_metadata!.next_cursor! });
    expect(page3).toMatchObject({ has_more: false, response_metadata: { next_cursor: '' } });
    expect(page3.messages?.map((m) => m.text)).toEqual(['m0']);

    const between = await client.conversations.history({ channel: 'C1', oldest: ts[1]!, latest: ts[3]! });
    expect(between.messages?.map((m) => m.text)).toEqual(['m2']);
    const inclusive = await client.conversations.history({ channel: 'C1', oldest: ts[1]!, latest: ts[3]!, inclusive: true });
    expect(inclusive.messages?.map((m) => m.text)).toEqual(['m3', 'm2', 'm1']);
  });

  it('answers channel_not_found for a channel it does not know, and rejects a bad cursor or limit', async () => {
    expect(await rejection(client.conversations.history({ channel: 'C0NOPE' }))).toMatchObject({ code: ErrorCode.PlatformError, data: { ok: false, error: 'channel_not_found' } });
    await client.chat.postMessage({ channel: 'C1', text: 'x' });
    expect(await rejection(client.conversations.history({ channel: 'C1', cursor: 'bm9wZQ==' }))).toMatchObject({ data: { error: 'invalid_cursor' } });
    expect(await rejection(client.conversations.history({ channel: 'C1', limit: -1 }))).toMatchObject({ data: { error: 'invalid_limit' } });
  });
});
