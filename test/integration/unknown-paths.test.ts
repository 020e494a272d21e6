import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBot, type TestBot } from '../helpers/bot.js';

describe('requests for paths the bot does not serve', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot.stop();
  });

  it.each([
    ['GET', '/'],
    ['GET', '/favicon.ico'],
    ['GET', '/slack/events'],
    ['POST', '/not-a-route'],
    ['DELETE', '/health'],
  ])('%s %s is answered 404, and the bot keeps serving', async (method, path) => {
    const res = await fetch(`${bot.url}${path}`, { method, ...(method === 'POST' ? { body: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}) });
    expect(res.status).toBe(404);
    await res.body?.cancel();
    const health = await fetch(`${bot.url}/health`);
    expect(health.status).toBe(200);
    const help = await bot.signer.slashCommand({ text: 'help', userId: 'U0OPS', responseUrl: bot.slack.responseUrl() });
    expect(help.status).toBe(200);
  });
});
