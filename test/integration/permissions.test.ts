import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { DIGEST_ACTIONS } from '../../src/health/digest.js';
import { INCIDENT_ACTIONS } from '../../src/incidents/actions.js';
import { COMMANDS } from '../../commands/index.js';
import { DEFAULT_YAML, startTestBot, USERS, type TestBot } from '../helpers/bot.js';

const START = '2026-03-02T08:00:00.000Z';
const ASK = 'Ask an admin to add your Slack user id under `roles` in the Waygate config.';

/** Everything a denied attempt could have changed, so "no effect" is checked, not assumed. */
async function effects(bot: TestBot) {
  return {
    incidents: await bot.sql.all(sql`SELECT id, status FROM incidents ORDER BY id`),
    executions: await bot.sql.value(sql`SELECT COUNT(*) FROM executions`),
    digests: await bot.sql.all(sql`SELECT id, reviewed_by FROM digests ORDER BY id`),
    pagerDutyCalls: bot.pd?.calls('rest').length,
    channelMessages: ['C0OPS', 'C0ALERTS', 'C0SEC'].map((c) => bot.slack.messages(c).length),
    // The trail's record of the request itself (command.run, interaction) is checked on its own below.
    auditOtherThanDenials: (await bot.waygate.services.audit.recent(1000)).filter((e) => !['permission.denied', 'command.run', 'interaction'].includes(e.action)).length,
  };
}

async function lastDenial(bot: TestBot) {
  const entry = (await bot.waygate.services.audit.recent(3)).find((e) => e.action === 'permission.denied');
  expect(entry?.action).toBe('permission.denied');
  return { actor: entry?.actor, details: JSON.parse(entry?.details ?? '{}') as { permission?: string; rule?: string } };
}

/** The trail's newest record of a request (a command or a click): who, what, and how it ended. */
async function lastRequest(bot: TestBot) {
  const entry = (await bot.waygate.services.audit.recent(3)).find((e) => e.action === 'command.run' || e.action === 'interaction');
  return { actor: entry?.actor, action: entry?.action, subject: entry?.subject, outcome: (JSON.parse(entry?.details ?? '{}') as { outcome?: string }).outcome };
}

