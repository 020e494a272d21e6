import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { startTestBot, USERS, type TestBot } from '../helpers/bot.js';

const START = '2026-03-02T08:00:00.000Z';

describe('the audit trail, seen from Slack', () => {
  let bot: TestBot;
  beforeEach(async () => {
    bot = await startTestBot({ clock: new ManualClock(START) });
  });
  afterEach(async () => {
    await bot.stop();
  });

  const command = (text: string, userId: string = USERS.security) => bot.signer.slashCommand({ text, userId, responseUrl: bot.slack.responseUrl() });
  const db = () => bot.waygate.services.db;

  /** Three denials a minute apart: three audit rows whose time tells them apart. */
  const recordThree = async () => {
    for (let i = 0; i < 3; i++) {
      await command('audit', USERS.nobody);
      bot.clock.advance(60_000);
    }
  };

  it('verify names the row whose content was edited: its id, action and when it was recorded', async () => {
    await recordThree();
    db().prepare('UPDATE audit_log SET details = ? WHERE id = 2').run(JSON.stringify({ forged: true }));
    const res = await command('audit verify');
    const at = Math.floor((Date.parse(START) + 60_000) / 1000);
    expect(res.json.text).toBe(
      `❌ Audit trail broken at entry #2 (\`permission.denied\` by U0NOBODY, recorded <!date^${at}^{date_short_pretty} {time}|2026-03-02 08:01 UTC>, subject command.audit): content does not match hash. Treat this as a security incident.`,
    );
  });

  it('verify names an edited actor as plain text, so a forged user id pings nobody', async () => {
    await recordThree();
    db().prepare('UPDATE audit_log SET actor = ? WHERE id = 3').run(USERS.admin);
    const res = await command('audit verify');
    expect(res.json.text).toContain(`broken at entry #3 (\`permission.denied\` by ${USERS.admin}, recorded <!date^`);
    expect(res.json.text).not.toContain(`<@${USERS.admin}>`);
  });

  it('verify says which entries are missing when the newest were deleted', async () => {
    await recordThree();
    db().prepare('DELETE FROM audit_log WHERE id = 3').run();
    const res = await command('audit verify');
    expect(res.json.text).toBe('❌ Audit trail broken at entry #3: entries after #2 are missing (the id counter is at #3). Treat this as a security incident.');
  });
});
