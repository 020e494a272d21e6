import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestBot, USERS, type TestBot } from '../helpers/bot.js';
import { COMMANDS } from '../../commands/index.js';
import { defineCommand, type CommandReply } from '../../src/commands/types.js';

describe('commands that are slow or fail', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  it('acks within the budget with a holding reply and delivers the real answer to the response_url', async () => {
    let release: (reply: CommandReply) => void = () => undefined;
    let started = false;
    const slow = defineCommand({
      name: 'slow',
      usage: '/waygate slow',
      summary: 'takes its time',
      roles: 'everyone',
      args: z.tuple([]),
      run: () => {
        started = true;
        return new Promise<CommandReply>((resolve) => (release = resolve));
      },
    });
    bot = await startTestBot({ overrides: { commands: [...COMMANDS, slow] } });
    const b = bot;
    const answer = b.signer.slashCommand({ text: 'slow', userId: USERS.nobody, responseUrl: b.slack.responseUrl('slow-1') });
    await b.slack.waitFor(() => started);
    b.clock.advance(2_000);
    const ack = await answer;
    expect(ack.status).toBe(200);
    expect(ack.json.text).toContain('Working on `/waygate slow`');
    release({ text: 'the slow answer' });
    await b.slack.waitFor(() => b.slack.responsePosts('slow-1').length === 1);
    expect(b.slack.responsePosts('slow-1')[0]?.body).toMatchObject({ text: 'the slow answer', response_type: 'ephemeral' });
  });

  it('answers a command that throws with a short sentence and a reference, never a stack trace', async () => {
    const broken = defineCommand({
      name: 'broken',
      usage: '/waygate broken',
      summary: 'always fails',
      roles: 'everyone',
      args: z.tuple([]),
      run: () => {
        throw new Error('SQLITE_CORRUPT: database disk image is malformed');
      },
    });
    bot = await startTestBot({ overrides: { commands: [...COMMANDS, broken] } });
    const res = await bot.signer.slashCommand({ text: 'broken', userId: USERS.nobody, responseUrl: bot.slack.responseUrl() });
    expect(res.status).toBe(200);
    expect(res.json.text).toMatch(/^Something went wrong running `\/waygate broken`\. It has been logged \(ref [0-9a-f]{8}\)\.$/);
    expect(res.text).not.toContain('SQLITE_CORRUPT');
  });
});