describe('one permission policy for every command and button', () => {
  let bot: TestBot;
  let dir: string;
  let digestTs = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-permissions-'));
    bot = await startTestBot({
      clock: new ManualClock(START),
      pagerDuty: true,
      yaml: {
        ...DEFAULT_YAML,
        service: { ...DEFAULT_YAML.service, logFile: join(dir, 'waygate.log'), database: join(dir, 'service.db') },
        backup: { dir: join(dir, 'backups'), configDir: null },
        // Open-to-everyone verbs restricted here, so that every verb has a role to be denied.
        permissions: { 'command.help': ['lead'], 'command.incidents': ['lead'], 'command.health': ['lead'], 'command.jobs': ['lead'], 'command.oncall': ['lead'], 'command.sop': ['lead'], 'command.whoami': ['lead'] },
      },
    });
    bot.pd!.addIncident({ id: 'PPERM01', number: 801, status: 'triggered', title: 'disk full', priority: 'P1' });
    await bot.pdSigner.send(
      bot.pdSigner.incidentEvent('incident.triggered', { id: 'PPERM01', number: 801, priority: 'P1', title: 'disk full', created_at: START }, { occurredAt: START }),
    );
    await bot.waygate.inboxProcessor.whenIdle();
    const res = await bot.signer.slashCommand({ text: 'digest', userId: USERS.ops, responseUrl: bot.slack.responseUrl() });
    expect(res.json.text).toContain('Building the health digest');
    await bot.settle();
    digestTs = bot.slack.messages('C0OPS').at(-1)?.ts ?? '';
    expect(digestTs).not.toBe('');
  });
  afterAll(async () => {
    await bot.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const commands: Array<{ text: string; roles: string; permission: string }> = [
    { text: 'ack P1', roles: '*oncall*, *lead* or *ops*', permission: 'command.ack' },
    { text: 'resolve 801', roles: '*oncall*, *lead* or *ops*', permission: 'command.resolve' },
    { text: 'digest', roles: '*ops* or *lead*', permission: 'command.digest' },
    { text: 'backup now', roles: '*ops*', permission: 'command.backup' },
    { text: 'audit', roles: '*security*', permission: 'command.audit' },
    { text: 'key list', roles: '*security* or *admin*', permission: 'command.key' },
    { text: 'help', roles: '*lead*', permission: 'command.help' },
    { text: 'incidents', roles: '*lead*', permission: 'command.incidents' },
    { text: 'health', roles: '*lead*', permission: 'command.health' },
    { text: 'jobs run housekeeping', roles: '*lead*', permission: 'command.jobs' },
    { text: 'oncall override <@U0OPS> 4h', roles: '*lead*', permission: 'command.oncall' },
    { text: 'trigger P1 Checkout is down', roles: '*oncall*, *lead* or *ops*', permission: 'command.trigger' },
    { text: 'note 801 looking into it', roles: '*oncall*, *lead* or *ops*', permission: 'command.note' },
    { text: 'reassign 801 oncall', roles: '*oncall*, *lead* or *ops*', permission: 'command.reassign' },
    { text: 'priority 801 P2', roles: '*oncall*, *lead* or *ops*', permission: 'command.priority' },
    { text: 'escalate 801', roles: '*oncall*, *lead* or *ops*', permission: 'command.escalate' },
    { text: 'hotfix main broken login', roles: '*oncall*, *lead* or *ops*', permission: 'command.hotfix' },
    { text: 'sop runs', roles: '*lead*', permission: 'command.sop' },
    { text: 'deploy log', roles: '*ops* or *lead*', permission: 'command.deploy' },
    { text: 'whoami', roles: '*lead*', permission: 'command.whoami' },
    { text: 'security someone logged in', roles: '*security*, *lead* or *oncall*', permission: 'command.security' },
    { text: 'review https://example.com/pr/1', roles: '*lead*, *ops* or *oncall*', permission: 'command.review' },
    { text: 'onboard', roles: '*lead*', permission: 'command.onboard' },
    { text: 'compliance', roles: '*security* or *lead*', permission: 'command.compliance' },
  ];

  it('covers every verb the bot has', () => {
    expect(commands.map((c) => c.text.split(' ')[0]).sort()).toEqual(COMMANDS.map((c) => c.name).sort());
  });

  it.each(commands)('/waygate $text as someone without the role: denied naming $roles, audited, nothing else changes', async ({ text, roles, permission }) => {
    const before = await effects(bot);
    const res = await bot.signer.slashCommand({ text, userId: USERS.nobody, responseUrl: bot.slack.responseUrl() });
    expect(res.status).toBe(200);
    expect(res.json.text).toBe(`Sorry, \`/waygate ${text.split(' ')[0]}\` needs the ${roles} role. ${ASK}`);
    await bot.settle();
    expect(await lastDenial(bot)).toEqual({ actor: USERS.nobody, details: expect.objectContaining({ permission, rule: 'role' }) });
    expect(await lastRequest(bot)).toEqual({ actor: USERS.nobody, action: 'command.run', subject: text.split(' ')[0], outcome: 'denied' });
    expect(await effects(bot)).toEqual(before);
  });

  it('/waygate jobs run needs job.run on top of the verb: a lead who may list jobs may not run one', async () => {
    const before = await effects(bot);
    const res = await bot.signer.slashCommand({ text: 'jobs run housekeeping', userId: USERS.lead, responseUrl: bot.slack.responseUrl() });
    expect(res.json.text).toBe(`Sorry, \`/waygate jobs run\` needs the *ops* or *admin* role. ${ASK}`);
    await bot.settle();
    expect(await lastDenial(bot)).toEqual({ actor: USERS.lead, details: expect.objectContaining({ permission: 'job.run' }) });
    expect(await effects(bot)).toEqual(before);
  });

  const buttons: Array<{ name: string; actionId: string; value: () => string; channel: string; what: string; roles: string; permission: string }> = [
    { name: 'Acknowledge', actionId: INCIDENT_ACTIONS.acknowledge, value: () => 'PPERM01', channel: 'C0ALERTS', what: 'that button', roles: '*oncall*, *lead* or *ops*', permission: 'incident.ack' },
    { name: 'Resolve', actionId: INCIDENT_ACTIONS.resolve, value: () => 'PPERM01', channel: 'C0ALERTS', what: 'that button', roles: '*oncall*, *lead* or *ops*', permission: 'incident.resolve' },
    { name: 'Acknowledge all P1', actionId: INCIDENT_ACTIONS.acknowledgeAllP1, value: () => '1', channel: 'C0ALERTS', what: 'that button', roles: '*oncall*, *lead* or *ops*', permission: 'incident.ack' },
    ...(['note', 'reassign', 'priority', 'escalate'] as const).map((op) => ({
      name: `menu's ${op}`,
      actionId: INCIDENT_ACTIONS.more,
      value: () => `${op}:801`,
      channel: 'C0ALERTS',
      what: 'that menu option',
      roles: '*oncall*, *lead* or *ops*',
      permission: `incident.${op}`,
    })),
    { name: 'Reviewed', actionId: DIGEST_ACTIONS.reviewed, value: () => '1', channel: 'C0OPS', what: 'marking the digest reviewed', roles: '*ops*, *lead* or *oncall*', permission: 'digest.review' },
  ];

  it.each(buttons)('the $name button as someone without the role: denied naming $roles, audited, nothing else changes', async ({ actionId, value, channel, what, roles, permission }) => {
    const before = await effects(bot);
    const responseId = `denied-${actionId}-${value()}`;
    const res = await bot.signer.blockAction({
      actionId,
      value: value(),
      userId: USERS.nobody,
      channelId: channel,
      messageTs: channel === 'C0OPS' ? digestTs : '1.000001',
      responseUrl: bot.slack.responseUrl(responseId),
    });
    expect(res.status).toBe(200);
    await bot.settle();
    expect(bot.slack.responsePosts(responseId).map((p) => p.body.text)).toEqual([`Sorry, ${what} needs the ${roles} role. ${ASK}`]);
    expect(await lastDenial(bot)).toEqual({ actor: USERS.nobody, details: expect.objectContaining({ permission, rule: 'role' }) });
    expect(await lastRequest(bot)).toEqual({ actor: USERS.nobody, action: 'interaction', subject: actionId, outcome: 'denied' });
    expect(await effects(bot)).toEqual(before);
  });

  it('counts denials by permission in /metrics', async () => {
    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    expect(metrics).toMatch(/waygate_permission_denials_total\{permission="incident.ack",rule="role"\} [1-9]/);
    expect(metrics).toMatch(/waygate_permission_denials_total\{permission="command.audit",rule="role"\} 1/);
  });
});

