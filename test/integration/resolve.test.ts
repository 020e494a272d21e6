import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { INCIDENT_ACTIONS } from '../../src/incidents/actions.js';
import { DEFAULT_YAML, PD_FROM, startTestBot, USERS, type TestBot } from '../helpers/bot.js';

const START = '2026-03-02T08:00:00.000Z'; // Monday 09:00 in Berlin
const at = (minutes: number) => Date.parse(START) + minutes * 60_000;
const unix = (ms: number) => ms / 1000;

describe('/waygate resolve', () => {
  let bot: TestBot;
  let seq = 0;

  beforeEach(async () => {
    bot = await startTestBot({ clock: new ManualClock(START), pagerDuty: true });
    bot.slack.addUser({ id: USERS.oncall, name: 'olga', email: 'olga@example.com' });
  });
  afterEach(async () => {
    await bot.stop();
  });

  const now = () => bot.clock.now().toISOString();
  /** Sends a signed incident event as PagerDuty would, at the bot's current time, and waits until it is applied. */
  const event = async (type: string, incident: { id: string; number: number; title?: string; priority?: string }) => {
    const res = await bot.pdSigner.send(
      bot.pdSigner.incidentEvent(type, { priority: 'P1', created_at: now(), ...incident }, { eventId: `EVR${String(++seq).padStart(5, '0')}`, occurredAt: now() }),
    );
    expect(res.status).toBe(200);
    await bot.waygate.inboxProcessor.whenIdle();
  };
  /** An incident PagerDuty knows about and the bot has announced. */
  const open = async (id: string, number: number, title: string) => {
    bot.pd!.addIncident({ id, number, status: 'triggered', title, priority: 'P1' });
    await event('incident.triggered', { id, number, title });
    await bot.settle();
  };
  const resolve = (text: string, userId: string = USERS.oncall, responseUrl = bot.slack.responseUrl()) =>
    bot.signer.slashCommand({ text, userId, responseUrl });
  const alertFor = (number: number) => bot.slack.messages('C0ALERTS').find((m) => m.text.includes(`#${number} `));
  const actionIds = (blocks: unknown) => (JSON.stringify(blocks).match(/"action_id":"[^"]+"/g) ?? []).map((a) => a.slice('"action_id":"'.length, -1));
  const puts = () => bot.pd!.calls('rest').filter((c) => c.method === 'PUT');

  it('resolves by number: answers the user, tells PagerDuty as them, and turns the alert into a resolved one', async () => {
    await open('PRS0001', 101, 'disk full on db-1');
    bot.clock.advance(3 * 60_000);

    const res = await resolve('resolve 101');
    expect(res.status).toBe(200);
    expect(res.json.response_type).toBe('ephemeral');
    expect(res.json.text).toContain('☑️ Resolved P1');
    expect(res.json.text).toContain('#101 disk full on db-1');
    await bot.settle();

    expect(puts()).toHaveLength(1);
    expect(puts()[0]).toMatchObject({
      path: '/incidents/PRS0001',
      body: { incident: { type: 'incident_reference', status: 'resolved' } },
      headers: expect.objectContaining({ from: 'olga@example.com' }),
    });
    expect(bot.pd!.incident('PRS0001')).toMatchObject({ status: 'resolved', lastChangedBy: 'olga@example.com' });

    const alert = alertFor(101);
    expect(alert?.text).toBe('P1 #101 disk full on db-1: resolved');
    const blocks = JSON.stringify(alert?.blocks);
    expect(blocks).toContain(`☑️ *Resolved* by <@${USERS.oncall}> <!date^${unix(at(3))}^`);
    expect(blocks).not.toContain('Syncing');
    // Nothing left to press but the link to PagerDuty.
    expect(actionIds(alert?.blocks)).toEqual([INCIDENT_ACTIONS.openInPagerDuty]);

    // The SLA clock stopped with it: the P1 deadline passes without a reminder or an escalation.
    await bot.advanceTo(at(30));
    await bot.settle();
    expect(bot.slack.messages('C0ALERTS').filter((m) => m.text !== alert?.text)).toEqual([]);
  });

  it('takes the number with a leading # too, and resolves an acknowledged incident', async () => {
    await open('PRS0002', 102, 'queue backlog');
    await resolve('ack 102');
    await bot.settle();
    expect(bot.pd!.incident('PRS0002')?.status).toBe('acknowledged');

    const res = await resolve('resolve #102');
    expect(res.json.text).toContain('☑️ Resolved P1');
    expect(res.json.text).toContain('#102 queue backlog');
    await bot.settle();
    expect(puts().map((c) => (c.body as { incident: { status: string } }).incident.status)).toEqual(['acknowledged', 'resolved']);
    expect(bot.pd!.incident('PRS0002')?.status).toBe('resolved');
    expect(alertFor(102)?.text).toBe('P1 #102 queue backlog: resolved');
  });

  it('says an incident is already resolved, and sends PagerDuty nothing more', async () => {
    await open('PRS0003', 103, 'cert expiring');
    await resolve('resolve 103');
    await bot.settle();
    expect(puts()).toHaveLength(1);

    const again = await resolve('resolve #103', USERS.oncall);
    expect(again.json.text).toContain('#103 cert expiring');
    expect(again.json.text).toContain('is already resolved.');
    expect(again.json.text).not.toContain('☑️');
    await bot.settle();
    expect(puts()).toHaveLength(1);
  });

  it('says so when PagerDuty resolved it first', async () => {
    await open('PRS0004', 104, 'flapping check');
    bot.clock.advance(60_000);
    await event('incident.resolved', { id: 'PRS0004', number: 104, title: 'flapping check' });
    await bot.settle();
    const res = await resolve('resolve 104');
    expect(res.json.text).toContain('is already resolved.');
    await bot.settle();
    expect(puts()).toEqual([]);
  });

  it('answers an unknown number by pointing at the list of open incidents', async () => {
    const res = await resolve('resolve 999');
    expect(res.json.response_type).toBe('ephemeral');
    expect(res.json.text).toBe('There is no incident #999. `/waygate incidents` lists the open ones.');
    await bot.settle();
    expect(bot.pd!.calls('rest')).toEqual([]);
  });

  it.each([['resolve'], ['resolve abc'], ['resolve 12 13'], ['resolve P1'], ['resolve ##12'], ['resolve 12#']])(
    'answers `%s` with the usage line and changes nothing',
    async (text) => {
      await open('PRS0005', 12, 'something');
      const res = await resolve(text);
      expect(res.json.response_type).toBe('ephemeral');
      expect(res.json.text).toContain('Usage: `/waygate resolve <incident number>`');
      await bot.settle();
      expect(puts()).toEqual([]);
      expect(alertFor(12)?.text).toBe('P1 #12 something: triggered');
    },
  );

  it('denies a user without the oncall, lead or ops role and changes nothing', async () => {
    await open('PRS0006', 106, 'not yours');
    const res = await resolve('resolve 106', USERS.nobody);
    expect(res.json.response_type).toBe('ephemeral');
    expect(res.json.text).toContain('Sorry, `/waygate resolve` needs the *oncall*, *lead* or *ops* role.');
    await bot.settle();
    expect(puts()).toEqual([]);
    expect(bot.pd!.incident('PRS0006')?.status).toBe('triggered');
    expect(alertFor(106)?.text).toBe('P1 #106 not yours: triggered');
  });

  it('tells PagerDuty with the configured From address when Slack has no e-mail for the user', async () => {
    await open('PRS0007', 107, 'no e-mail');
    const res = await resolve('resolve 107', USERS.lead);
    expect(res.json.text).toContain('☑️ Resolved P1');
    await bot.settle();
    expect(puts()[0]?.headers.from).toBe(PD_FROM);
    expect(bot.pd!.incident('PRS0007')?.status).toBe('resolved');
    expect(JSON.stringify(alertFor(107)?.blocks)).toContain(`☑️ *Resolved* by <@${USERS.lead}>`);
  });

  it('is recorded in the audit trail under the user who resolved it', async () => {
    await open('PRS0008', 108, 'audited');
    await resolve('resolve 108', USERS.ops);
    const audit = await bot.signer.slashCommand({ text: 'audit', userId: USERS.security, responseUrl: bot.slack.responseUrl() });
    expect(audit.json.text).toContain(`<@${USERS.ops}> \`incident.resolved\` #108`);
  });
});

describe('the incident buttons', () => {
  let bot: TestBot;

  beforeEach(async () => {
    bot = await startTestBot({ clock: new ManualClock(START), pagerDuty: true });
    bot.slack.addUser({ id: USERS.oncall, name: 'olga', email: 'olga@example.com' });
    bot.pd!.addIncident({ id: 'PRB0001', number: 201, status: 'triggered', title: 'api 500s', priority: 'P1' });
    const res = await bot.pdSigner.send(
      bot.pdSigner.incidentEvent('incident.triggered', { id: 'PRB0001', number: 201, title: 'api 500s', priority: 'P1', created_at: START }, { occurredAt: START }),
    );
    expect(res.status).toBe(200);
    await bot.waygate.inboxProcessor.whenIdle();
    await bot.settle();
  });
  afterEach(async () => {
    await bot.stop();
  });

  const alert = () => bot.slack.messages('C0ALERTS').find((m) => m.text.includes('#201 '))!;
  const click = (actionId: string, userId: string, responseId: string, value = 'PRB0001') =>
    bot.signer.blockAction({ actionId, value, userId, channelId: 'C0ALERTS', messageTs: alert().ts, responseUrl: bot.slack.responseUrl(responseId) });

  it('Resolve refuses someone without the role, then resolves for someone with it; a second press says it is already resolved', async () => {
    const denied = await click(INCIDENT_ACTIONS.resolve, USERS.nobody, 'denied');
    expect(denied.status).toBe(200);
    await bot.settle();
    expect(bot.slack.responsePosts('denied').map((p) => p.body.text)).toEqual(['Sorry, that button needs the *oncall*, *lead* or *ops* role. Ask an admin to add your Slack user id under `roles` in the Waygate config.']);
    expect(alert().text).toBe('P1 #201 api 500s: triggered');
    expect(bot.pd!.calls('rest')).toEqual([]);

    await click(INCIDENT_ACTIONS.resolve, USERS.oncall, 'ok');
    await bot.settle();
    // Success shows on the alert itself; the clicker gets no extra message.
    expect(bot.slack.responsePosts('ok')).toEqual([]);
    expect(alert().text).toBe('P1 #201 api 500s: resolved');
    expect(JSON.stringify(alert().blocks)).toContain(`☑️ *Resolved* by <@${USERS.oncall}>`);
    expect(bot.pd!.incident('PRB0001')).toMatchObject({ status: 'resolved', lastChangedBy: 'olga@example.com' });

    await click(INCIDENT_ACTIONS.resolve, USERS.oncall, 'again');
    await bot.settle();
    const [again] = bot.slack.responsePosts('again');
    expect(again?.body.text).toContain('#201 api 500s');
    expect(again?.body.text).toContain('is already resolved.');
    expect(bot.pd!.calls('rest').filter((c) => c.method === 'PUT')).toHaveLength(1);
  });

  it('a second Acknowledge press tells the clicker who acknowledged it first', async () => {
    bot.slack.addUser({ id: USERS.lead, name: 'lea', email: 'lea@example.com' });
    await click(INCIDENT_ACTIONS.acknowledge, USERS.oncall, 'first');
    await bot.settle();
    expect(bot.slack.responsePosts('first')).toEqual([]);
    await click(INCIDENT_ACTIONS.acknowledge, USERS.lead, 'second');
    await bot.settle();
    const [second] = bot.slack.responsePosts('second');
    expect(second?.body.text).toContain('#201 api 500s');
    expect(second?.body.text).toContain(`was already acknowledged by <@${USERS.oncall}>.`);
    expect(bot.pd!.calls('rest').filter((c) => c.method === 'PUT')).toHaveLength(1);
  });

  it('Acknowledge all P1 is refused without the role; with it, a summary drawn by an older version changes nothing', async () => {
    bot.pd!.addIncident({ id: 'PRB0002', number: 202, status: 'triggered', title: 'second P1', priority: 'P1' });
    await bot.pdSigner.send(bot.pdSigner.incidentEvent('incident.triggered', { id: 'PRB0002', number: 202, priority: 'P1', title: 't', created_at: START }, { occurredAt: START }));
    await bot.waygate.inboxProcessor.whenIdle();
    await bot.settle();

    await click(INCIDENT_ACTIONS.acknowledgeAllP1, USERS.nobody, 'all-denied', '1');
    await bot.settle();
    expect(bot.slack.responsePosts('all-denied').map((p) => p.body.text)).toEqual(['Sorry, that button needs the *oncall*, *lead* or *ops* role. Ask an admin to add your Slack user id under `roles` in the Waygate config.']);

    // Older summaries carried the storm's id alone, which cannot say which incidents they showed.
    await click(INCIDENT_ACTIONS.acknowledgeAllP1, USERS.oncall, 'all', '1');
    await bot.settle();
    expect(bot.slack.responsePosts('all').map((p) => p.body.text)).toEqual([
      'This message has changed since it was drawn, so nothing was done. Please look at the updated message and try again.',
    ]);
    expect(bot.pd!.incident('PRB0001')?.status).toBe('triggered');
    expect(bot.pd!.incident('PRB0002')?.status).toBe('triggered');
    expect(bot.pd!.calls('rest')).toEqual([]);
  });

  it('an Acknowledge press on an incident that is gone tells the clicker so', async () => {
    await click(INCIDENT_ACTIONS.acknowledge, USERS.oncall, 'gone', 'PNOSUCH');
    await bot.settle();
    expect(bot.slack.responsePosts('gone').map((p) => p.body.text)).toEqual(['No incident PNOSUCH.']);
  });

  it('Open in PagerDuty is a link: pressing it changes nothing and says nothing', async () => {
    const res = await click(INCIDENT_ACTIONS.openInPagerDuty, USERS.nobody, 'link');
    expect(res.status).toBe(200);
    await bot.settle();
    expect(bot.slack.responsePosts('link')).toEqual([]);
    expect(alert().text).toBe('P1 #201 api 500s: triggered');
    expect(bot.pd!.calls('rest')).toEqual([]);
  });
});

describe('who may press the incident buttons', () => {
  it('follows a `permissions: incident.resolve` override in the YAML', async () => {
    const bot = await startTestBot({
      clock: new ManualClock(START),
      pagerDuty: true,
      yaml: { ...DEFAULT_YAML, permissions: { 'incident.resolve': ['lead'] } },
    });
    try {
      bot.pd!.addIncident({ id: 'PCR0001', number: 301, status: 'triggered', title: 'override', priority: 'P1' });
      await bot.pdSigner.send(bot.pdSigner.incidentEvent('incident.triggered', { id: 'PCR0001', number: 301, priority: 'P1', title: 'override', created_at: START }, { occurredAt: START }));
      await bot.waygate.inboxProcessor.whenIdle();
      await bot.settle();
      const alert = bot.slack.messages('C0ALERTS')[0]!;
      const press = (userId: string, id: string) =>
        bot.signer.blockAction({ actionId: INCIDENT_ACTIONS.resolve, value: 'PCR0001', userId, channelId: 'C0ALERTS', messageTs: alert.ts, responseUrl: bot.slack.responseUrl(id) });

      await press(USERS.oncall, 'oncall');
      await bot.settle();
      expect(bot.slack.responsePosts('oncall').map((p) => p.body.text)).toEqual(['Sorry, that button needs the *lead* role. Ask an admin to add your Slack user id under `roles` in the Waygate config.']);
      expect(bot.pd!.incident('PCR0001')?.status).toBe('triggered');

      await press(USERS.lead, 'lead');
      await bot.settle();
      expect(bot.slack.responsePosts('lead')).toEqual([]);
      expect(bot.pd!.incident('PCR0001')?.status).toBe('resolved');
    } finally {
      await bot.stop();
    }
  });
});
