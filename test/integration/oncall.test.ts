import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { DEFAULT_YAML, USERS, startTestBot, type TestBot } from '../helpers/bot.js';

// Wednesday 4 March 2026, 11:00 in Berlin: Olga's week (from Monday 2 March 09:00), Otto's from 9 March.
const START = '2026-03-04T10:00:00.000Z';
const HANDOFF = Date.parse('2026-03-09T08:00:00.000Z');
const YAML = {
  ...DEFAULT_YAML,
  oncall: { rotation: [USERS.oncall, USERS.ops], handoff: 'mon 09:00', length: '1w', start: '2026-03-02' },
};

describe('who is on call', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  const command = (b: TestBot, text: string, userId: string = USERS.nobody) => b.signer.slashCommand({ text, userId, responseUrl: b.slack.responseUrl() });
  const dms = (b: TestBot, userId: string) => b.slack.messages(userId).map((m) => m.text);
  // The open P3 keeps escalating (and messaging whoever is on call) meanwhile; these are the handoff's own.
  const handoffDms = (b: TestBot, userId: string) => dms(b, userId).filter((t) => t.startsWith('🔁'));
  const handoffNotices = (b: TestBot) => b.slack.messages('C0OPS').filter((m) => m.text.startsWith('🔁 On-call handoff'));

  it('answers from the YAML rotation, hands over at the handoff with one DM and one notice, even across a restart', async () => {
    const clock = new ManualClock(START);
    let b = (bot = await startTestBot({ clock, yaml: YAML, pagerDuty: true }));
    const { dir, slack, pd } = b;
    await b.pdSigner.send(b.pdSigner.incidentEvent('incident.triggered', { id: 'PO1', number: 501, priority: 'P3', title: 'disk filling', created_at: START }, { occurredAt: START }));
    await b.waygate.inboxProcessor.whenIdle();

    await b.settle();
    // The alert names who is on it.
    const card = b.slack.messages('C0ALERTS').find((m) => m.text.includes('#501'));
    expect(JSON.stringify(card?.blocks)).toContain(`On call: <@${USERS.oncall}>`);

    const now = await command(b, 'oncall');
    expect(now.status).toBe(200);
    expect(now.json.text).toBe(`On call now: <@${USERS.oncall}>`);
    const shown = JSON.stringify(now.json.blocks);
    expect(shown).toContain(`*Now:* <@${USERS.oncall}> until <!date^${HANDOFF / 1000}^`);
    expect(shown).toContain(`^{date_short_pretty} {time}|2026-03-09 08:00 UTC> → <@${USERS.ops}>`);
    expect(shown).toContain('Times in Europe/Berlin');

    // Restarted before the handoff: the handoff still happens once.
    await b.settle();
    await b.waygate.stop();
    b = bot = await startTestBot({ clock, yaml: YAML, dir, slack, pagerDuty: pd });
    await b.advanceTo(HANDOFF - 10 * 60_000); // settle() moves the clock over pacing gaps: stay clear of the handoff
    await b.settle();
    expect(handoffDms(b, USERS.ops)).toEqual([]);
    await b.advanceTo(HANDOFF + 60_000);
    await b.settle();
    expect(handoffDms(b, USERS.ops)).toHaveLength(1);
    expect(handoffDms(b, USERS.ops)[0]).toContain('You are on call from now until');
    expect(handoffDms(b, USERS.ops)[0]).toContain('1 open incident(s):');
    expect(handoffDms(b, USERS.ops)[0]).toContain('#501 disk filling');
    expect(handoffNotices(b).map((m) => m.text)).toEqual([
      `🔁 On-call handoff: <@${USERS.ops}> takes over from <@${USERS.oncall}> until <!date^${(HANDOFF + 7 * 86_400_000) / 1000}^{date_short_pretty} {time}|2026-03-16 08:00 UTC>.`,
    ]);

    await b.waygate.stop();
    b = bot = await startTestBot({ clock, yaml: YAML, dir, slack, pagerDuty: pd });
    await b.advanceTo(HANDOFF + 3_600_000);
    await b.settle();
    expect(handoffDms(b, USERS.ops)).toHaveLength(1);
    expect(handoffNotices(b)).toHaveLength(1);
    // Escalations of the open P3 now message the incoming person, not the one who handed over.
    const lastEscalationDm = dms(b, USERS.ops).filter((t) => t.startsWith('🚨')).at(-1);
    expect(lastEscalationDm).toContain('#501 disk filling');
    expect((await command(b, 'oncall')).json.text).toBe(`On call now: <@${USERS.ops}>`);
    expect((await b.waygate.services.audit.recent(50)).filter((e) => e.action === 'oncall.handoff')).toHaveLength(1);
    await b.stop();
    bot = undefined;
    await slack.close();
    await pd?.close();
  });

  it('lets a lead put someone on call for a while: they are mentioned and messaged when an alert escalates', async () => {
    const b = (bot = await startTestBot({ clock: new ManualClock(START), yaml: YAML, pagerDuty: true }));
    const set = await command(b, `oncall override <@${USERS.lead}|lena> 4h`, USERS.lead);
    expect(set.json.text).toContain(`✅ <@${USERS.lead}> is on call until`);
    expect((await command(b, 'oncall')).json.text).toBe(`On call now: <@${USERS.lead}>`);
    expect(JSON.stringify((await command(b, 'oncall')).json.blocks)).toContain('_(override)_');

    await b.pdSigner.send(b.pdSigner.incidentEvent('incident.triggered', { id: 'PO2', number: 502, priority: 'P1', title: 'payments down', created_at: START }, { occurredAt: START }));
    await b.waygate.inboxProcessor.whenIdle();
    await b.advanceTo(Date.parse(START) + 5 * 60_000);
    await b.settle();
    const breach = b.slack.messages('C0ALERTS').find((m) => m.text.startsWith('🚨 SLA breached'));
    expect(breach?.text).toContain(`<@${USERS.lead}> please respond`);
    expect(breach?.text).not.toContain(`<@${USERS.oncall}>`);
    expect(dms(b, USERS.lead).some((t) => t.includes('#502 payments down') && t.includes('escalation 1 of 3'))).toBe(true);

    // Four hours on, the rotation is back.
    await b.advanceTo(Date.parse(START) + 4 * 3_600_000 + 1);
    expect((await command(b, 'oncall')).json.text).toBe(`On call now: <@${USERS.oncall}>`);
  });

  it('refuses an override from someone without the role, naming it, and a malformed one with the usage', async () => {
    const b = (bot = await startTestBot({ clock: new ManualClock(START), yaml: YAML }));
    const denied = await command(b, `oncall override <@${USERS.nobody}> 4h`, USERS.nobody);
    expect(denied.json.text).toBe(
      'Sorry, `/waygate oncall override` needs the *lead* or *oncall* role. Ask an admin to add your Slack user id under `roles` in the Waygate config.',
    );
    expect((await command(b, 'oncall')).json.text).toBe(`On call now: <@${USERS.oncall}>`);
    const bad = await command(b, 'oncall override lena forever', USERS.lead);
    expect(bad.json.text).toContain('/waygate oncall [override @person <duration>]');
  });

  it('without a rotation says who holds the oncall role and how to set one up', async () => {
    const b = (bot = await startTestBot({ clock: new ManualClock(START) }));
    const res = await command(b, 'oncall');
    expect(res.json.text).toBe(
      `No on-call rotation is configured; the \`oncall\` role is <@${USERS.oncall}>. Add \`oncall: {rotation, handoff, length}\` to the Waygate config to have one person on call at a time.`,
    );
  });

  it('answers from PagerDuty when its API key is set, matching people to Slack by e-mail, and mentions that person when escalating', async () => {
    const b = (bot = await startTestBot({
      clock: new ManualClock(START),
      pagerDuty: true,
      yaml: { ...DEFAULT_YAML, oncall: { escalationPolicies: ['PPOL1'] } },
    }));
    const day = 86_400_000;
    const at = (ms: number) => new Date(Date.parse(START) + ms).toISOString();
    const policy = { id: 'PPOL1', name: 'Payments primary' };
    b.pd!.setOncalls([
      { user: { id: 'PUPAT', name: 'Pat Pager', email: 'Pat@Example.com' }, escalationPolicy: policy, schedule: { id: 'PSCH1', name: 'Weekly' }, level: 1, start: at(-day), end: at(3 * day) },
      { user: { id: 'PUQUI', name: 'Quinn Quill', email: 'quinn@example.com' }, escalationPolicy: policy, schedule: { id: 'PSCH1', name: 'Weekly' }, level: 1, start: at(3 * day), end: at(10 * day) },
      { user: { id: 'PULEN', name: 'Lena Lead', email: 'lena@example.com' }, escalationPolicy: policy, schedule: null, level: 2, start: null, end: null },
      { user: { id: 'PUOTH', name: 'Other Team', email: 'other@example.com' }, escalationPolicy: { id: 'PPOL9', name: 'Other' }, schedule: null, level: 1, start: null, end: null },
    ]);
    b.slack.addUser({ id: USERS.oncall, name: 'pat', email: 'pat@example.com' });
    b.slack.addUser({ id: USERS.lead, name: 'lena', email: 'lena@example.com' });
    await b.waygate.services.oncall.pagerDuty!.refresh();

    const res = await command(b, 'oncall');
    expect(res.json.text).toBe(`On call now: <@${USERS.oncall}>`);
    const shown = JSON.stringify(res.json.blocks);
    expect(shown).toContain(`*Now:* <@${USERS.oncall}> · Payments primary until <!date^${Date.parse(at(3 * day)) / 1000}^`);
    expect(shown).toContain('→ Quinn Quill _(no Slack account with their PagerDuty e-mail)_ · Payments primary');
    expect(shown).not.toContain('Other Team');
    expect(shown).not.toContain('Lena Lead'); // the second level is not "on call"
    const asked = b.pd!.calls('oncalls');
    expect(asked.length).toBeGreaterThanOrEqual(1);
    const query = new URLSearchParams(asked.at(-1)!.search);
    expect(query.getAll('include[]')).toEqual(['users']);
    expect(query.getAll('escalation_policy_ids[]')).toEqual(['PPOL1']);
    expect([...new Set(b.slack.calls('users.lookupByEmail').map((c) => c.params.email))].sort()).toEqual(['lena@example.com', 'pat@example.com', 'quinn@example.com']);

    await b.pdSigner.send(b.pdSigner.incidentEvent('incident.triggered', { id: 'PO3', number: 503, priority: 'P1', title: 'checkout down', created_at: START }, { occurredAt: START }));
    await b.waygate.inboxProcessor.whenIdle();
    await b.advanceTo(Date.parse(START) + 5 * 60_000);
    await b.settle();
    const breach = b.slack.messages('C0ALERTS').find((m) => m.text.startsWith('🚨 SLA breached'));
    expect(breach?.text).toContain(`<@${USERS.oncall}> please respond`);
    expect(dms(b, USERS.oncall).some((t) => t.includes('#503 checkout down'))).toBe(true);
  });

  it('keeps climbing the escalation ladder across a restart between steps, without repeating a step', async () => {
    const clock = new ManualClock(START);
    let b = (bot = await startTestBot({ clock, yaml: YAML, pagerDuty: true }));
    const { dir, slack, pd } = b;
    await b.pdSigner.send(b.pdSigner.incidentEvent('incident.triggered', { id: 'PR1', number: 601, priority: 'P1', title: 'queue stuck', created_at: START }, { occurredAt: START }));
    await b.waygate.inboxProcessor.whenIdle();
    await b.advanceTo(Date.parse(START) + 5 * 60_000);
    await b.settle();
    const steps = () => slack.messages('C0ALERTS').filter((m) => m.thread_ts === undefined && m.text.startsWith('🚨') && m.text.includes('#601'));
    expect(steps()).toHaveLength(1);
    expect(steps()[0]?.text).not.toContain(`<@${USERS.lead}>`);

    await b.waygate.stop();
    b = bot = await startTestBot({ clock, yaml: YAML, dir, slack, pagerDuty: pd });
    await b.advanceTo(Date.parse(START) + 10 * 60_000);
    await b.settle();
    expect(steps()).toHaveLength(2);
    expect(steps()[1]?.text).toContain('escalation 2 of 3');
    expect(steps()[1]?.text).toContain(`<@${USERS.oncall}> <@${USERS.lead}>`);
    expect(steps()[1]?.text).not.toContain('noticed late');
    await b.stop();
    bot = undefined;
    await slack.close();
    await pd?.close();
  });
});
