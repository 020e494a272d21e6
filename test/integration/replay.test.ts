import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { DIGEST_ACTIONS } from '../../src/health/digest.js';
import { SlackStandIn } from '../../standins/slack/index.js';
import { BOT_TOKEN, DEFAULT_YAML, startTestBot, USERS, type TestBot } from '../helpers/bot.js';

const START = '2026-03-02T08:00:00.000Z';
const REPLAYED = 'That request already reached Waygate, so it was not run again. Type the command again if you meant to repeat it.';

describe('a signed Slack request sent again', () => {
  let dir: string;
  let slack: SlackStandIn;
  const bots: TestBot[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-replay-'));
    slack = await SlackStandIn.start({ token: BOT_TOKEN });
  });
  afterEach(async () => {
    for (const bot of bots.splice(0)) await bot.stop();
    await slack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (clock = new ManualClock(START)): Promise<TestBot> => {
    const bot = await startTestBot({
      dir,
      slack,
      clock,
      yaml: {
        ...DEFAULT_YAML,
        service: { ...DEFAULT_YAML.service, logFile: join(dir, 'waygate.log'), database: join(dir, 'service.db') },
        backup: { dir: join(dir, 'backups'), configDir: null },
      },
    });
    bots.push(bot);
    return bot;
  };
  const digests = (bot: TestBot) => bot.slack.messages('C0OPS').filter((m) => m.text.startsWith('Waygate daily health'));
  const runs = (bot: TestBot) => bot.sql.value(sql`SELECT COUNT(*) FROM executions`);

  /** The same bytes every time: one trigger_id, one timestamp, one signature, as a captured request would be. */
  const digestCommand = (bot: TestBot, opts: { retryNum?: number } = {}) => {
    const nowSec = Math.floor(Date.now() / 1000);
    const input = { text: 'digest', userId: USERS.ops, responseUrl: bot.slack.responseUrl('digest'), triggerId: '1234.5678.captured' };
    return (b: TestBot = bot) => b.signer.slashCommand(input, { timestampSec: nowSec, ...opts });
  };

  it('runs `/waygate digest` once when the same signed bytes arrive three times within the signature window', async () => {
    const bot = await start();
    const send = digestCommand(bot);
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.json.text).toContain('Building the health digest');
    bot.clock.advance(60_000);
    const second = await send();
    bot.clock.advance(3 * 60_000);
    const third = await send();
    for (const replay of [second, third]) {
      expect(replay.status).toBe(200);
      expect(replay.json).toMatchObject({ response_type: 'ephemeral', text: REPLAYED });
    }
    await bot.settle();
    expect(digests(bot)).toHaveLength(1);
    expect(await runs(bot)).toBe(1);
    expect(await (await fetch(`${bot.url}/metrics`)).text()).toContain('waygate_slack_replays_total{type="command"} 2');
  });

  it("treats Slack's own retry of a request it already delivered as the same request", async () => {
    const bot = await start();
    expect((await digestCommand(bot)()).json.text).toContain('Building the health digest');
    const retry = await digestCommand(bot, { retryNum: 1 })();
    expect(retry.json.text).toBe(REPLAYED);
    await bot.settle();
    expect(digests(bot)).toHaveLength(1);
  });

  it('still refuses the replay after a restart', async () => {
    const clock = new ManualClock(START);
    const first = await start(clock);
    const send = digestCommand(first);
    expect((await send()).json.text).toContain('Building the health digest');
    await first.settle();
    await first.waygate.stop();
    bots.splice(0);

    clock.advance(2 * 60_000);
    const second = await start(clock);
    const replay = await send(second);
    expect(replay.json.text).toBe(REPLAYED);
    await second.settle();
    expect(digests(second)).toHaveLength(1);
    expect(await runs(second)).toBe(1);
  });

  it('forgets a request once the signature window is long over, so the table stays small', async () => {
    const bot = await start();
    await digestCommand(bot)();
    await bot.settle();
    bot.clock.advance(60 * 60_000);
    // Any later request prunes what no signature check would accept any more.
    await bot.signer.slashCommand({ text: 'help', userId: USERS.ops, responseUrl: bot.slack.responseUrl() });
    const remembered = await bot.sql.value(sql`SELECT COUNT(*) FROM slack_requests_seen`);
    expect(remembered).toBe(1);
  });

  it('handles a replayed click once: the Reviewed button is not pressed a second time', async () => {
    const bot = await start();
    await digestCommand(bot)();
    await bot.settle();
    const digest = digests(bot)[0]!;
    const value = (digest.blocks as Array<{ elements?: Array<{ action_id?: string; value?: string }> }>)
      .flatMap((b) => b.elements ?? [])
      .find((e) => e.action_id === DIGEST_ACTIONS.reviewed)?.value;
    const nowSec = Math.floor(Date.now() / 1000);
    const click = () =>
      bot.signer.blockAction(
        {
          actionId: DIGEST_ACTIONS.reviewed,
          value,
          userId: USERS.ops,
          channelId: 'C0OPS',
          messageTs: digest.ts,
          responseUrl: bot.slack.responseUrl('click'),
          triggerId: '2345.6789.captured-click',
        },
        { timestampSec: nowSec, nowSec: () => nowSec },
      );
    expect((await click()).status).toBe(200);
    await bot.settle();
    const auditRows = (await bot.waygate.services.audit.recent(100)).length;
    const updates = bot.slack.messages('C0OPS').find((m) => m.ts === digest.ts)?.updates;

    expect((await click()).status).toBe(200);
    await bot.settle();
    // Nothing changes and nobody is told "already reviewed": the second click never reached the button.
    expect(bot.slack.responsePosts('click')).toEqual([]);
    expect(await bot.waygate.services.audit.recent(100)).toHaveLength(auditRows);
    expect(bot.slack.messages('C0OPS').find((m) => m.ts === digest.ts)?.updates).toBe(updates);
  });

  it('runs two commands with the same text but their own trigger_id both', async () => {
    const bot = await start();
    for (const triggerId of ['1.1.a', '1.1.b']) {
      const res = await bot.signer.slashCommand({ text: 'digest', userId: USERS.ops, responseUrl: bot.slack.responseUrl(), triggerId });
      expect(res.json.text).toContain('Building the health digest');
      await bot.settle();
    }
    expect(digests(bot)).toHaveLength(2);
  });
});
