import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { SOP_ACTIONS } from '../../src/sops/actions.js';
import { DEFAULT_YAML, USERS, startTestBot, type TestBot } from '../helpers/bot.js';

// Monday 2 March 2026, 10:00 in Berlin.
const START = '2026-03-02T09:00:00.000Z';
const ROUTING_KEY = 'R0123456789abcdef0123456789abcde';
const NEWBIE = 'U0NEWBIE';

type Block = { block_id?: string; elements?: Array<{ type?: string; action_id?: string; value?: string; options?: Array<{ value: string }> }> };

describe('procedures of the SOP manual, run from Slack', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  const command = (b: TestBot, text: string, userId: string) => b.signer.slashCommand({ text, userId, responseUrl: b.slack.responseUrl() });
  const runMessage = (b: TestBot, channel: string) => b.slack.messages(channel).find((m) => !m.thread_ts && / run #\d+:/.test(m.text));
  const thread = (b: TestBot, channel: string) => b.slack.messages(channel).filter((m) => m.thread_ts !== undefined && m.thread_ts === runMessage(b, channel)?.ts).map((m) => m.text);
  async function settle(b: TestBot): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await b.settle();
      await b.waygate.sops.whenIdle();
    }
  }
  /** Ticks every box of the current checklist, as `userId`, the way Slack sends the whole selection. */
  async function tickAll(b: TestBot, channel: string, userId: string): Promise<void> {
    const blocks = (runMessage(b, channel)?.blocks ?? []) as Block[];
    const group = blocks.find((bl) => bl.elements?.[0]?.type === 'checkboxes')!;
    await b.signer.blockAction({
      actionId: SOP_ACTIONS.tick,
      type: 'checkboxes',
      blockId: group.block_id!,
      selectedOptions: group.elements![0]!.options!.map((o) => o.value),
      userId,
      channelId: channel,
      messageTs: runMessage(b, channel)!.ts,
      responseUrl: b.slack.responseUrl(),
    });
    await settle(b);
  }

  it('a security incident: the six phases ticked with who and when, a P1 in PagerDuty, and the timeline as the report when it closes', async () => {
    const b = (bot = await startTestBot({ clock: new ManualClock(START), pagerDuty: true, yaml: { ...DEFAULT_YAML, service: { ...DEFAULT_YAML.service, pagerDutyRoutingKey: ROUTING_KEY } } }));
    const res = await command(b, 'security Suspicious logins from an unknown network', USERS.security);
    expect(res.json.text).toBe('Started *Security Incident Response* run #1; follow it in <#C0SEC>. A P1 was triggered in PagerDuty.');
    await settle(b);
    expect(b.pd!.events()).toEqual([expect.objectContaining({ event_action: 'trigger', payload: expect.objectContaining({ summary: 'Security incident: Suspicious logins from an unknown network', severity: 'critical' }) })]);
    expect(thread(b, 'C0SEC')).toContain(`🛡️ *Security incident* reported by <@${USERS.security}>: Suspicious logins from an unknown network`);
    for (let phase = 0; phase < 6; phase++) {
      await tickAll(b, 'C0SEC', phase % 2 === 0 ? USERS.security : USERS.lead);
      b.clock.advance(10 * 60_000);
    }
    expect(runMessage(b, 'C0SEC')?.text).toBe('Security Incident Response run #1: done');
    const report = thread(b, 'C0SEC').find((t) => t.startsWith('📄 *Report of run #1*'))!;
    expect(report).toContain(`<@${USERS.security}>: Detection: Alert received`);
    expect(report).toContain(`<@${USERS.lead}>: Containment: Isolate affected systems`);
    expect(report).toContain('Waygate: ended: done');
    const [file] = b.slack.files();
    expect(file).toMatchObject({ filename: 'security-incident-run-1.md', channel: 'C0SEC' });
    const markdown = file!.bytes.toString('utf8');
    expect(markdown).toContain('# Security Incident Response — run #1');
    expect(markdown).toContain('summary: Suspicious logins from an unknown network');
    expect(markdown).toContain(`— ${USERS.lead} — Post-Incident: Share learnings`);
  });

  it('onboarding: the weeks as checklists owned by the lead, progress listed, and the lead reminded weekly of what is unfinished', async () => {
    const b = (bot = await startTestBot({ clock: new ManualClock(START) }));
    expect((await command(b, `onboard <@${NEWBIE}|nina>`, USERS.ops)).json.text).toContain('`/waygate onboard` needs the *lead* role');
    expect((await command(b, `onboard <@${NEWBIE}|nina>`, USERS.lead)).json.text).toBe('Started *New Team Member Onboarding* run #1; follow it in <#C0OPS>.');
    await settle(b);
    expect(JSON.stringify(runMessage(b, 'C0OPS')?.blocks)).toContain(`member <@${NEWBIE}>`);
    await tickAll(b, 'C0OPS', USERS.lead);
    expect((await command(b, 'onboard', USERS.lead)).json.text).toBe(`In onboarding:\n• <@${NEWBIE}>: 4 of 11 done, now Week 2 checklist (lead <@${USERS.lead}>, run #1)`);
    await b.advanceTo(Date.parse(START) + 7 * 86_400_000 + 60_000);
    await settle(b);
    expect(b.slack.messages(USERS.lead).map((m) => m.text)).toEqual([
      '📋 Week 2 checklist is still open (4 of 4): First code review; First deployment observation; Emergency procedures training; First on-call shadow. (New Team Member Onboarding run #1)',
    ]);
  });

  it('a code review: the checklist for a reviewer to tick, with the 24 h review target reminded in the channel', async () => {
    const b = (bot = await startTestBot({ clock: new ManualClock(START) }));
    expect((await command(b, 'review not-a-link', USERS.ops)).json.text).toBe('Refused: `pr` must be an http(s) link. Nothing was started.');
    expect((await command(b, 'review <https://github.com/acme/waygate/pull/42>', USERS.ops)).json.text).toBe('Started *Code Review Process* run #1; follow it in <#C0OPS>.');
    await settle(b);
    expect(JSON.stringify(runMessage(b, 'C0OPS')?.blocks)).toContain('pr <https://github.com/acme/waygate/pull/42|https://github.com/acme/waygate/pull/42>');
    await tickAll(b, 'C0OPS', USERS.lead);
    expect(JSON.stringify(runMessage(b, 'C0OPS')?.blocks)).toContain('*Step 2 of 4* — waiting for the checklist (5 of 5 left)');
    await b.advanceTo(Date.parse(START) + 24 * 3_600_000 + 60_000);
    await settle(b);
    expect(b.slack.messages('C0OPS').map((m) => m.text)).toContain(
      '📋 Review Checklist is still open (5 of 5): Code follows style guide; Tests included and passing; Documentation updated; Security considerations addressed; Performance impact assessed. (Code Review Process run #1)',
    );
    await tickAll(b, 'C0OPS', USERS.oncall);
    expect(JSON.stringify(runMessage(b, 'C0OPS')?.blocks)).toContain('*Step 3 of 4* — waiting for the checklist (3 of 3 left)');
  });
});
