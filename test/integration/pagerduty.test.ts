import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { INCIDENT_ACTIONS } from '../../src/incidents/actions.js';
import { healthDetails, startTestBot, USERS, type TestBot } from '../helpers/bot.js';
import { openBotDatabase } from '../helpers/sql.js';

const START = '2026-03-02T08:00:00.000Z'; // Monday 09:00 in Berlin

describe('PagerDuty bridge over real HTTP', () => {
  let bot: TestBot;

  beforeEach(async () => {
    bot = await startTestBot({ clock: new ManualClock(START), pagerDuty: true });
    bot.slack.addUser({ id: USERS.oncall, name: 'olga', email: 'olga@example.com' });
  });
  afterEach(async () => {
    await bot.stop();
  });

  const now = () => bot.clock.now().toISOString();
  let seq = 0;
  /** Sends a signed incident event as PagerDuty would, at the bot's current time. */
  /** Sends and waits until the bot has applied it (the 200 comes once it is stored; applying follows). */
  const event = async (...args: Parameters<typeof send>) => {
    const res = await send(...args);
    await bot.waygate.inboxProcessor.whenIdle();
    return res;
  };
  const send = (type: string, incident: { id: string; number: number; priority?: string | null; title?: string; urgency?: 'high' | 'low' }, extra: { eventId?: string; occurredAt?: string; createdAt?: string; agent?: { id: string; summary: string } | null } = {}) =>
    bot.pdSigner.send(
      bot.pdSigner.incidentEvent(
        type,
        { ...incident, priority: incident.priority === undefined ? 'P1' : (incident.priority), created_at: extra.createdAt ?? now() },
        { eventId: extra.eventId ?? `EV${String(++seq).padStart(6, '0')}`, occurredAt: extra.occurredAt ?? now(), ...(extra.agent !== undefined ? { agent: extra.agent } : {}) },
      ),
    );
  const alerts = () => bot.slack.messages('C0ALERTS');
  const alertFor = (number: number) => alerts().find((m) => m.text.includes(`#${number} `));
  const actionIds = (blocks: unknown) => JSON.stringify(blocks).match(/"action_id":"[^"]+"/g) ?? [];
  const ack = (text: string, userId: string = USERS.oncall, responseUrl = bot.slack.responseUrl('ack')) =>
    bot.signer.slashCommand({ text, userId, responseUrl });

  it('posts a signed trigger as an alert with Acknowledge, Resolve and Open in PagerDuty, and the SLA deadline', async () => {
    const res = await event('incident.triggered', { id: 'PINC001', number: 101, title: 'Service down: waygate-mcp' });
    expect(res.status).toBe(200);
    await bot.settle();
    const alert = alertFor(101);
    expect(alert?.text).toContain('P1 #101 Service down: waygate-mcp');
    expect(actionIds(alert?.blocks)).toEqual([
      `"action_id":"${INCIDENT_ACTIONS.acknowledge}"`,
      `"action_id":"${INCIDENT_ACTIONS.resolve}"`,
      `"action_id":"${INCIDENT_ACTIONS.openInPagerDuty}"`,
      `"action_id":"${INCIDENT_ACTIONS.more}"`,
    ]);
    const blocks = JSON.stringify(alert?.blocks);
    expect(blocks).toContain(`<!date^${Date.parse(START) / 1000 + 300}^`); // 5 minutes for a P1
    expect(blocks).toContain('high urgency');
    expect(blocks).toContain('API Service');
  });

  it('rejects a bad or missing signature with 401 and stores nothing', async () => {
    const body = bot.pdSigner.incidentEvent('incident.triggered', { id: 'PBAD001', number: 5, priority: 'P1' });
    expect((await bot.pdSigner.send(body, { badSignature: true })).status).toBe(401);
    expect((await bot.pdSigner.send(body, { omitSignature: true })).status).toBe(401);
    await bot.settle();
    expect(await bot.waygate.services.incidents.open()).toEqual([]);
    expect(alerts()).toEqual([]);
  });

  it('accepts a rotated secret in the signature list', async () => {
    const body = bot.pdSigner.incidentEvent('incident.triggered', { id: 'PROT001', number: 6, priority: 'P2' });
    const res = await bot.pdSigner.send(body, { extraSecrets: ['another-secret-during-rotation'] });
    expect(res.status).toBe(200);
  });

  it('answers 400 with a reason to a body that is not a v3 event, and 200 without a message to a ping', async () => {
    const res = await bot.pdSigner.send({ messages: [{ event: 'incident.trigger' }] });
    expect(res.status).toBe(400);
    expect(res.json.error).toContain('not a PagerDuty v3 webhook');
    const ping = await bot.pdSigner.send(bot.pdSigner.pingEvent());
    expect(ping.status).toBe(200);
    await bot.settle();
    expect(alerts()).toEqual([]);
  });

  it('posts one message for the same event.id delivered twice', async () => {
    const first = await event('incident.triggered', { id: 'PDUP001', number: 102 }, { eventId: 'EVSAME' });
    const again = await event('incident.triggered', { id: 'PDUP001', number: 102 }, { eventId: 'EVSAME' });
    expect(first.json.status).toBe('accepted');
    expect(again.status).toBe(200);
    expect(again.json.status).toBe('duplicate');
    await bot.settle();
    expect(alerts()).toHaveLength(1);
  });

  it('`/waygate ack P1` acknowledges only open P1s, tells PagerDuty as the user in one bulk update, updates the alerts and cancels their timers', async () => {
    await event('incident.triggered', { id: 'PA00001', number: 201, title: 'first P1' });
    await event('incident.triggered', { id: 'PA00002', number: 202, title: 'second P1' });
    await event('incident.triggered', { id: 'PA00003', number: 203, title: 'a P2', priority: 'P2' });
    for (const [id, n] of [['PA00001', 201], ['PA00002', 202], ['PA00003', 203]] as const) bot.pd!.addIncident({ id, number: n, status: 'triggered', title: 't' });
    await bot.settle();
    bot.clock.advance(60_000);

    const res = await ack('ack P1');
    expect(res.json.text).toContain('Acknowledged 2 P1 incident(s)');
    expect(res.json.text).toContain('#201 first P1');
    expect(res.json.text).toContain('#202 second P1');
    expect(res.json.text).not.toContain('#203');
    await bot.settle();

    // One bulk update for both.
    const puts = bot.pd!.calls('rest').filter((c) => c.method === 'PUT');
    expect(puts).toEqual([
      expect.objectContaining({
        path: '/incidents',
        body: { incidents: [{ id: 'PA00001', type: 'incident_reference', status: 'acknowledged' }, { id: 'PA00002', type: 'incident_reference', status: 'acknowledged' }] },
        headers: expect.objectContaining({ from: 'olga@example.com' }),
      }),
    ]);
    expect(bot.pd!.incident('PA00001')?.status).toBe('acknowledged');
    expect(JSON.stringify(alertFor(201)?.blocks)).toContain(`Acknowledged* by <@${USERS.oncall}> after 1 min 2 s (within SLA)`);
    expect(actionIds(alertFor(201)?.blocks)).not.toContain(`"action_id":"${INCIDENT_ACTIONS.acknowledge}"`);

    // Past the P1 deadline only the unacknowledged P2 is still timed; nothing escalates until its 15 minutes.
    await bot.advanceTo(Date.parse(START) + 14 * 60_000);
    await bot.settle();
    expect(alerts().filter((m) => m.text.includes('SLA breached'))).toEqual([]);
    await bot.advanceTo(Date.parse(START) + 15 * 60_000);
    await bot.settle();
    const breaches = alerts().filter((m) => m.text.includes('SLA breached'));
    expect(breaches).toHaveLength(1);
    expect(breaches[0]?.text).toContain('#203');
  });

  it('acknowledges one incident by number, records time to acknowledge and SLA outcome, and audits it', async () => {
    await event('incident.triggered', { id: 'PN00001', number: 301 });
    bot.pd!.addIncident({ id: 'PN00001', number: 301, status: 'triggered', title: 't' });
    bot.clock.advance(6 * 60_000);
    const res = await ack('ack 301');
    expect(res.json.text).toContain('Acknowledged P1');
    expect(res.json.text).toContain('after 6 min (outside SLA)');
    const acks = await bot.waygate.services.incidents.acksOf('PN00001');
    expect(acks).toEqual([expect.objectContaining({ acked_by: USERS.oncall, source: 'slack', time_to_ack_ms: 360_000, sla_outcome: 'breached' })]);
    expect((await bot.waygate.services.audit.recent(5)).map((e) => e.action)).toContain('incident.acknowledged');
  });

  it('denies `/waygate ack` to someone without oncall, lead or ops', async () => {
    const res = await ack('ack P1', USERS.nobody);
    expect(res.json.text).toContain('needs the *oncall*, *lead* or *ops* role');
  });

  it('lists open incidents with buttons for `/waygate ack`, and with SLA time left for `/waygate incidents`', async () => {
    await event('incident.triggered', { id: 'PL00001', number: 401, title: 'disk full' });
    bot.clock.advance(90_000);
    const list = await ack('ack');
    expect(JSON.stringify(list.json.blocks)).toContain(INCIDENT_ACTIONS.acknowledge);
    const incidents = await bot.signer.slashCommand({ text: 'incidents', userId: USERS.nobody, responseUrl: bot.slack.responseUrl() });
    expect(incidents.json.text).toBe('1 open incident(s)');
    expect(JSON.stringify(incidents.json.blocks)).toContain('open 1 min 30 s · ⏳ 3 min 30 s left');
  });

  it('the Acknowledge button does the same as the command, and refuses someone without the role', async () => {
    await event('incident.triggered', { id: 'PB00001', number: 501 });
    bot.pd!.addIncident({ id: 'PB00001', number: 501, status: 'triggered', title: 't' });
    await bot.settle();
    const alert = alertFor(501)!;
    const denied = await bot.signer.blockAction({ actionId: INCIDENT_ACTIONS.acknowledge, value: 'PB00001', userId: USERS.nobody, channelId: 'C0ALERTS', messageTs: alert.ts, responseUrl: bot.slack.responseUrl('btn-denied') });
    expect(denied.status).toBe(200);
    await bot.settle();
    expect(bot.slack.responsePosts('btn-denied')[0]?.body.text).toContain('needs the *oncall*, *lead* or *ops* role');
    expect((await bot.waygate.services.incidents.open())[0]?.status).toBe('triggered');

    const clicked = await bot.signer.blockAction({ actionId: INCIDENT_ACTIONS.acknowledge, value: 'PB00001', userId: USERS.oncall, channelId: 'C0ALERTS', messageTs: alert.ts, responseUrl: bot.slack.responseUrl('btn-ok') });
    expect(clicked.status).toBe(200);
    await bot.settle();
    expect(bot.pd!.incident('PB00001')?.status).toBe('acknowledged');
    expect(JSON.stringify(alertFor(501)?.blocks)).toContain('Acknowledged* by');
  });

  it('mirrors an acknowledgement made in PagerDuty into the Slack message', async () => {
    await event('incident.triggered', { id: 'PP00001', number: 601 });
    await bot.settle();
    bot.clock.advance(2 * 60_000);
    await event('incident.acknowledged', { id: 'PP00001', number: 601 }, { agent: { id: 'PUSER01', summary: 'Pat Pager' } });
    await bot.settle();
    expect(JSON.stringify(alertFor(601)?.blocks)).toContain('Acknowledged* by Pat Pager after 2 min (within SLA)');
    expect((await bot.waygate.services.incidents.acksOf('PP00001'))[0]).toMatchObject({ source: 'pagerduty', sla_outcome: 'met' });
    // The timer is gone: nothing escalates later.
    await bot.advanceTo(Date.parse(START) + 30 * 60_000);
    await bot.settle();
    expect(alerts().some((m) => m.text.includes('SLA breached'))).toBe(false);
  });

  it('reminds the on-call at 80 % of the window in the thread and in the channel, then climbs the ladder: on-call at 1x, lead at 2x, the channel at 3x, repeating until acknowledged', async () => {
    await event('incident.triggered', { id: 'PS00001', number: 701, title: 'payments failing' });
    await bot.settle();
    await bot.advanceTo(Date.parse(START) + 4 * 60_000);
    await bot.settle();
    const reminder = alerts().find((m) => m.text.includes('Still unacknowledged'));
    expect(reminder?.thread_ts).toBe(alertFor(701)?.ts);
    // A thread reply notifies nobody unless it mentions them and is also shown in the channel.
    expect(reminder?.reply_broadcast).toBe(true);
    expect(reminder?.text).toContain(`<@${USERS.oncall}>`);
    expect(reminder?.text).toContain('1 min left');
    await bot.advanceTo(Date.parse(START) + 5 * 60_000);
    await bot.settle();
    const escalations = () => alerts().filter((m) => m.thread_ts === undefined && m.text.startsWith('🚨'));
    expect(escalations()).toHaveLength(1);
    const first = escalations()[0];
    expect(first?.text).toContain('SLA breached');
    expect(first?.text).toContain('#701 payments failing');
    expect(first?.text).toContain(`<@${USERS.oncall}>`);
    expect(first?.text).not.toContain(`<@${USERS.lead}>`);
    expect(first?.text).not.toContain('noticed late');
    expect((await bot.waygate.services.incidents.open())[0]?.sla_state).toBe('breached');
    expect(JSON.stringify(alertFor(701)?.blocks)).toContain('SLA breached');
    expect(JSON.stringify(alertFor(701)?.blocks)).toContain('Escalation level 1');

    await bot.advanceTo(Date.parse(START) + 10 * 60_000);
    await bot.settle();
    expect(escalations()).toHaveLength(2);
    expect(escalations()[1]?.text).toContain('escalation 2 of 3');
    expect(escalations()[1]?.text).toContain(`<@${USERS.oncall}> <@${USERS.lead}>`);
    expect(escalations()[1]?.text).not.toContain('<!channel>');
    expect(JSON.stringify(alertFor(701)?.blocks)).toContain('Escalation level 2');

    await bot.advanceTo(Date.parse(START) + 15 * 60_000);
    await bot.settle();
    expect(escalations()[2]?.text).toContain('escalation 3 of 3');
    expect(escalations()[2]?.text).toContain('<!channel>');
    await bot.advanceTo(Date.parse(START) + 20 * 60_000);
    await bot.settle();
    expect(escalations()[3]?.text).toContain('escalation 4 (repeating step 3)');
    expect(escalations()[3]?.text).toContain('<!channel>');
    const audited = await bot.sql.column<string>(sql`SELECT details FROM audit_log WHERE action = 'incident.escalated' ORDER BY id`);
    expect(audited.map((d) => (JSON.parse(d) as { level: number }).level)).toEqual([1, 2, 3, 4]);

    // Acknowledging stops the ladder.
    await ack('ack 701', USERS.oncall, bot.slack.responseUrl('stop'));
    await bot.settle();
    await bot.advanceTo(Date.parse(START) + 60 * 60_000);
    await bot.settle();
    expect(escalations()).toHaveLength(4);
  });

  it('groups reminders and escalations that fall due together into one message each', async () => {
    for (let n = 1; n <= 5; n++) await event('incident.triggered', { id: `PG0000${n}`, number: 1200 + n, title: `disk ${n}` });
    await bot.advanceTo(Date.parse(START) + 4 * 60_000);
    await bot.settle();
    const reminders = alerts().filter((m) => m.text.includes('still unacknowledged'));
    expect(reminders).toHaveLength(1);
    expect(reminders[0]?.text).toContain('5 incidents are still unacknowledged; the first SLA deadline is in 1 min');
    await bot.advanceTo(Date.parse(START) + 5 * 60_000);
    await bot.settle();
    const breaches = alerts().filter((m) => m.text.includes('SLA breached'));
    expect(breaches).toHaveLength(1);
    expect(breaches[0]?.text).toContain(`SLA breached for 5 incidents. <@${USERS.oncall}>`);
    expect(breaches[0]?.text).toContain('P1 #1201, P1 #1202, P1 #1203, P1 #1204, P1 #1205');
    expect((await bot.waygate.services.incidents.open()).every((i) => i.sla_state === 'breached')).toBe(true);
  });

  it('keeps an acknowledgement when PagerDuty answers 500, tells the user it will sync, and syncs later', async () => {
    await event('incident.triggered', { id: 'PF00001', number: 801 });
    bot.pd!.addIncident({ id: 'PF00001', number: 801, status: 'triggered', title: 't' });
    bot.pd!.failNext('rest', { kind: 'http_error', status: 500 });
    const res = await ack('ack 801', USERS.oncall, bot.slack.responseUrl('sync'));
    expect(res.json.text).toContain('Acknowledged P1');
    await bot.slack.waitFor(() => bot.slack.responsePosts('sync').length === 1);
    expect(bot.slack.responsePosts('sync')[0]?.body.text).toContain('PagerDuty did not take the acknowledgement of #801 yet');
    expect((await bot.waygate.services.incidents.open())[0]).toMatchObject({ status: 'acknowledged', pd_sync: 'pending' });
    await bot.settle();
    expect(bot.pd!.incident('PF00001')?.status).toBe('acknowledged');
    expect((await bot.waygate.services.incidents.open())[0]?.pd_sync).toBe('synced');
    expect(JSON.stringify(alertFor(801)?.blocks)).not.toContain('Syncing');
  });

  it('never moves an incident backwards: a late trigger after the resolve does not reopen it', async () => {
    const t0 = now();
    await event('incident.triggered', { id: 'PO00001', number: 901 }, { occurredAt: t0 });
    bot.clock.advance(60_000);
    await event('incident.resolved', { id: 'PO00001', number: 901 }, { occurredAt: now() });
    await event('incident.acknowledged', { id: 'PO00001', number: 901 }, { occurredAt: t0 });
    expect((await bot.waygate.services.incidents.get('PO00001'))?.status).toBe('resolved');
  });

  it('recomputes the deadline when the priority changes', async () => {
    await event('incident.triggered', { id: 'PR00001', number: 951, priority: 'P3' });
    expect((await bot.waygate.services.incidents.get('PR00001'))?.sla_deadline).toBe(Date.parse(START) + 3_600_000);
    bot.clock.advance(60_000);
    await event('incident.priority_updated', { id: 'PR00001', number: 951, priority: 'P1' });
    const incident = await bot.waygate.services.incidents.get('PR00001');
    expect(incident).toMatchObject({ priority: 'P1', sla_deadline: Date.parse(START) + 300_000 });
  });

  it('takes the priority from urgency when PagerDuty sends none (high → P2)', async () => {
    await event('incident.triggered', { id: 'PU00001', number: 961, priority: null, urgency: 'high' });
    expect((await bot.waygate.services.incidents.get('PU00001'))?.priority).toBe('P2');
  });

  it('reports PagerDuty as configured on /health', async () => {
    const health = await healthDetails<{ pagerduty: unknown }>(bot.url);
    expect(health.pagerduty).toEqual({ status: 'configured', api: true, webhooks: true, inboxPending: 0 });
  });
});

