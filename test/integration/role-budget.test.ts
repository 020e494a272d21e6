import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_YAML, startTestBot, USERS, type TestBot } from '../helpers/bot.js';

// Four roles that list a Slack user group before the people listed by id: the order a team writes when the
// group is the main source and a few people are added by hand.
const GROUPS = ['S0ONCALL', 'S0LEADS', 'S0OPS', 'S0ADMINS'] as const;
const YAML = {
  ...DEFAULT_YAML,
  roles: {
    oncall: [GROUPS[0], USERS.oncall],
    lead: [GROUPS[1], USERS.lead],
    ops: [GROUPS[2], USERS.ops],
    security: [USERS.security],
    admin: [GROUPS[3], USERS.admin],
  },
};
const GROUP_MEMBER = 'U0AMY';
/** The whole role check, however many groups it has to look up. */
const ROLE_CHECK_BUDGET_MS = 1_000;

describe('role checks when Slack does not answer usergroups.users.list', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  async function start(): Promise<TestBot> {
    bot = await startTestBot({ yaml: YAML });
    for (const group of GROUPS) bot.slack.addUserGroup(group, [GROUP_MEMBER]);
    bot.slack.failNext('usergroups.users.list', { kind: 'hang' }, 100);
    return bot;
  }

  it('answers a user listed by id at once, without waiting for any group', async () => {
    const b = await start();
    // The clock never moves: an answer that needed a lookup's budget to run out would never come, and
    // Bolt would give up with its 404 after 3 s.
    const res = await b.signer.slashCommand({ text: 'ack', userId: USERS.ops, responseUrl: b.slack.responseUrl() });
    expect(res.status).toBe(200);
    expect(res.json.text).toBe('No open, unacknowledged incidents. 🎉');
  });

  it('answers a group member within one budget for all four groups, looked up side by side', async () => {
    const b = await start();
    const answer = b.signer.slashCommand({ text: 'ack', userId: GROUP_MEMBER, responseUrl: b.slack.responseUrl() });
    // All four lookups are on the wire at once, not one after another.
    await b.slack.waitFor(() => b.slack.calls('usergroups.users.list').length === GROUPS.length);
    b.clock.advance(ROLE_CHECK_BUDGET_MS);
    const res = await answer;
    expect(res.status).toBe(200);
    // Slack could not say who is in the groups, so they grant nothing this time (fail closed).
    expect(res.json.text).toContain('Sorry, `/waygate ack` needs the *oncall*, *lead* or *ops* role.');
    expect(
      b.slack
        .calls('usergroups.users.list')
        .map((c) => c.params.usergroup)
        .sort(),
    ).toEqual([...GROUPS].sort());
  });

  it('answers `/waygate help` within the same budget, though it checks every verb', async () => {
    const b = await start();
    const answer = b.signer.slashCommand({ text: 'help', userId: GROUP_MEMBER, responseUrl: b.slack.responseUrl() });
    await b.slack.waitFor(() => b.slack.calls('usergroups.users.list').length === GROUPS.length);
    b.clock.advance(ROLE_CHECK_BUDGET_MS);
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.json.text).toContain('Waygate commands you can use:');
    expect(res.json.text).toContain('`/waygate help`');
    expect(res.json.text).not.toContain('`/waygate ack');
  });
});
