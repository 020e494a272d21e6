import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { INCIDENT_ACTIONS } from '../../src/incidents/actions.js';
import type { StoredMessage } from '../../standins/slack/index.js';
import { startTestBot, USERS, type TestBot } from '../helpers/bot.js';

const START = '2026-03-02T08:00:00.000Z'; // Monday 09:00 in Berlin
const at = (minutes: number) => Date.parse(START) + minutes * 60_000;
const iso = (minutes: number) => new Date(at(minutes)).toISOString();
/** How an instant appears in a Slack message: `<!date^unix^…>`. */
const slackDate = (ms: number) => `<!date^${ms / 1000}^`;

const PAT = { id: 'PUSER01', summary: 'Pat Pager' };
const user = (id: string, summary?: string) => ({ id, type: 'user_reference', ...(summary ? { summary } : {}) });

interface Incident {
  id: string;
  number: number;
  title?: string;
  priority?: string | null;
  assignees?: Array<{ id: string; type: string; summary?: string }>;
}

describe('PagerDuty events on an incident the bot already shows', () => {
  let bot: TestBot;
  let seq = 0;

  beforeEach(async () => {
    bot = await startTestBot({ clock: new ManualClock(START), pagerDuty: true });
  });
  afterEach(async () => {
    await bot.stop();
  });

  /**
   * Sends a signed event as PagerDuty would and waits until it is applied and its messages delivered.
   * `occurredAt` defaults to the bot's current time; the incident was created at START unless said otherwise.
   */
  const event = async (type: string, incident: Incident, opts: { occurredAt?: string; agent?: { id: string; summary: string } | null } = {}) => {
    const occurredAt = opts.occurredAt ?? bot.clock.now().toISOString();
    const res = await bot.pdSigner.send(
      bot.pdSigner.incidentEvent(
        type,
        { title: `Incident #${incident.number}`, created_at: START, ...incident, priority: incident.priority === undefined ? 'P1' : incident.priority },
        { eventId: `EVE${String(++seq).padStart(5, '0')}`, occurredAt, agent: opts.agent === undefined ? PAT : opts.agent },
      ),
    );
    expect(res.status).toBe(200);
    expect(res.json.status).toBe('accepted');
    await bot.waygate.inboxProcessor.whenIdle();
    await bot.settle();
  };
  const note = async (incidentId: string, content: string, agent: { id: string; summary: string } | null = PAT) => {
    const res = await bot.pdSigner.send(bot.pdSigner.annotatedEvent(incidentId, content, { eventId: `EVN${String(++seq).padStart(5, '0')}`, occurredAt: bot.clock.now().toISOString(), agent }));
    expect(res.status).toBe(200);
    await bot.waygate.inboxProcessor.whenIdle();
    await bot.settle();
  };
  /** Lets the SLA timer fire everything due by `ms`, and delivers what it posts. */
  const until = async (ms: number) => {
    await bot.advanceTo(ms);
    await bot.settle();
  };

  const channel = () => bot.slack.messages('C0ALERTS');
  const alertFor = (number: number) => channel().find((m) => !m.thread_ts && m.text.startsWith('P') && m.text.includes(` #${number} `));
  const thread = (number: number) => {
    const alert = alertFor(number);
    return alert ? channel().filter((m) => m.thread_ts === alert.ts).map((m) => m.text) : [];
  };
  const blocksOf = (m: StoredMessage | undefined) => JSON.stringify(m?.blocks);
  const actionIds = (m: StoredMessage | undefined) => (blocksOf(m).match(/"action_id":"[^"]+"/g) ?? []).map((a) => a.slice('"action_id":"'.length, -1));
  const breaches = () => channel().filter((m) => m.text.startsWith('🚨 SLA breached'));
  // The reminder's mention of the on-call is checked in pagerduty.test.ts; here only when and what.
  const reminders = (number: number) =>
    thread(number)
      .filter((t) => t.includes('Still unacknowledged'))
      .map((t) => t.replace(/<@\w+> /g, ''));

  describe('incident.reopened', () => {
    it('reopens a resolved incident: thread note, buttons back, and a fresh SLA window from the reopening', async () => {
      const incident = { id: 'PRO0001', number: 1101, title: 'checkout errors' };
      await event('incident.triggered', incident);
      bot.clock.set(at(2));
      await event('incident.resolved', incident);
      expect(alertFor(1101)?.text).toBe('P1 #1101 checkout errors: resolved');

      bot.clock.set(at(10));
      await event('incident.reopened', incident);
      expect(thread(1101)).toEqual(['🔁 Reopened in PagerDuty by Pat Pager.']);
      const alert = alertFor(1101);
      expect(alert?.text).toBe('P1 #1101 checkout errors: triggered');
      expect(blocksOf(alert)).toContain(`⏳ *Unacknowledged* — acknowledge by ${slackDate(at(15))}`);
      expect(actionIds(alert)).toEqual([INCIDENT_ACTIONS.acknowledge, INCIDENT_ACTIONS.resolve, INCIDENT_ACTIONS.openInPagerDuty, INCIDENT_ACTIONS.more]);

      // The clock runs from the reopening: reminder at 80 % of 5 minutes, escalation at the new deadline.
      await until(at(13));
      expect(reminders(1101)).toEqual([]);
      await until(at(14));
      expect(reminders(1101)).toEqual(['⏰ Still unacknowledged: 1 min left to acknowledge P1 #1101 within the SLA.']);
      expect(breaches()).toEqual([]);
      await until(at(15));
      expect(breaches()).toHaveLength(1);
      expect(breaches()[0]?.text).toContain('#1101 checkout errors');
      expect(blocksOf(alertFor(1101))).toContain('SLA breached');
    });

    it('names PagerDuty itself when the reopening has no agent, and escapes a name that looks like markup', async () => {
      await event('incident.triggered', { id: 'PRO0002', number: 1102 });
      await event('incident.resolved', { id: 'PRO0002', number: 1102 });
      await event('incident.reopened', { id: 'PRO0002', number: 1102 }, { agent: null });
      await event('incident.resolved', { id: 'PRO0002', number: 1102 });
      await event('incident.reopened', { id: 'PRO0002', number: 1102 }, { agent: { id: 'PUSER02', summary: 'Sam <ops> & co' } });
      expect(thread(1102)).toEqual(['🔁 Reopened in PagerDuty by PagerDuty.', '🔁 Reopened in PagerDuty by Sam &lt;ops&gt; &amp; co.']);
      expect(alertFor(1102)?.text).toBe('P1 #1102 Incident #1102: triggered');
    });

    it('says nothing for an incident that is still open', async () => {
      await event('incident.triggered', { id: 'PRO0003', number: 1103 });
      bot.clock.set(at(1));
      await event('incident.reopened', { id: 'PRO0003', number: 1103 });
      expect(thread(1103)).toEqual([]);
      // The original window stands.
      expect(blocksOf(alertFor(1103))).toContain(`acknowledge by ${slackDate(at(5))}`);
    });
  });

  describe('incident.unacknowledged', () => {
    it('puts an acknowledged incident back to triggered with a thread note and a fresh SLA window', async () => {
      const incident = { id: 'PUN0001', number: 1201, title: 'replication lag' };
      await event('incident.triggered', incident);
      bot.clock.set(at(2));
      await event('incident.acknowledged', incident);
      expect(blocksOf(alertFor(1201))).toContain('✅ *Acknowledged* by Pat Pager after 2 min (within SLA)');
      expect(actionIds(alertFor(1201))).not.toContain(INCIDENT_ACTIONS.acknowledge);

      bot.clock.set(at(20));
      await event('incident.unacknowledged', incident, { agent: null });
      expect(thread(1201)).toEqual(['↩️ The acknowledgement expired in PagerDuty; the SLA clock starts again.']);
      const alert = alertFor(1201);
      expect(alert?.text).toBe('P1 #1201 replication lag: triggered');
      expect(blocksOf(alert)).toContain(`⏳ *Unacknowledged* — acknowledge by ${slackDate(at(25))}`);
      expect(blocksOf(alert)).not.toContain('Acknowledged* by');
      expect(actionIds(alert)).toContain(INCIDENT_ACTIONS.acknowledge);

      await until(at(24));
      expect(reminders(1201)).toEqual(['⏰ Still unacknowledged: 1 min left to acknowledge P1 #1201 within the SLA.']);
      await until(at(25));
      expect(breaches().map((m) => m.text)).toEqual([expect.stringContaining('#1201 replication lag')]);
    });

    it('can be acknowledged again from Slack afterwards, measured against the original creation', async () => {
      bot.slack.addUser({ id: USERS.oncall, name: 'olga', email: 'olga@example.com' });
      bot.pd!.addIncident({ id: 'PUN0002', number: 1202, status: 'triggered', title: 't' });
      await event('incident.triggered', { id: 'PUN0002', number: 1202 });
      bot.clock.set(at(1));
      await event('incident.acknowledged', { id: 'PUN0002', number: 1202 });
      bot.clock.set(at(10));
      await event('incident.unacknowledged', { id: 'PUN0002', number: 1202 });
      bot.clock.set(at(11));
      const res = await bot.signer.slashCommand({ text: 'ack 1202', userId: USERS.oncall, responseUrl: bot.slack.responseUrl() });
      expect(res.json.text).toContain('✅ Acknowledged P1');
      await bot.settle();
      expect(bot.pd!.incident('PUN0002')?.status).toBe('acknowledged');
      expect(blocksOf(alertFor(1202))).toContain(`✅ *Acknowledged* by <@${USERS.oncall}>`);
      await until(at(30));
      expect(breaches()).toEqual([]);
    });

    it('says nothing for an incident that was never acknowledged', async () => {
      await event('incident.triggered', { id: 'PUN0003', number: 1203 });
      bot.clock.set(at(1));
      await event('incident.unacknowledged', { id: 'PUN0003', number: 1203 });
      expect(thread(1203)).toEqual([]);
      expect(blocksOf(alertFor(1203))).toContain(`acknowledge by ${slackDate(at(5))}`);
    });
  });

  describe('incident.annotated', () => {
    it('posts the note in the alert thread, escaped, naming who wrote it', async () => {
      await event('incident.triggered', { id: 'PAN0001', number: 1301 });
      await note('PAN0001', 'Rolled back <deploy 42> & restarted *api*; see <!channel>');
      await note('PAN0001', 'automated note', null);
      expect(thread(1301)).toEqual([
        '📝 Note from Pat Pager: Rolled back &lt;deploy 42&gt; &amp; restarted *api*; see &lt;!channel&gt;',
        '📝 Note from PagerDuty: automated note',
      ]);
      // A note changes nothing about the incident itself.
      expect(alertFor(1301)?.text).toBe('P1 #1301 Incident #1301: triggered');
    });

    it('shortens a very long note', async () => {
      await event('incident.triggered', { id: 'PAN0002', number: 1302 });
      await note('PAN0002', 'x'.repeat(5000));
      const [posted] = thread(1302);
      expect(posted?.startsWith('📝 Note from Pat Pager: xxx')).toBe(true);
      expect(posted?.endsWith('x…')).toBe(true);
      expect(posted!.length).toBeLessThan(2600);
    });

    it('accepts a note that references its incident as trigger_object', async () => {
      await event('incident.triggered', { id: 'PAN0003', number: 1303 });
      const body = bot.pdSigner.annotatedEvent('PAN0003', 'via trigger_object', { occurredAt: bot.clock.now().toISOString(), agent: PAT }) as { event: { data: Record<string, unknown> } };
      body.event.data.trigger_object = body.event.data.incident;
      delete body.event.data.incident;
      expect((await bot.pdSigner.send(body)).status).toBe(200);
      await bot.waygate.inboxProcessor.whenIdle();
      await bot.settle();
      expect(thread(1303)).toEqual(['📝 Note from Pat Pager: via trigger_object']);
    });

    it('accepts but posts nothing for a note on an incident the bot does not know', async () => {
      await event('incident.triggered', { id: 'PAN0004', number: 1304 });
      await note('PUNKNOWN', 'about something else');
      expect(channel().map((m) => m.text)).toEqual(['P1 #1304 Incident #1304: triggered']);
    });

    it('refuses with 400 a note that references no incident', async () => {
      const body = bot.pdSigner.annotatedEvent('PAN0005', 'orphan', { occurredAt: bot.clock.now().toISOString() }) as { event: { data: Record<string, unknown> } };
      delete body.event.data.incident;
      const res = await bot.pdSigner.send(body);
      expect(res.status).toBe(400);
      expect(res.json.error).toContain('event.data');
      expect(res.json.error).toContain('must reference its incident');
    });
  });

  describe.each([
    ['incident.reassigned', 'Reassigned'],
    ['incident.escalated', 'Escalated'],
    ['incident.delegated', 'Delegated'],
  ])('%s', (type, verb) => {
    it('notes in the thread who it is assigned to now, and shows them on the alert', async () => {
      await event('incident.triggered', { id: 'PAS0001', number: 1401, assignees: [user('PFIRST', 'First Responder')] });
      expect(blocksOf(alertFor(1401))).toContain('*Assigned:* First Responder');
      bot.clock.set(at(1));
      await event(type, { id: 'PAS0001', number: 1401, assignees: [user('PALICE', 'Alice <A>'), user('PBOB')] });
      expect(thread(1401)).toEqual([`📣 ${verb} in PagerDuty; now assigned to Alice &lt;A&gt;, PBOB.`]);
      const alert = alertFor(1401);
      expect(blocksOf(alert)).toContain('*Assigned:* Alice &lt;A&gt;, PBOB');
      // Still unacknowledged, on the original deadline.
      expect(alert?.text).toBe('P1 #1401 Incident #1401: triggered');
      expect(blocksOf(alert)).toContain(`acknowledge by ${slackDate(at(5))}`);
    });

    it('says "nobody" when no one is assigned', async () => {
      await event('incident.triggered', { id: 'PAS0002', number: 1402 });
      await event(type, { id: 'PAS0002', number: 1402, assignees: [] });
      expect(thread(1402)).toEqual([`📣 ${verb} in PagerDuty; now assigned to nobody.`]);
      expect(blocksOf(alertFor(1402))).toContain('*Assigned:* _nobody_');
    });
  });

  describe('incident.priority_updated', () => {
    it('notes the change in the thread and moves the deadline, reminder and escalation to the new priority', async () => {
      await event('incident.triggered', { id: 'PPU0001', number: 1501, title: 'slow search', priority: 'P3' });
      expect(blocksOf(alertFor(1501))).toContain(`acknowledge by ${slackDate(at(60))}`);
      bot.clock.set(at(5));
      await event('incident.priority_updated', { id: 'PPU0001', number: 1501, title: 'slow search', priority: 'P2' });
      expect(thread(1501)).toEqual(['Priority changed from P3 to P2; acknowledge by the new deadline.']);
      const alert = alertFor(1501);
      expect(alert?.text).toBe('P2 #1501 slow search: triggered');
      expect(blocksOf(alert)).toContain('🟠 *P2*');
      // P2 is 15 minutes from when the incident was opened, not from the change.
      expect(blocksOf(alert)).toContain(`acknowledge by ${slackDate(at(15))}`);

      await until(at(12));
      expect(reminders(1501)).toEqual(['⏰ Still unacknowledged: 3 min left to acknowledge P2 #1501 within the SLA.']);
      await until(at(15));
      expect(breaches()).toHaveLength(1);
      expect(breaches()[0]?.text).toContain('🚨 SLA breached: P2 ');
      expect(breaches()[0]?.text).toContain('#1501 slow search');
      expect(breaches()[0]?.text).toContain('was not acknowledged within 15 min');
    });

    it('escalates at once when the new, shorter window has already run out', async () => {
      await event('incident.triggered', { id: 'PPU0002', number: 1502, priority: 'P3' });
      bot.clock.set(at(10));
      await event('incident.priority_updated', { id: 'PPU0002', number: 1502, priority: 'P1' });
      await until(bot.clock.nowMs());
      expect(thread(1502)).toEqual(['Priority changed from P3 to P1; acknowledge by the new deadline.']);
      expect(breaches()).toHaveLength(1);
      expect(breaches()[0]?.text).toContain('🚨 SLA breached: P1 ');
      expect(breaches()[0]?.text).toContain('#1502 ');
    });

    it('changes the priority shown without a note when the incident is already acknowledged or the priority is the same', async () => {
      await event('incident.triggered', { id: 'PPU0003', number: 1503, priority: 'P2' });
      bot.clock.set(at(1));
      await event('incident.priority_updated', { id: 'PPU0003', number: 1503, priority: 'P2' });
      expect(thread(1503)).toEqual([]);
      await event('incident.acknowledged', { id: 'PPU0003', number: 1503, priority: 'P2' });
      await event('incident.priority_updated', { id: 'PPU0003', number: 1503, priority: 'P1' });
      expect(thread(1503)).toEqual([]);
      expect(alertFor(1503)?.text).toBe('P1 #1503 Incident #1503: acknowledged');
      await until(at(30));
      expect(breaches()).toEqual([]);
    });
  });

  describe('events delivered out of order', () => {
    it('an event older than the last one applied changes nothing: no note, same status, same assignees and title', async () => {
      const incident = { id: 'PST0001', number: 1601, title: 'memory leak', assignees: [user('PFIRST', 'First Responder')] };
      await event('incident.triggered', incident, { occurredAt: iso(0) });
      bot.clock.set(at(3));
      await event('incident.acknowledged', incident, { occurredAt: iso(3) });
      const before = alertFor(1601);
      expect(blocksOf(before)).toContain('✅ *Acknowledged* by Pat Pager after 3 min (within SLA)');

      bot.clock.set(at(4));
      const late = { ...incident, title: 'an older title', assignees: [user('POLD', 'Old Assignee')] };
      await event('incident.unacknowledged', late, { occurredAt: iso(2) });
      await event('incident.reassigned', late, { occurredAt: iso(2) });
      await event('incident.priority_updated', { ...late, priority: 'P3' }, { occurredAt: iso(1) });
      await event('incident.resolved', late, { occurredAt: iso(2) });

      expect(thread(1601)).toEqual([]);
      const after = alertFor(1601);
      expect(after?.text).toBe('P1 #1601 memory leak: acknowledged');
      expect(after?.blocks).toEqual(before?.blocks);
      await until(at(30));
      expect(breaches()).toEqual([]);
      expect(thread(1601)).toEqual([]);
    });

    it('when the first event heard of is an acknowledgement, the alert is posted as acknowledged, with no SLA timers', async () => {
      bot.clock.set(at(2));
      await event('incident.acknowledged', { id: 'PST0003', number: 1603, title: 'trigger lost' }, { occurredAt: iso(2) });
      const alert = alertFor(1603);
      expect(alert?.text).toBe('P1 #1603 trigger lost: acknowledged');
      expect(blocksOf(alert)).toContain('✅ *Acknowledged* by Pat Pager after 2 min (within SLA)');
      expect(actionIds(alert)).toEqual([INCIDENT_ACTIONS.resolve, INCIDENT_ACTIONS.openInPagerDuty, INCIDENT_ACTIONS.more]);
      await until(at(30));
      expect(channel()).toHaveLength(1);
    });

    it('when the first event heard of is the resolve, nothing is posted, and the late trigger after it is ignored', async () => {
      bot.clock.set(at(3));
      await event('incident.resolved', { id: 'PST0004', number: 1604, title: 'already over' }, { occurredAt: iso(3) });
      await event('incident.triggered', { id: 'PST0004', number: 1604, title: 'already over' }, { occurredAt: iso(0) });
      expect(channel()).toEqual([]);
      const res = await bot.signer.slashCommand({ text: 'resolve 1604', userId: USERS.oncall, responseUrl: bot.slack.responseUrl() });
      expect(res.json.text).toContain('is already resolved.');
      await until(at(30));
      expect(channel()).toEqual([]);
    });

    it('an event at the same instant as the last one is still applied', async () => {
      const incident = { id: 'PST0002', number: 1602 };
      await event('incident.triggered', incident, { occurredAt: iso(0) });
      await event('incident.resolved', incident, { occurredAt: iso(0) });
      expect(alertFor(1602)?.text).toBe('P1 #1602 Incident #1602: resolved');
    });
  });

  describe('PagerDuty events after a change made in Slack', () => {
    const slash = (text: string) => bot.signer.slashCommand({ text, userId: USERS.oncall, responseUrl: bot.slack.responseUrl() });

    it('a resolve PagerDuty stamps one second before the Slack acknowledgement still resolves the incident', async () => {
      const incident = { id: 'PSK0001', number: 1651, title: 'flapping disk check' };
      bot.pd!.addIncident({ id: incident.id, number: incident.number, status: 'triggered', title: incident.title });
      await event('incident.triggered', incident, { occurredAt: iso(0) });

      bot.clock.set(at(3));
      expect((await slash('ack 1651')).json.text).toContain('✅ Acknowledged P1');
      await bot.settle();
      // PagerDuty resolved it (an auto-resolve) a second before the click reached it.
      await event('incident.resolved', incident, { occurredAt: new Date(at(3) - 1_000).toISOString(), agent: null });

      const alert = alertFor(1651);
      expect(alert?.text).toBe('P1 #1651 flapping disk check: resolved');
      expect(actionIds(alert)).toEqual([INCIDENT_ACTIONS.openInPagerDuty]);
      expect((await slash('resolve 1651')).json.text).toContain('is already resolved.');
      expect((await slash('incidents')).json.text).toBe('No open incidents. 🎉');
    });

    it('an acknowledgement PagerDuty refuses because it resolved the incident first leaves no warning behind', async () => {
      const incident = { id: 'PSK0005', number: 1655, title: 'flapping ping check' };
      await event('incident.triggered', incident, { occurredAt: iso(0) });
      // PagerDuty resolves it at minute 3; its webhook is still on the way when the click comes.
      bot.pd!.addIncident({ id: incident.id, number: incident.number, status: 'resolved', title: incident.title });
      bot.pd!.failNext('rest', { kind: 'http_error', status: 503 });
      bot.clock.set(at(3));
      const responseUrl = bot.slack.responseUrl('late-ack');
      expect((await bot.signer.slashCommand({ text: 'ack 1655', userId: USERS.oncall, responseUrl })).json.text).toContain('✅ Acknowledged P1');
      await bot.slack.waitFor(() => bot.pd!.calls('rest').length === 1 && !bot.waygate.dispatcher.busy());
      await event('incident.resolved', incident, { occurredAt: new Date(at(3) - 1_000).toISOString(), agent: null });

      const alert = alertFor(1655);
      expect(alert?.text).toBe('P1 #1655 flapping ping check: resolved');
      expect(blocksOf(alert)).not.toContain('PagerDuty did not accept');
      expect(blocksOf(alert)).not.toContain('Syncing');
      expect(bot.slack.responsePosts('late-ack').map((p) => p.body.text)).toEqual([
        expect.stringContaining('PagerDuty did not take the acknowledgement of #1655 yet'),
        '#1655 was resolved in PagerDuty before the acknowledgement reached it; it shows as resolved here too.',
      ]);
    });

    it('with the bot’s clock minutes ahead of PagerDuty, a reopening after a Slack resolve gets its alert back, a reminder and an escalation', async () => {
      // The bot's clock runs two minutes ahead: PagerDuty's minute m is the bot's minute m + 2.
      const skew = 2;
      const incident = { id: 'PSK0002', number: 1652, title: 'payments timing out' };
      bot.pd!.addIncident({ id: incident.id, number: incident.number, status: 'triggered', title: incident.title });
      bot.clock.set(at(0 + skew));
      await event('incident.triggered', incident, { occurredAt: iso(0) });

      bot.clock.set(at(1 + skew));
      expect((await slash('resolve 1652')).json.text).toContain('☑️ Resolved P1');
      await bot.settle();
      expect(bot.pd!.incident(incident.id)?.status).toBe('resolved');
      // PagerDuty's own record of that resolve, then a real reopening a minute later (PagerDuty's time).
      await event('incident.resolved', incident, { occurredAt: new Date(at(1) + 500).toISOString() });
      bot.clock.set(at(2 + skew));
      await event('incident.reopened', incident, { occurredAt: iso(2) });

      expect(thread(1652)).toEqual(['🔁 Reopened in PagerDuty by Pat Pager.']);
      const alert = alertFor(1652);
      expect(alert?.text).toBe('P1 #1652 payments timing out: triggered');
      expect(actionIds(alert)).toEqual([INCIDENT_ACTIONS.acknowledge, INCIDENT_ACTIONS.resolve, INCIDENT_ACTIONS.openInPagerDuty, INCIDENT_ACTIONS.more]);
      // The window runs five minutes from the reopening, as PagerDuty stamped it.
      expect(blocksOf(alert)).toContain(`acknowledge by ${slackDate(at(7))}`);
      await until(at(6));
      expect(reminders(1652)).toEqual(['⏰ Still unacknowledged: 1 min left to acknowledge P1 #1652 within the SLA.']);
      expect(breaches()).toEqual([]);
      await until(at(7));
      expect(breaches().map((m) => m.text)).toEqual([expect.stringContaining('#1652 payments timing out')]);
    });

    it('an acknowledgement from PagerDuty does not count as PagerDuty taking a resolve made here', async () => {
      const incident = { id: 'PSK0004', number: 1654, title: 'queue stuck' };
      bot.pd!.addIncident({ id: incident.id, number: incident.number, status: 'triggered', title: incident.title });
      await event('incident.triggered', incident, { occurredAt: iso(0) });
      bot.clock.set(at(2));
      bot.pd!.failNext('rest', { kind: 'http_error', status: 503 });
      expect((await slash('resolve 1654')).json.text).toContain('☑️ Resolved P1');
      await bot.slack.waitFor(() => bot.pd!.calls('rest').length === 1 && !bot.waygate.dispatcher.busy());
      // Someone acknowledged it in PagerDuty just before; that event arrives while the resolve is still retrying.
      const res = await bot.pdSigner.send(bot.pdSigner.incidentEvent('incident.acknowledged', { ...incident, priority: 'P1', created_at: iso(0) }, { eventId: 'EVSK4', occurredAt: iso(1) }));
      expect(res.status).toBe(200);
      await bot.waygate.inboxProcessor.whenIdle();
      expect(await bot.waygate.services.incidents.get(incident.id)).toMatchObject({ status: 'resolved', pd_sync: 'pending' });
      await bot.settle();
      expect(bot.pd!.incident(incident.id)?.status).toBe('resolved');
      expect(await bot.waygate.services.incidents.get(incident.id)).toMatchObject({ status: 'resolved', pd_sync: 'synced' });
    });

    it('a PagerDuty event older than the last PagerDuty event is still ignored after a Slack change', async () => {
      const incident = { id: 'PSK0003', number: 1653, title: 'cache misses' };
      bot.pd!.addIncident({ id: incident.id, number: incident.number, status: 'triggered', title: incident.title });
      await event('incident.triggered', incident, { occurredAt: iso(0) });
      bot.clock.set(at(2));
      await event('incident.acknowledged', incident, { occurredAt: iso(2) });
      bot.clock.set(at(3));
      expect((await slash('resolve 1653')).json.text).toContain('☑️ Resolved P1');
      await bot.settle();
      // A reopening PagerDuty stamped before its own acknowledgement arrives late: it is out of date.
      await event('incident.reopened', incident, { occurredAt: iso(1) });
      expect(alertFor(1653)?.text).toBe('P1 #1653 cache misses: resolved');
      expect(thread(1653)).toEqual([]);
    });
  });
});

describe('PagerDuty webhook deliveries the bot refuses or ignores', () => {
  let bot: TestBot;
  beforeEach(async () => {
    bot = await startTestBot({ clock: new ManualClock(START), pagerDuty: true });
  });
  afterEach(async () => {
    await bot.stop();
  });

  const incidentBody = (mutate: (data: Record<string, unknown>) => void) => {
    const body = bot.pdSigner.incidentEvent('incident.triggered', { id: 'PWR0001', number: 1701, priority: 'P1' }, { occurredAt: START }) as { event: { data: Record<string, unknown> } };
    mutate(body.event.data);
    return body;
  };
  const nothingPosted = async () => {
    await bot.waygate.inboxProcessor.whenIdle();
    await bot.settle();
    expect(bot.slack.messages('C0ALERTS')).toEqual([]);
  };

  it('answers 400 to a signed body that is not JSON', async () => {
    const res = await bot.pdSigner.send('{"event": not json');
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('body is not JSON');
    await nothingPosted();
  });

  it('answers 413 to a body far larger than any PagerDuty sends', async () => {
    const res = await bot.pdSigner.send(JSON.stringify({ padding: 'x'.repeat(1024 * 1024 + 10) }));
    expect(res.status).toBe(413);
    expect(res.json.error).toBe('body too large');
    await nothingPosted();
  });

  it.each([
    ['without a number', (d: Record<string, unknown>) => delete d.number, 'event.data.number'],
    ['with an unknown status', (d: Record<string, unknown>) => (d.status = 'snoozed'), 'event.data.status'],
    ['with no urgency', (d: Record<string, unknown>) => delete d.urgency, 'event.data.urgency'],
  ])('answers 400 naming the field to an incident %s', async (_what, mutate, field) => {
    const res = await bot.pdSigner.send(incidentBody(mutate));
    expect(res.status).toBe(400);
    expect(res.json.error).toContain(field);
    await nothingPosted();
  });

  it('accepts an event about another kind of resource and posts nothing', async () => {
    const body = incidentBody(() => undefined) as { event: Record<string, unknown> };
    body.event.event_type = 'service.updated';
    body.event.resource_type = 'service';
    body.event.data = { id: 'PSVC001', type: 'service', summary: 'API Service' };
    const res = await bot.pdSigner.send(body);
    expect(res.status).toBe(200);
    expect(res.json.status).toBe('accepted');
    await nothingPosted();
  });

  it('times the SLA from occurred_at when the incident carries no created_at', async () => {
    const body = incidentBody((d) => delete d.created_at) as { event: Record<string, unknown> };
    body.event.occurred_at = new Date(at(2)).toISOString();
    bot.clock.set(at(2));
    expect((await bot.pdSigner.send(body)).status).toBe(200);
    await bot.waygate.inboxProcessor.whenIdle();
    await bot.settle();
    expect(JSON.stringify(bot.slack.messages('C0ALERTS')[0]?.blocks)).toContain(`acknowledge by ${slackDate(at(7))}`);
  });
});
