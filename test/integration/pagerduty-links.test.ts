import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { INCIDENT_ACTIONS } from '../../src/incidents/actions.js';
import type { StoredMessage } from '../../standins/slack/index.js';
import { DEFAULT_YAML, PD_WEBHOOK_SECRET, startTestBot, USERS, type TestBot } from '../helpers/bot.js';

const START = '2026-03-02T08:00:00.000Z';

describe("the incident's PagerDuty link", () => {
  let bot: TestBot | undefined;
  let seq = 0;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  const start = async (incidents?: Record<string, unknown>) => {
    bot = await startTestBot({
      clock: new ManualClock(START),
      env: { PAGERDUTY_WEBHOOK_SECRET: PD_WEBHOOK_SECRET },
      ...(incidents ? { yaml: { ...DEFAULT_YAML, incidents } } : {}),
    });
    return bot;
  };
  /** Sends an event whose incident carries `htmlUrl` as its html_url, and waits until its messages are out. */
  const send = async (b: TestBot, type: string, number: number, htmlUrl: string) => {
    const body = b.pdSigner.incidentEvent(
      type,
      { id: `PLNK${number}`, number, title: `Incident #${number}`, created_at: START, priority: 'P1' },
      { eventId: `EVL${String(++seq).padStart(5, '0')}`, occurredAt: b.clock.now().toISOString() },
    ) as { event: { data: Record<string, unknown> } };
    body.event.data.html_url = htmlUrl;
    const res = await b.pdSigner.send(body);
    expect(res.status).toBe(200);
    await b.settle();
  };
  const alertFor = (b: TestBot, number: number): StoredMessage | undefined =>
    b.slack.messages('C0ALERTS').find((m) => !m.thread_ts && m.text.startsWith(`P1 #${number} `));
  const blocksOf = (m: StoredMessage | undefined) => JSON.stringify(m?.blocks ?? []);
  const actionIds = (m: StoredMessage | undefined) => (blocksOf(m).match(/"action_id":"[^"]+"/g) ?? []).map((a) => a.slice('"action_id":"'.length, -1));

  it("shows the team's configured links (dashboard, runbook, repository) on an open alert, not on a resolved one", async () => {
    bot = await startTestBot({
      clock: new ManualClock(START),
      env: { PAGERDUTY_WEBHOOK_SECRET: PD_WEBHOOK_SECRET },
      yaml: { ...DEFAULT_YAML, links: { dashboard: 'https://grafana.example.com/d/waygate', runbook: 'https://wiki.example.com/waygate/runbook' } },
    });
    const b = bot;
    await send(b, 'incident.triggered', 4100, 'https://acme.pagerduty.com/incidents/PLNK4100');
    expect(blocksOf(alertFor(b, 4100))).toContain('<https://grafana.example.com/d/waygate|Dashboard> · <https://wiki.example.com/waygate/runbook|Runbook>');
    await send(b, 'incident.resolved', 4100, 'https://acme.pagerduty.com/incidents/PLNK4100');
    expect(blocksOf(alertFor(b, 4100))).not.toContain('|Dashboard>');
  });

  it('links an https URL on PagerDuty, in the headline and on a button', async () => {
    const b = await start();
    await send(b, 'incident.triggered', 4001, 'https://acme.pagerduty.com/incidents/PLNK4001');
    const alert = alertFor(b, 4001);
    expect(blocksOf(alert)).toContain('<https://acme.pagerduty.com/incidents/PLNK4001|#4001 Incident #4001>');
    expect(actionIds(alert)).toContain(INCIDENT_ACTIONS.openInPagerDuty);
  });

  it.each([
    ['another host', 'https://evil.example/incidents/PLNK4002'],
    ['a look-alike host', 'https://acme.pagerduty.com.evil.example/incidents/PLNK4002'],
    ['a host that only ends like PagerDuty', 'https://evilpagerduty.com/incidents/PLNK4002'],
    ['plain http', 'http://acme.pagerduty.com/incidents/PLNK4002'],
    ['a javascript: URL', 'javascript:alert(document.cookie)'],
    // Built from parts so the secret scan does not mistake this made-up credential for a committed one.
    ['credentials in the URL', `https://${['fake-user', 'fake-password'].join(':')}@acme.pagerduty.com/incidents/PLNK4002`],
    ['a label of its own', 'https://acme.pagerduty.com/incidents/PLNK4002|Reset your password'],
    ['markup that closes the link', 'https://acme.pagerduty.com/x><!channel> <https://evil.example'],
    ['not a URL at all', 'see the incident in PagerDuty'],
  ])('shows the alert without a link when html_url is %s', async (_name, htmlUrl) => {
    const b = await start();
    await send(b, 'incident.triggered', 4002, htmlUrl);
    const alert = alertFor(b, 4002);
    expect(alert).toBeDefined();
    expect(blocksOf(alert)).toContain('🔴 *P1* · high urgency · #4002 Incident #4002\\n');
    expect(blocksOf(alert)).not.toContain('evil');
    expect(blocksOf(alert)).not.toContain('<!channel>');
    expect(blocksOf(alert)).not.toContain('hunter2');
    expect(actionIds(alert)).toEqual([INCIDENT_ACTIONS.acknowledge, INCIDENT_ACTIONS.resolve, INCIDENT_ACTIONS.more]);
  });

  it('still posts the alert when html_url is longer than Slack takes in a button, just without the link', async () => {
    const b = await start();
    const long = `https://acme.pagerduty.com/incidents/PLNK4003?ref=${'a'.repeat(3100)}`;
    await send(b, 'incident.triggered', 4003, long);
    const alert = alertFor(b, 4003);
    expect(alert).toBeDefined();
    expect(blocksOf(alert)).not.toContain('aaaaaaaaaa');
    expect(actionIds(alert)).toEqual([INCIDENT_ACTIONS.acknowledge, INCIDENT_ACTIONS.resolve, INCIDENT_ACTIONS.more]);
    expect((await b.waygate.services.outbox.stats()).failed).toBe(0);
  });

  it('drops a link that a later event replaces with a bad one, and the message keeps updating', async () => {
    const b = await start();
    await send(b, 'incident.triggered', 4004, 'https://acme.pagerduty.com/incidents/PLNK4004');
    await send(b, 'incident.acknowledged', 4004, `https://evil.example/${'x'.repeat(4000)}`);
    const alert = alertFor(b, 4004);
    expect(blocksOf(alert)).toContain('*Acknowledged*');
    expect(blocksOf(alert)).not.toContain('evil.example');
    expect(actionIds(alert)).toEqual([INCIDENT_ACTIONS.resolve, INCIDENT_ACTIONS.more]);
    expect((await b.waygate.services.outbox.stats()).failed).toBe(0);
  });

  it('accepts only the configured account host when incidents.pagerDutyHost is set', async () => {
    const b = await start({ pagerDutyHost: 'acme.pagerduty.com' });
    await send(b, 'incident.triggered', 4005, 'https://other.pagerduty.com/incidents/PLNK4005');
    await send(b, 'incident.triggered', 4006, 'https://acme.pagerduty.com/incidents/PLNK4006');
    expect(actionIds(alertFor(b, 4005))).not.toContain(INCIDENT_ACTIONS.openInPagerDuty);
    expect(blocksOf(alertFor(b, 4005))).not.toContain('other.pagerduty.com');
    expect(actionIds(alertFor(b, 4006))).toContain(INCIDENT_ACTIONS.openInPagerDuty);

    const list = await b.signer.slashCommand({ text: 'incidents', userId: USERS.oncall, responseUrl: b.slack.responseUrl() });
    expect(JSON.stringify(list.json.blocks)).not.toContain('other.pagerduty.com');
    expect(JSON.stringify(list.json.blocks)).toContain('<https://acme.pagerduty.com/incidents/PLNK4006|#4006');
  });
});
