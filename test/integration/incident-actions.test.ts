import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { INCIDENT_ACTIONS, INCIDENT_VIEWS } from '../../src/incidents/actions.js';
import { DEFAULT_YAML, USERS, startTestBot, type TestBot } from '../helpers/bot.js';

// Monday 2 March 2026, 09:00 in Berlin.
const START = '2026-03-02T08:00:00.000Z';
const START_MS = Date.parse(START);
const ROUTING_KEY = 'R0123456789abcdef0123456789abcde';
const EMAILS = { oncall: 'olga@example.com', lead: 'lena@example.com' };
const PD_USERS = [
  { id: 'POLGA01', name: 'Olga Oncall', email: EMAILS.oncall },
  { id: 'PLENA01', name: 'Lena Lead', email: EMAILS.lead },
];
const YAML = { ...DEFAULT_YAML, oncall: { rotation: [USERS.oncall], handoff: 'mon 09:00', length: '1w', start: '2026-03-02' } };

describe('acting on incidents from Slack beyond ack and resolve', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  /** A bot wired to the PagerDuty stand-in, which sends the webhooks PagerDuty would for each change. */
  async function withPagerDuty(yaml: Record<string, unknown> = YAML): Promise<TestBot> {
    const b = (bot = await startTestBot({ clock: new ManualClock(START), yaml, pagerDuty: true }));
    b.slack.addUser({ id: USERS.oncall, name: 'olga', email: EMAILS.oncall });
    b.slack.addUser({ id: USERS.lead, name: 'lena', email: EMAILS.lead });
    b.pd!.setUsers(PD_USERS);
    b.pd!.now = () => b.clock.nowMs();
    b.pd!.sendWebhooksTo(b.pdSigner);
    return b;
  }

  /** Delivers everything, including the webhooks PagerDuty sends back, and what they cause. */
  async function settleAll(b: TestBot): Promise<void> {
    for (let i = 0; i < 5; i++) {
      await b.settle();
      await b.pd?.webhooksIdle();
      await b.waygate.inboxProcessor.whenIdle();
    }
    await b.settle();
  }

  async function openIncident(b: TestBot, incident: { id: string; number: number; priority: string; title: string }): Promise<void> {
    b.pd!.addIncident({ id: incident.id, number: incident.number, title: incident.title, priority: incident.priority });
    const res = await b.pdSigner.send(b.pdSigner.incidentEvent('incident.triggered', { ...incident, created_at: START }, { occurredAt: START }));
    expect(res.status).toBe(200);
    await settleAll(b);
  }

  const card = (b: TestBot, number: number) => b.slack.messages('C0ALERTS').find((m) => !m.thread_ts && m.text.includes(`#${number} `));
  const thread = (b: TestBot, number: number) => {
    const parent = card(b, number);
    return b.slack.messages('C0ALERTS').filter((m) => parent && m.thread_ts === parent.ts);
  };
  const command = (b: TestBot, text: string, userId: string = USERS.oncall) => b.signer.slashCommand({ text, userId, responseUrl: b.slack.responseUrl() });
  const menu = async (b: TestBot, number: number, option: string, userId: string = USERS.oncall) => {
    const message = card(b, number)!;
    return b.signer.blockAction({
      actionId: INCIDENT_ACTIONS.more,
      type: 'overflow',
      selectedOption: `${option}:${number}`,
      userId,
      channelId: 'C0ALERTS',
      messageTs: message.ts,
      responseUrl: b.slack.responseUrl(),
    });
  };
  const lastView = (b: TestBot) => b.slack.views().at(-1)!;

  it('adds a note from the card’s menu: modal, PagerDuty note as the clicker, one line in the thread that says PagerDuty has it', async () => {
    const b = await withPagerDuty();
    await openIncident(b, { id: 'PNOTE01', number: 7, priority: 'P2', title: 'Checkout errors' });

    // The card offers the menu.
    expect(JSON.stringify(card(b, 7)?.blocks)).toContain(`"action_id":"${INCIDENT_ACTIONS.more}"`);
    expect((await menu(b, 7, 'note')).status).toBe(200);
    const view = lastView(b);
    expect(view.callbackId).toBe(INCIDENT_VIEWS.note);
    expect(JSON.stringify(view.blocks)).toContain('P2 #7 Checkout errors');

    const note = "It's the DB pool: raised max connections to 40";
    const submitted = await b.signer.viewSubmission({
      userId: USERS.oncall,
      callbackId: INCIDENT_VIEWS.note,
      privateMetadata: view.privateMetadata,
      values: { note: { value: { type: 'plain_text_input', value: note } } },
    });
    expect(submitted.status).toBe(200);
    await settleAll(b);

    // PagerDuty has the note, from the person who wrote it.
    expect(b.pd!.incident('PNOTE01')?.notes).toEqual([{ id: expect.any(String), content: note, from: EMAILS.oncall }]);
    expect(b.pd!.webhookDeliveries).toContainEqual({ eventType: 'incident.annotated', incidentId: 'PNOTE01', status: 200 });
    // One line in the thread (PagerDuty's echo of it is not shown again), saying PagerDuty took it.
    const lines = thread(b, 7).filter((m) => m.text.includes('DB pool'));
    expect(lines.map((m) => m.text)).toEqual([`📝 Note from <@${USERS.oncall}>: ${note} · ✓ _in PagerDuty_`]);
    expect((await b.waygate.services.audit.recent(20)).filter((e) => e.action === 'incident.note_added').map((e) => [e.actor, e.subject])).toEqual([[USERS.oncall, '#7']]);

    // A note someone writes in PagerDuty still reaches the thread.
    await b.pdSigner.send(b.pdSigner.annotatedEvent('PNOTE01', 'Vendor confirmed the outage'));
    await settleAll(b);
    expect(thread(b, 7).map((m) => m.text)).toContainEqual(expect.stringContaining('Vendor confirmed the outage'));
  });

  it('reassigns with `/waygate reassign`: PagerDuty assigns the user with the same e-mail, the card names the person, who gets a DM', async () => {
    const b = await withPagerDuty();
    await openIncident(b, { id: 'PRASS01', number: 8, priority: 'P3', title: 'Queue backlog' });

    const res = await command(b, `reassign #8 <@${USERS.lead}|lena>`);
    expect(res.json.text).toContain(`Assigned <https://acme.pagerduty.com/incidents/PRASS01|#8 Queue backlog> to <@${USERS.lead}>`);
    await settleAll(b);

    expect(b.pd!.incident('PRASS01')?.assignees).toEqual([{ id: 'PLENA01', summary: 'Lena Lead' }]);
    const put = b.pd!.calls('/incidents/PRASS01').find((c) => c.method === 'PUT');
    expect(put?.headers.from).toBe(EMAILS.oncall);
    expect(JSON.stringify(card(b, 8)?.blocks)).toContain(`*Assigned:* <@${USERS.lead}> (PagerDuty: Lena Lead)`);
    expect(b.slack.messages(USERS.lead).map((m) => m.text)).toEqual([expect.stringContaining(`<@${USERS.oncall}> assigned P3 <https://acme.pagerduty.com/incidents/PRASS01|#8 Queue backlog> to you.`)]);
    // The thread says it once: PagerDuty's echo is not announced as a reassignment of its own.
    const texts = thread(b, 8).map((m) => m.text);
    expect(texts.filter((t) => t.includes('assigned #8'))).toEqual([`👤 <@${USERS.oncall}> assigned #8 to <@${USERS.lead}>. · ✓ _in PagerDuty_`]);
    expect(texts.filter((t) => t.includes('Reassigned in PagerDuty'))).toEqual([]);

    // Assigning to whoever is on call.
    expect((await command(b, 'reassign 8 oncall', USERS.lead)).json.text).toContain(`to <@${USERS.oncall}>`);
    await settleAll(b);
    expect(b.pd!.incident('PRASS01')?.assignees).toEqual([{ id: 'POLGA01', summary: 'Olga Oncall' }]);

    // Someone in PagerDuty reassigns it: PagerDuty's assignee is the truth, and the thread says so.
    await b.pdSigner.send(
      b.pdSigner.incidentEvent('incident.reassigned', { id: 'PRASS01', number: 8, priority: 'P3', title: 'Queue backlog', created_at: START, assignees: [{ id: 'PXYZ', summary: 'Petra Pager', type: 'user_reference', self: 'https://api.pagerduty.com/users/PXYZ', html_url: 'https://acme.pagerduty.com/users/PXYZ' }] }, { occurredAt: new Date(b.clock.nowMs()).toISOString() }),
    );
    await settleAll(b);
    expect(JSON.stringify(card(b, 8)?.blocks)).toContain('*Assigned:* Petra Pager');
    expect(thread(b, 8).map((m) => m.text)).toContainEqual('📣 Reassigned in PagerDuty; now assigned to Petra Pager.');
  });

  it('changes the priority from the menu: the SLA follows at once, PagerDuty gets its priority id, and its echo adds nothing', async () => {
    const b = await withPagerDuty();
    await openIncident(b, { id: 'PPRIO01', number: 9, priority: 'P3', title: 'Slow search' });
    // P3: an hour to acknowledge.
    expect(JSON.stringify(card(b, 9)?.blocks)).toContain(`<!date^${START_MS / 1000 + 3600}^`);

    await menu(b, 9, 'priority');
    const view = lastView(b);
    expect(view.callbackId).toBe(INCIDENT_VIEWS.priority);
    await b.signer.viewSubmission({
      userId: USERS.oncall,
      callbackId: INCIDENT_VIEWS.priority,
      privateMetadata: view.privateMetadata,
      values: { priority: { value: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: 'P1' }, value: 'P1' } } } },
    });
    await settleAll(b);

    const blocks = JSON.stringify(card(b, 9)?.blocks);
    expect(blocks).toContain('*P1*');
    expect(blocks).toContain(`<!date^${START_MS / 1000 + 300}^`); // 5 minutes from when it opened
    expect(b.pd!.incident('PPRIO01')?.priority).toBe('P1');
    expect(b.pd!.calls('/priorities')).toHaveLength(1);
    const texts = thread(b, 9).map((m) => m.text);
    expect(texts.filter((t) => t.includes('priority'))).toEqual([
      `↕️ <@${USERS.oncall}> changed the priority of #9 from P3 to P1. Acknowledge by <!date^${START_MS / 1000 + 300}^{date_short_pretty} {time}|2026-03-02 08:05 UTC>. · ✓ _in PagerDuty_`,
    ]);
    expect(texts.filter((t) => t.startsWith('Priority changed'))).toEqual([]);

    // The new deadline is what escalates: at 5 minutes, not at an hour.
    await b.advanceTo(START_MS + 5 * 60_000 + 1_000);
    await settleAll(b);
    expect(b.slack.messages('C0ALERTS').map((m) => m.text)).toContainEqual(expect.stringContaining('🚨 SLA breached: P1'));

    // A priority PagerDuty refuses stands here, and the line says PagerDuty did not take it.
    b.pd!.failNext('rest', { kind: 'http_error', status: 400 });
    await command(b, 'priority #9 P2');
    await settleAll(b);
    const refused = thread(b, 9).find((m) => m.text.includes('from P1 to P2'));
    expect(refused?.text).toContain('· ⚠️ PagerDuty did not take it (PagerDuty PUT /incidents/PPRIO01 answered HTTP 400');
    expect(JSON.stringify(card(b, 9)?.blocks)).toContain('*P2*');
    expect(b.pd!.incident('PPRIO01')?.priority).toBe('P1');
  });

  it('declares an incident through the Events API; the incident PagerDuty opens is a P1 card naming who declared it', async () => {
    const b = await withPagerDuty({ ...YAML, service: { ...YAML.service, pagerDutyRoutingKey: ROUTING_KEY } });
    const res = await command(b, "trigger P1 Checkout can't take payments");
    expect(res.json.text).toBe(`📣 Declared P1 “Checkout can't take payments” through PagerDuty. Its alert appears in <#C0ALERTS> as soon as PagerDuty opens the incident.`);
    await settleAll(b);

    const [event] = b.pd!.events() as Array<{ routing_key: string; event_action: string; dedup_key: string; payload: { summary: string; severity: string } }>;
    expect(event).toMatchObject({ routing_key: ROUTING_KEY, event_action: 'trigger', payload: { summary: "Checkout can't take payments", severity: 'critical' } });
    expect(event!.dedup_key).toMatch(/^waygate-declared:/);
    // PagerDuty filed it by urgency, without a priority; the declaration makes it a P1 with a 5-minute SLA.
    const declared = b.slack.messages('C0ALERTS').find((m) => !m.thread_ts && m.text.includes("Checkout can't take payments"));
    expect(declared?.text).toMatch(/^P1 #\d+ /);
    expect(JSON.stringify(declared?.blocks)).toContain(`"action_id":"${INCIDENT_ACTIONS.acknowledge}"`);
    expect(b.slack.messages('C0ALERTS').filter((m) => m.thread_ts === declared?.ts).map((m) => m.text)).toContainEqual(`📣 Declared from Slack by <@${USERS.oncall}>.`);
    expect((await b.waygate.services.audit.recent(20)).some((e) => e.action === 'incident.declared' && e.actor === USERS.oncall)).toBe(true);
  });

  it('without PagerDuty: declares locally, and note, reassign, priority and escalate-now work on the card with nothing sent anywhere else', async () => {
    const b = (bot = await startTestBot({ clock: new ManualClock(START), yaml: YAML }));
    const res = await command(b, 'trigger p2 "Disk full" on db-2');
    expect(res.json.text).toBe('📣 Declared P2 #9000001 "Disk full" on db-2. Its alert is in <#C0ALERTS>, with the P2 SLA and escalation.');
    await b.settle();
    expect(card(b, 9000001)?.text).toBe('P2 #9000001 "Disk full" on db-2: triggered');
    expect(thread(b, 9000001).map((m) => m.text)).toEqual([`📣 Declared from Slack by <@${USERS.oncall}>.`]);

    expect((await command(b, 'note #9000001 Cleared /var/log; 20 % free now')).json.text).toBe('📝 Added your note to #9000001 "Disk full" on db-2.');
    expect((await command(b, `reassign #9000001 <@${USERS.ops}>`)).json.text).toBe(`👤 Assigned #9000001 "Disk full" on db-2 to <@${USERS.ops}>, who has been told.`);
    expect((await command(b, 'priority #9000001 P1')).json.text).toBe('↕️ #9000001 "Disk full" on db-2 is now P1; its SLA follows the new priority.');
    expect((await command(b, 'priority #9000001 P1')).json.text).toBe('#9000001 "Disk full" on db-2 is already P1.');
    await menu(b, 9000001, 'escalate', USERS.lead);
    await b.settle();
    expect((await command(b, 'escalate #9000001', USERS.ops)).json.text).toBe('📣 Escalated #9000001 "Disk full" on db-2 to level 2; see its thread.');
    expect((await command(b, 'escalate #12')).json.text).toBe('There is no incident #12. `/waygate incidents` lists the open ones.');
    await b.settle();

    const texts = thread(b, 9000001).map((m) => m.text);
    expect(texts).toContain(`📝 Note from <@${USERS.oncall}>: Cleared /var/log; 20 % free now`);
    expect(texts).toContain(`👤 <@${USERS.oncall}> assigned #9000001 to <@${USERS.ops}>.`);
    expect(texts).toContainEqual(expect.stringContaining('↕️'));
    const escalation = thread(b, 9000001).find((m) => m.text.startsWith('📣 <@'));
    expect(escalation?.text).toContain(`📣 <@${USERS.lead}> escalated P1 #9000001 "Disk full" on db-2 now (escalation 1 of 3). <@${USERS.oncall}> please respond.`);
    expect(escalation?.reply_broadcast).toBe(true);
    const blocks = JSON.stringify(card(b, 9000001)?.blocks);
    expect(blocks).toContain(`*Assigned:* <@${USERS.ops}>`);
    expect(blocks).toContain('Escalation level 2');
    expect(b.slack.messages(USERS.oncall).map((m) => m.text)).toContainEqual(expect.stringContaining(`<@${USERS.lead}> escalated P1`));
    expect(b.slack.messages(USERS.ops).map((m) => m.text)).toContainEqual(expect.stringContaining('assigned P2 #9000001'));
    expect((await b.waygate.services.audit.recent(50)).filter((e) => e.subject === '#9000001').map((e) => e.action)).toEqual(
      expect.arrayContaining(['incident.declared', 'incident.note_added', 'incident.reassigned', 'incident.priority_changed', 'incident.escalated']),
    );
  });

  it('answers bad input with the usage line, a wrong role with the role it needs, and a resolved incident politely', async () => {
    const b = (bot = await startTestBot({ clock: new ManualClock(START), yaml: YAML }));
    expect((await command(b, 'trigger P9 something')).json.text).toBe('expected a priority P1…P5 (got "P9")\nUsage: `/waygate trigger <P1…P5> <title>`');
    expect((await command(b, 'trigger P1')).json.text).toContain('expected a priority and a title');
    expect((await command(b, 'note 12')).json.text).toContain('Usage: `/waygate note <#number> <text>`');
    expect((await command(b, 'reassign #12 bob')).json.text).toContain('Usage: `/waygate reassign <#number> <@person | oncall>`');
    expect((await command(b, 'note #12 hello')).json.text).toBe('There is no incident #12. `/waygate incidents` lists the open ones.');
    expect((await command(b, 'trigger P2 test', USERS.nobody)).json.text).toContain('needs the *oncall*, *lead* or *ops* role');

    await command(b, 'trigger P3 Flaky job');
    await b.settle();
    const res = await menu(b, 9000001, 'escalate', USERS.nobody);
    expect(res.status).toBe(200);
    await b.settle();
    expect(b.slack.responsePosts().map((p) => (p.body as { text?: string }).text)).toContainEqual(expect.stringContaining('that menu option needs the *oncall*, *lead* or *ops* role'));
    expect(JSON.stringify(card(b, 9000001)?.blocks)).not.toContain('Escalation level');

    await command(b, 'resolve 9000001');
    expect((await command(b, 'priority #9000001 P1')).json.text).toBe('#9000001 Flaky job is resolved; its priority was not changed.');
    expect((await command(b, 'reassign #9000001 oncall')).json.text).toBe('#9000001 Flaky job is resolved; it was not reassigned.');
    expect((await command(b, 'escalate #9000001')).json.text).toBe('#9000001 Flaky job is resolved; nobody was called.');
    // A note is still welcome on a resolved incident (what was found afterwards).
    expect((await command(b, 'note #9000001 Root cause: cron overlap')).json.text).toBe('📝 Added your note to #9000001 Flaky job.');
    // The menu of a card drawn before the incident was resolved does nothing, and says so.
    const late = b.slack.responseUrl('late-menu');
    await b.signer.blockAction({ actionId: INCIDENT_ACTIONS.more, type: 'overflow', selectedOption: 'note:9000001', userId: USERS.oncall, channelId: 'C0ALERTS', messageTs: card(b, 9000001)!.ts, responseUrl: late });
    await b.settle();
    expect(b.slack.responsePosts('late-menu').map((p) => (p.body as { text?: string }).text)).toEqual(['#9000001 is resolved or gone; nothing was done.']);
    // Reassigning to the same person again changes nothing.
    await command(b, 'trigger P4 Another', USERS.oncall);
    await command(b, `reassign #9000002 <@${USERS.ops}>`);
    expect((await command(b, `reassign #9000002 <@${USERS.ops}>`)).json.text).toBe(`#9000002 Another is already assigned to <@${USERS.ops}>.`);
  });
});