describe('SLA timers across restarts', () => {
  it('fires an armed timer after a restart, and an overdue one at start-up marked late', async () => {
    const clock = new ManualClock(START);
    let bot = await startTestBot({ clock, pagerDuty: true });
    const { dir, slack, pd } = bot;
    const send = (id: string, number: number) =>
      bot.pdSigner.send(bot.pdSigner.incidentEvent('incident.triggered', { id, number, priority: 'P1', created_at: clock.now().toISOString() }, { occurredAt: clock.now().toISOString() }));
    await send('PT00001', 1001);
    await bot.waygate.inboxProcessor.whenIdle();
    await bot.settle();
    await bot.waygate.stop();

    bot = await startTestBot({ clock, pagerDuty: pd, slack, dir });
    await bot.advanceTo(Date.parse(START) + 5 * 60_000);
    await bot.settle();
    const first = slack.messages('C0ALERTS').filter((m) => m.text.includes('SLA breached'));
    expect(first).toHaveLength(1);
    expect(first[0]?.text).toContain('#1001');
    expect(first[0]?.text).not.toContain('noticed late');

    await send('PT00002', 1002);
    await bot.waygate.inboxProcessor.whenIdle();
    await bot.settle();
    await bot.waygate.stop();
    clock.advance(20 * 60_000); // the bot is down past the deadline
    bot = await startTestBot({ clock, pagerDuty: pd, slack, dir });
    await bot.settle();
    const late = slack.messages('C0ALERTS').filter((m) => m.text.includes('SLA breached') && m.text.includes('#1002'));
    expect(late).toHaveLength(1);
    expect(late[0]?.text).toContain('noticed late');
    // Down past three steps of the ladder: one message at the step reached, not one per step missed.
    expect(late[0]?.text).toContain('escalation 4 (repeating step 3)');
    expect(late[0]?.text).toContain('<!channel>');
    expect(slack.messages('C0ALERTS').filter((m) => m.thread_ts === undefined && m.text.startsWith('🚨') && m.text.includes('#1002'))).toHaveLength(1);
    await bot.stop();
    await slack.close();
    await pd?.close();
  });
});