describe('the YAML permissions: section', () => {
  it('lets a custom role run jobs and takes job.run away from ops', async () => {
    const bot = await startTestBot({
      clock: new ManualClock(START),
      yaml: {
        ...DEFAULT_YAML,
        roles: { ...DEFAULT_YAML.roles, 'release-manager': ['U0RELMGR'] },
        permissions: { 'job.run': ['release-manager'] },
      },
    });
    try {
      const ops = await bot.signer.slashCommand({ text: 'jobs run housekeeping', userId: USERS.ops, responseUrl: bot.slack.responseUrl('ops') });
      expect(ops.json.text).toBe(`Sorry, \`/waygate jobs run\` needs the *release-manager* role. ${ASK}`);
      const manager = await bot.signer.slashCommand({ text: 'jobs run housekeeping', userId: 'U0RELMGR', responseUrl: bot.slack.responseUrl('rm') });
      expect(manager.json.text).toContain('Starting `housekeeping` now');
      await bot.settle();
      expect(bot.slack.responsePosts('rm')[0]?.body.text).toMatch(/`housekeeping` run #1 finished ✅ ok/);
    } finally {
      await bot.stop();
    }
  });

  it('decides who may press Reviewed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waygate-permissions-'));
    const bot = await startTestBot({
      clock: new ManualClock(START),
      yaml: {
        ...DEFAULT_YAML,
        service: { ...DEFAULT_YAML.service, logFile: join(dir, 'waygate.log'), database: join(dir, 'service.db') },
        backup: { dir: join(dir, 'backups'), configDir: null },
        permissions: { 'digest.review': ['security'] },
      },
    });
    try {
      await bot.signer.slashCommand({ text: 'digest', userId: USERS.ops, responseUrl: bot.slack.responseUrl() });
      await bot.settle();
      const digest = bot.slack.messages('C0OPS').at(-1)!;
      const press = async (userId: string, id: string) => {
        await bot.signer.blockAction({ actionId: DIGEST_ACTIONS.reviewed, value: '1', userId, channelId: 'C0OPS', messageTs: digest.ts, responseUrl: bot.slack.responseUrl(id) });
        await bot.settle();
        return bot.slack.responsePosts(id).map((p) => p.body.text);
      };
      expect(await press(USERS.ops, 'ops')).toEqual([`Sorry, marking the digest reviewed needs the *security* role. ${ASK}`]);
      expect(await press(USERS.security, 'sec')).toEqual([]);
      expect(JSON.stringify(bot.slack.messages('C0OPS').find((m) => m.ts === digest.ts)?.blocks)).toContain(`Reviewed by <@${USERS.security}>`);
    } finally {
      await bot.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('still lets the deprecated commandRoles.ack decide who may press the incident buttons', async () => {
    const bot = await startTestBot({ clock: new ManualClock(START), pagerDuty: true, yaml: { ...DEFAULT_YAML, commandRoles: { ack: ['lead'] } } });
    try {
      bot.pd!.addIncident({ id: 'PDEP001', number: 901, status: 'triggered', title: 'old config', priority: 'P1' });
      await bot.pdSigner.send(bot.pdSigner.incidentEvent('incident.triggered', { id: 'PDEP001', number: 901, priority: 'P1', title: 'old config', created_at: START }, { occurredAt: START }));
      await bot.waygate.inboxProcessor.whenIdle();
      await bot.settle();
      const alert = bot.slack.messages('C0ALERTS')[0]!;
      const press = async (userId: string, id: string) => {
        await bot.signer.blockAction({ actionId: INCIDENT_ACTIONS.acknowledge, value: 'PDEP001', userId, channelId: 'C0ALERTS', messageTs: alert.ts, responseUrl: bot.slack.responseUrl(id) });
        await bot.settle();
        return bot.slack.responsePosts(id).map((p) => p.body.text);
      };
      expect(await press(USERS.oncall, 'oncall')).toEqual([`Sorry, that button needs the *lead* role. ${ASK}`]);
      expect(await press(USERS.lead, 'lead')).toEqual([]);
      expect((await bot.waygate.services.incidents.get('PDEP001'))?.status).toBe('acknowledged');
    } finally {
      await bot.stop();
    }
  });

  it('commits what a click changes before Slack gets the ack', async () => {
    const bot = await startTestBot({ clock: new ManualClock(START), pagerDuty: true });
    try {
      bot.pd!.addIncident({ id: 'PACK001', number: 902, status: 'triggered', title: 'committed first', priority: 'P1' });
      await bot.pdSigner.send(bot.pdSigner.incidentEvent('incident.triggered', { id: 'PACK001', number: 902, priority: 'P1', title: 'committed first', created_at: START }, { occurredAt: START }));
      await bot.waygate.inboxProcessor.whenIdle();
      await bot.settle();
      const alert = bot.slack.messages('C0ALERTS')[0]!;
      const res = await bot.signer.blockAction({ actionId: INCIDENT_ACTIONS.acknowledge, value: 'PACK001', userId: USERS.oncall, channelId: 'C0ALERTS', messageTs: alert.ts, responseUrl: bot.slack.responseUrl('acked') });
      expect(res.status).toBe(200);
      // Nothing awaited after the ack: the acknowledgement, its audit row and its messages are already durable.
      expect(await bot.sql.value(sql`SELECT status FROM incidents WHERE id = 'PACK001'`)).toBe('acknowledged');
      expect(await bot.sql.value(sql`SELECT COUNT(*) FROM audit_log WHERE action = 'incident.acknowledged'`)).toBe(1);
      expect(await bot.sql.value(sql`SELECT COUNT(*) FROM outbox WHERE kind = 'pd_status'`)).toBe(1);
    } finally {
      await bot.stop();
    }
  });

  it('still reads the deprecated commandRoles for a verb', async () => {
    const bot = await startTestBot({ clock: new ManualClock(START), yaml: { ...DEFAULT_YAML, commandRoles: { audit: ['lead'] } } });
    try {
      const security = await bot.signer.slashCommand({ text: 'audit', userId: USERS.security, responseUrl: bot.slack.responseUrl() });
      expect(security.json.text).toBe(`Sorry, \`/waygate audit\` needs the *lead* role. ${ASK}`);
      // The denial and the request's record are written after the answer: the trail holds them once settled.
      await bot.settle();
      const lead = await bot.signer.slashCommand({ text: 'audit', userId: USERS.lead, responseUrl: bot.slack.responseUrl() });
      expect(lead.json.text).toContain('audit entries');
    } finally {
      await bot.stop();
    }
  });
});
