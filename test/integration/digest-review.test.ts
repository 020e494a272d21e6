import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { DIGEST_ACTIONS } from '../../src/health/digest.js';
import type { StoredMessage } from '../../standins/slack/index.js';
import { DEFAULT_YAML, startTestBot, USERS, type TestBot } from '../helpers/bot.js';

const START = '2026-03-02T08:00:00.000Z';

describe("the digest's Reviewed button", () => {
  let dir: string;
  let bot: TestBot;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-digest-'));
    bot = await startTestBot({
      clock: new ManualClock(START),
      yaml: {
        ...DEFAULT_YAML,
        service: { ...DEFAULT_YAML.service, logFile: join(dir, 'waygate.log'), database: join(dir, 'service.db') },
        backup: { dir: join(dir, 'backups'), configDir: null },
      },
    });
  });
  afterEach(async () => {
    await bot.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Posts a digest the way an operator does, and returns its message in the channel. */
  const postDigest = async (): Promise<StoredMessage> => {
    const before = bot.slack.messages('C0OPS').length;
    const res = await bot.signer.slashCommand({ text: 'digest', userId: USERS.ops, responseUrl: bot.slack.responseUrl() });
    expect(res.json.text).toContain('Building the health digest');
    await bot.settle();
    const posted = bot.slack.messages('C0OPS');
    expect(posted).toHaveLength(before + 1);
    return posted[before]!;
  };
  const current = (digest: StoredMessage) => bot.slack.messages('C0OPS').find((m) => m.ts === digest.ts)!;
  const buttonValue = (digest: StoredMessage) =>
    (digest.blocks as Array<{ elements?: Array<{ action_id?: string; value?: string }> }>)
      .flatMap((b) => b.elements ?? [])
      .find((e) => e.action_id === DIGEST_ACTIONS.reviewed)?.value;
  const click = async (digest: StoredMessage, userId: string, responseId: string, value = buttonValue(digest)) => {
    const res = await bot.signer.blockAction({
      actionId: DIGEST_ACTIONS.reviewed,
      value,
      userId,
      channelId: 'C0OPS',
      messageTs: digest.ts,
      responseUrl: bot.slack.responseUrl(responseId),
    });
    expect(res.status).toBe(200);
    await bot.settle();
    return bot.slack.responsePosts(responseId).map((p) => p.body.text);
  };
  const reviewedLine = (m: StoredMessage) => /✅ Reviewed by [^"]+/.exec(JSON.stringify(m.blocks))?.[0];

  it('records who reviewed it on the message, replacing the button, without a separate reply', async () => {
    const digest = await postDigest();
    expect(JSON.stringify(digest.blocks)).toContain(DIGEST_ACTIONS.reviewed);
    bot.clock.set(Date.parse(START) + 30 * 60_000);

    expect(await click(digest, USERS.oncall, 'rev')).toEqual([]);
    const updated = current(digest);
    expect(reviewedLine(updated)).toContain(`✅ Reviewed by <@${USERS.oncall}> <!date^`);
    expect(JSON.stringify(updated.blocks)).not.toContain(DIGEST_ACTIONS.reviewed);
    // The rest of the digest is unchanged.
    expect(updated.text).toBe(digest.text);
    expect(updated.blocks).toEqual(expect.arrayContaining((digest.blocks as unknown[]).slice(0, 7)));

    const audit = await bot.signer.slashCommand({ text: 'audit', userId: USERS.security, responseUrl: bot.slack.responseUrl() });
    expect(audit.json.text).toContain(`<@${USERS.oncall}> \`digest.reviewed\` digest #${buttonValue(digest)}`);
  });

  it('tells a second reviewer it was already reviewed, and keeps the first name', async () => {
    const digest = await postDigest();
    await click(digest, USERS.ops, 'first');
    expect(await click(digest, USERS.lead, 'second')).toEqual(['This digest was already marked reviewed.']);
    expect(reviewedLine(current(digest))).toContain(`<@${USERS.ops}>`);
    expect(reviewedLine(current(digest))).not.toContain(USERS.lead);
  });

  it.each([['without any role', USERS.nobody], ['with only the security role', USERS.security]])(
    'refuses someone %s and leaves the button for the team',
    async (_who, userId) => {
      const digest = await postDigest();
      expect(await click(digest, userId, 'denied')).toEqual(['Sorry, marking the digest reviewed needs the *ops*, *lead* or *oncall* role. Ask an admin to add your Slack user id under `roles` in the Waygate config.']);
      const unchanged = current(digest);
      expect(unchanged.blocks).toEqual(digest.blocks);
      expect(unchanged.updates).toBe(0);
      // The button still works for someone who may press it.
      await click(digest, USERS.lead, 'ok');
      expect(reviewedLine(current(digest))).toContain(`<@${USERS.lead}>`);
    },
  );

  it('lets an admin mark it reviewed', async () => {
    const digest = await postDigest();
    expect(await click(digest, USERS.admin, 'admin')).toEqual([]);
    expect(reviewedLine(current(digest))).toContain(`<@${USERS.admin}>`);
  });

  it('marks only the digest whose button was pressed', async () => {
    const first = await postDigest();
    const second = await postDigest();
    expect(buttonValue(first)).not.toBe(buttonValue(second));
    await click(second, USERS.ops, 'second');
    expect(reviewedLine(current(second))).toContain(`<@${USERS.ops}>`);
    expect(reviewedLine(current(first))).toBeUndefined();
    expect(JSON.stringify(current(first).blocks)).toContain(DIGEST_ACTIONS.reviewed);
  });

  it('says so when the digest behind the button no longer exists', async () => {
    const digest = await postDigest();
    expect(await click(digest, USERS.ops, 'gone', '999')).toEqual(['That digest no longer exists.']);
    expect(current(digest).blocks).toEqual(digest.blocks);
  });
});