describe('without PagerDuty settings', () => {
  it('still runs, says so on /health, and refuses webhooks with 503 so PagerDuty keeps them', async () => {
    const bot = await startTestBot();
    try {
      const health = await healthDetails<{ pagerduty: unknown; status: string }>(bot.url);
      expect(health.pagerduty).toEqual({ status: 'not configured', api: false, webhooks: false, inboxPending: 0 });
      expect(health.status).toBe('ok');
      const res = await bot.pdSigner.send(bot.pdSigner.pingEvent());
      expect(res.status).toBe(503);
      expect(res.json.error).toContain('PAGERDUTY_WEBHOOK_SECRET');
    } finally {
      await bot.stop();
    }
  });
});

describe('webhook inbox', () => {
  it('applies events accepted before a crash at the next start, and skips one that cannot be applied', async () => {
    const clock = new ManualClock(START);
    let bot = await startTestBot({ clock, pagerDuty: true });
    const { dir, slack, pd } = bot;
    await bot.waygate.stop();
    // What a crash right after the 200 leaves behind: events committed to the inbox, not yet applied.
    const db = await openBotDatabase(dir);
    const insert = (eventId: string, event: string, receivedAt: number) => db.sql.run(sql`INSERT INTO webhook_inbox (event_id, event, received_at) VALUES (${eventId}, ${event}, ${receivedAt})`);
    const incident = (id: string, number: number) => ({
      eventId: `EV-${id}`,
      type: 'incident.triggered',
      occurredAt: Date.parse(START),
      agentName: null,
      incidentId: id,
      incident: { id, number, title: `queued ${number}`, status: 'triggered', priorityName: 'P1', urgency: 'high', service: 'API', htmlUrl: null, assignees: [], createdAt: Date.parse(START) },
    });
    await insert('EV-bad', JSON.stringify({ ...incident('PBAD', 1), incident: { id: 'PBAD' } }), Date.parse(START));
    await insert('EV-PQ1', JSON.stringify(incident('PQ1', 1101)), Date.parse(START));
    await db.close();

    bot = await startTestBot({ clock, pagerDuty: pd, slack, dir });
    await bot.settle();
    expect(slack.messages('C0ALERTS').map((m) => m.text)).toEqual(['P1 #1101 queued 1101: triggered']);
    const results = await bot.sql.all<{ event_id: string; result: string }>(sql`SELECT event_id, result FROM webhook_inbox ORDER BY seq`);
    expect(results[0]?.result).toMatch(/^failed: /);
    expect(results[1]).toEqual({ event_id: 'EV-PQ1', result: 'applied' });
    await bot.stop();
    await slack.close();
    await pd?.close();
  });
});
