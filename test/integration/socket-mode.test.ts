import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackStandIn } from '../../standins/slack/index.js';
import { BOT_TOKEN, fetchHealthDetails, startTestBot, USERS, type TestBot } from '../helpers/bot.js';

const APP_TOKEN = 'xapp-1-test-app-token';

describe('/waygate over real Socket Mode', () => {
  let slack: SlackStandIn;
  let bot: TestBot;

  beforeEach(async () => {
    // The stand-in demands this exact app token, so connecting at all proves the bot sent it.
    slack = await SlackStandIn.start({ token: BOT_TOKEN, appToken: APP_TOKEN });
    bot = await startTestBot({ slack, env: { SLACK_APP_TOKEN: APP_TOKEN, SLACK_SIGNING_SECRET: undefined } });
  });
  afterEach(async () => {
    await bot.stop();
    await slack.close();
  });

  /** The payload Slack puts in a slash_commands envelope: the HTTP form fields, as a JSON object. */
  const slashCommand = (text: string, userId: string = USERS.nobody) => ({
    token: 'legacy-verification-token',
    team_id: 'T0STANDIN',
    team_domain: 'standin',
    channel_id: 'C0OPS',
    channel_name: 'ops',
    user_id: userId,
    user_name: userId.toLowerCase(),
    command: '/waygate',
    text,
    api_app_id: 'A0WAYGATE',
    is_enterprise_install: 'false',
    response_url: slack.responseUrl(),
    trigger_id: '1000.2000.abc',
  });

  it('connects with the app token and serves /health in socket mode', async () => {
    expect(bot.config.mode).toBe('socket');
    expect(slack.socketConnections()).toBe(1);
    expect(slack.calls('apps.connections.open')).toMatchObject([{ status: 200, response: { ok: true } }]);
    const res = await fetchHealthDetails(bot.url);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { slack: unknown }).slack).toEqual({ mode: 'socket' });
  });

  it('acks `help` with the ephemeral verb list in the ack payload', async () => {
    const ack = await slack.sendEnvelope('slash_commands', slashCommand('help', USERS.security));
    expect(ack.payload).toMatchObject({ response_type: 'ephemeral' });
    const text = String(ack.payload?.text);
    expect(text).toContain('/waygate help');
    expect(text).toContain('/waygate jobs');
    expect(text).toContain('/waygate audit [verify | export <from> <to>]');
    expect(slack.socketAcks()).toMatchObject([{ envelope_id: ack.envelope_id, type: 'slash_commands' }]);
  });

  it('acks an unknown verb with the usage error', async () => {
    const ack = await slack.sendEnvelope('slash_commands', slashCommand('frobnicate now'));
    expect(ack.payload).toMatchObject({ response_type: 'ephemeral' });
    expect(ack.payload?.text).toContain("I don't know `/waygate frobnicate`");
    expect(ack.payload?.text).toContain('`help`, `ack`, `resolve`, `incidents`, `trigger`, `note`, `reassign`, `priority`, `escalate`, `deploy`, `hotfix`, `security`, `review`, `onboard`, `sop`, `oncall`, `health`, `digest`, `backup`, `jobs`, `audit`, `key`, `compliance`, `whoami`');
  });

  it('closes the connection on stop', async () => {
    await bot.stop();
    await slack.waitFor(() => slack.socketConnections() === 0);
    await expect(slack.sendEnvelope('slash_commands', slashCommand('help'))).rejects.toThrow(/no Socket Mode client/);
  });
});

describe('Socket Mode start-up failures', () => {
  it('fails start with a clear reason when Slack rejects the app token, and frees the port', async () => {
    const slack = await SlackStandIn.start({ token: BOT_TOKEN, appToken: APP_TOKEN });
    try {
      await expect(
        startTestBot({ slack, env: { SLACK_APP_TOKEN: 'xapp-1-test-wrong-token', SLACK_SIGNING_SECRET: undefined } }),
      ).rejects.toThrow(/Slack rejected SLACK_APP_TOKEN .*invalid_auth/);
      expect(slack.socketConnections()).toBe(0);
    } finally {
      await slack.close();
    }
  });

  it('fails start (instead of crashing) when the port is taken', async () => {
    const slack = await SlackStandIn.start({ token: BOT_TOKEN, appToken: APP_TOKEN });
    const first = await startTestBot({ slack, env: { SLACK_APP_TOKEN: APP_TOKEN, SLACK_SIGNING_SECRET: undefined } });
    try {
      const port = Number(new URL(first.url).port);
      await expect(
        startTestBot({ slack, port, env: { SLACK_APP_TOKEN: APP_TOKEN, SLACK_SIGNING_SECRET: undefined } }),
      ).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.stop();
      await slack.close();
    }
  });
});
