import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import type { StoredMessage } from '../../standins/slack/index.js';
import { PD_WEBHOOK_SECRET, startTestBot, USERS, type TestBot } from '../helpers/bot.js';

const START = '2026-03-02T08:00:00.000Z';
const at = (minutes: number) => Date.parse(START) + minutes * 60_000;

/** What the hostile title and names below would become in Slack, unescaped: a page, a mention, a disguised link. */
const INJECTED = /<!channel>|<!here>|<@U0VICTIM>|<https:\/\/evil/;
const HOSTILE_TITLE = 'DB down <!channel> <@U0VICTIM> <https://evil.example/login|click here> & co';
const ESCAPED_TITLE = 'DB down &lt;!channel&gt; &lt;@U0VICTIM&gt; &lt;https://evil.example/login|click here&gt; &amp; co';

describe('text from PagerDuty in Slack messages', () => {
  let bot: TestBot;
  let seq = 0;

  beforeEach(async () => {
    bot = await startTestBot({ clock: new ManualClock(START), env: { PAGERDUTY_WEBHOOK_SECRET: PD_WEBHOOK_SECRET } });
  });
  afterEach(async () => {
    await bot.stop();
  });

  const event = async (
    type: string,
    incident: { id: string; number: number; title?: string },
    agent: { id: string; summary: string } | null = { id: 'PUSER01', summary: 'Pat Pager' },
    tweak: (body: { event: { data: Record<string, unknown> } }) => void = () => undefined,
  ) => {
    const body = bot.pdSigner.incidentEvent(
      type,
      { created_at: START, priority: 'P1', ...incident },
      { eventId: `EVT${String(++seq).padStart(5, '0')}`, occurredAt: bot.clock.now().toISOString(), agent },
    ) as { event: { data: Record<string, unknown> } };
    tweak(body);
    const res = await bot.pdSigner.send(body);
    expect(res.status).toBe(200);
    await bot.settle();
  };
  const command = (text: string, userId: string) => bot.signer.slashCommand({ text, userId, responseUrl: bot.slack.responseUrl() });
  const alerts = () => bot.slack.messages('C0ALERTS');
  const alertFor = (number: number): StoredMessage | undefined => alerts().find((m) => !m.thread_ts && m.text.includes(` #${number} `));
  const blocksOf = (m: StoredMessage | undefined) => JSON.stringify(m?.blocks ?? []);

  it('escapes a PagerDuty title in the alert text that drives notifications, as it already is in the blocks', async () => {
    await event('incident.triggered', { id: 'PTXT001', number: 3001, title: HOSTILE_TITLE });
    const alert = alertFor(3001);
    expect(alert?.text).toBe(`P1 #3001 ${ESCAPED_TITLE}: triggered`);
    expect(alert?.text).not.toMatch(INJECTED);
    expect(blocksOf(alert)).toContain(ESCAPED_TITLE);
  });

  it('keeps the SLA breach message, thread notes and command replies free of mentions and links a title or name carries', async () => {
    const hostile = { id: 'PUSER66', summary: '<!here> Mallory' };
    await event('incident.triggered', { id: 'PTXT002', number: 3002, title: HOSTILE_TITLE }, hostile);
    await event('incident.reassigned', { id: 'PTXT002', number: 3002, title: HOSTILE_TITLE }, hostile, (b) => {
      b.event.data.assignees = [{ id: 'PUSER66', type: 'user_reference', summary: '<!channel>' }];
    });
    await bot.advanceTo(at(5));
    await bot.settle();
    const texts = alerts().map((m) => m.text);
    expect(texts.some((t) => t.startsWith('🚨 SLA breached'))).toBe(true);
    expect(texts.some((t) => t.startsWith('📣 Reassigned'))).toBe(true);
    for (const text of texts) expect(text).not.toMatch(INJECTED);

    const list = await command('incidents', USERS.oncall);
    expect(list.json.text).not.toMatch(INJECTED);
    expect(JSON.stringify(list.json.blocks)).toContain(ESCAPED_TITLE);
    const ack = await command('ack 3002', USERS.oncall);
    expect(ack.json.text).toContain(ESCAPED_TITLE);
    expect(ack.json.text).not.toMatch(INJECTED);
  });

  it('shows a PagerDuty user whose name looks like a Slack id as a name, never as a mention', async () => {
    const impostor = { id: 'PUSER77', summary: 'U0ADMIN' };
    await event('incident.triggered', { id: 'PTXT003', number: 3003 });
    await event('incident.acknowledged', { id: 'PTXT003', number: 3003 }, impostor);
    expect(blocksOf(alertFor(3003))).toContain('*Acknowledged* by U0ADMIN after');
    expect(blocksOf(alertFor(3003))).not.toContain('<@U0ADMIN>');

    const again = await command('ack 3003', USERS.oncall);
    expect(again.json.text).toContain('was already acknowledged by U0ADMIN.');
    expect(again.json.text).not.toContain('<@U0ADMIN>');

    await event('incident.resolved', { id: 'PTXT003', number: 3003 }, { id: 'PUSER78', summary: 'W0BOSS' });
    expect(blocksOf(alertFor(3003))).toContain('*Resolved* by W0BOSS');
    expect(blocksOf(alertFor(3003))).not.toContain('<@W0BOSS>');
  });

  it('still mentions the Slack user who acknowledged or resolved in Slack', async () => {
    await event('incident.triggered', { id: 'PTXT004', number: 3004 });
    const ack = await command('ack 3004', USERS.oncall);
    expect(ack.status).toBe(200);
    await bot.settle();
    expect(blocksOf(alertFor(3004))).toContain(`*Acknowledged* by <@${USERS.oncall}> after`);
    const again = await command('ack 3004', USERS.lead);
    expect(again.json.text).toContain(`was already acknowledged by <@${USERS.oncall}>.`);

    await command('resolve 3004', USERS.lead);
    await bot.settle();
    expect(blocksOf(alertFor(3004))).toContain(`*Resolved* by <@${USERS.lead}>`);
  });

  it('lists PagerDuty actors in the audit trail as names, and Slack users as mentions', async () => {
    await event('incident.triggered', { id: 'PTXT005', number: 3005 }, { id: 'PUSER77', summary: 'U0ADMIN' });
    await event('incident.acknowledged', { id: 'PTXT005', number: 3005 }, { id: 'PUSER66', summary: '<!channel> Mallory' });
    await command('audit', USERS.nobody); // denied: audited with the Slack user as actor
    // The denial's audit row is written just after the answer: the trail holds it once the bot settled.
    await bot.settle();
    const res = await command('audit', USERS.security);
    const text = res.json.text as string;
    expect(text).toContain('U0ADMIN `incident.opened` #3005');
    expect(text).toContain('&lt;!channel&gt; Mallory `incident.acknowledged` #3005');
    expect(text).toContain(`<@${USERS.nobody}> \`permission.denied\``);
    expect(text).not.toContain('<@U0ADMIN>');
    expect(text).not.toContain('<!channel>');
  });
});
