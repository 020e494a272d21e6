import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { SOP_ACTIONS, SOP_VIEWS } from '../../src/sops/actions.js';
import { loadCatalog } from '../../src/sops/catalog.js';
import { DEFAULT_YAML, USERS, startTestBot, type TestBot } from '../helpers/bot.js';

// Monday 2 March 2026, 10:00 in Berlin: outside the default maintenance window (tue, thu 14:00–16:00).
const MONDAY = '2026-03-02T09:00:00.000Z';

const GUARDED = `
id: guarded-release
title: Guarded release
owner: lead
channel: ops
params: { version: version }
permissions: { start: [ops], approve: [lead] }
steps:
  - { id: checks, kind: checklist, title: Ready, items: [{ id: tests, text: Tests passing }] }
  - { id: tell, kind: notify, title: Tell the requester, to: requester, text: The release is about to start }
  - { id: release, kind: script, title: Release, script: release, when: [maintenanceWindow, noOpenP1] }
`;

describe('the procedure engine on a team’s definition', () => {
  let bot: TestBot | undefined;
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-sops-'));
    mkdirSync(join(dir, 'sops'));
    writeFileSync(join(dir, 'sops', 'guarded-release.yml'), GUARDED);
  });
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const command = (b: TestBot, text: string, userId: string) => b.signer.slashCommand({ text, userId, responseUrl: b.slack.responseUrl() });
  const runMessage = (b: TestBot) => b.slack.messages('C0OPS').find((m) => !m.thread_ts && m.text.startsWith('Guarded release run #'));
  const element = (b: TestBot, actionId: string) =>
    ((runMessage(b)?.blocks ?? []) as Array<{ block_id?: string; elements?: Array<{ action_id?: string; value?: string }> }>).flatMap((bl) => (bl.elements ?? []).map((e) => ({ ...e, block_id: bl.block_id }))).find((e) => e.action_id === actionId);
  async function settle(b: TestBot): Promise<void> {
    for (let i = 0; i < 4; i++) {
      await b.settle();
      await b.waygate.sops.whenIdle();
    }
  }

  it('holds a guarded step with its reasons until a lead overrides with a reason; then it runs', async () => {
    const b = (bot = await startTestBot({
      clock: new ManualClock(MONDAY),
      yaml: { ...DEFAULT_YAML, scripts: { release: { run: ['/bin/echo', 'releasing', '{version}'], timeout: '10s' } } },
      overrides: { sopsDir: join(dir, 'sops') },
    }));
    expect((await command(b, 'sop run guarded-release version=v2.0.0', USERS.oncall)).json.text).toContain('starting guarded release needs the *ops* role');
    expect((await command(b, 'sop run nothing-here', USERS.ops)).json.text).toBe('There is no procedure `nothing-here`.');
    expect((await command(b, 'sop run guarded-release version=2.0', USERS.ops)).json.text).toBe('Refused: `version` must be a version such as v1.2.3 (optionally v1.2.3-rc.1). Nothing was started.');
    expect((await command(b, 'sop run guarded-release', USERS.ops)).json.text).toBe('`version` is missing.');
    await command(b, 'trigger P1 Checkout down', USERS.oncall);
    expect((await command(b, 'sop run guarded-release version=v2.0.0', USERS.ops)).json.text).toBe('Started *Guarded release* run #1; follow it in <#C0OPS>.');
    await settle(b);
    expect((await command(b, 'sop runs', USERS.nobody)).json.text).toContain('• *Guarded release* run #1 by <@U0OPS>');

    const tick = element(b, SOP_ACTIONS.tick)!;
    await b.signer.blockAction({ actionId: SOP_ACTIONS.tick, type: 'checkboxes', blockId: tick.block_id!, selectedOptions: ['tests'], userId: USERS.ops, channelId: 'C0OPS', messageTs: runMessage(b)!.ts, responseUrl: b.slack.responseUrl() });
    await settle(b);
    expect(b.slack.messages(USERS.ops).map((m) => m.text)).toEqual(['The release is about to start (Guarded release run #1)']);
    const shown = JSON.stringify(runMessage(b)?.blocks);
    expect(shown).toContain('held: outside the maintenance window (tue, thu 14:00–16:00 Europe/Berlin); deploy freeze: a P1 incident is open (#9000001 Checkout down)');

    const override = element(b, SOP_ACTIONS.override)!;
    const refused = b.slack.responseUrl('ops-override');
    await b.signer.blockAction({ actionId: SOP_ACTIONS.override, value: override.value!, userId: USERS.ops, channelId: 'C0OPS', messageTs: runMessage(b)!.ts, responseUrl: refused });
    await settle(b);
    expect(b.slack.responsePosts('ops-override').map((p) => (p.body as { text?: string }).text)).toEqual([expect.stringContaining('overriding a hold needs the *lead* role')]);
    await b.signer.blockAction({ actionId: SOP_ACTIONS.override, value: override.value!, userId: USERS.lead, channelId: 'C0OPS', messageTs: runMessage(b)!.ts, responseUrl: b.slack.responseUrl() });
    const view = b.slack.views().at(-1)!;
    expect(view.callbackId).toBe(SOP_VIEWS.override);
    await b.signer.viewSubmission({ userId: USERS.lead, callbackId: SOP_VIEWS.override, privateMetadata: view.privateMetadata, values: { reason: { value: { type: 'plain_text_input', value: 'Security fix for the P1' } } } });
    await settle(b);
    expect(runMessage(b)?.text).toBe('Guarded release run #1: done');
    expect(JSON.stringify(runMessage(b)?.blocks)).toContain(`overridden by <@${USERS.lead}>: Security fix for the P1`);
    expect(b.slack.messages('C0OPS').find((m) => m.text.includes('`release`'))?.text).toContain('releasing v2.0.0');
    const audited = (await b.waygate.services.audit.recent(30)).find((e) => e.action === 'sop.override');
    expect(audited?.actor).toBe(USERS.lead);
    expect(JSON.parse(audited?.details ?? '{}')).toMatchObject({ reason: 'Security fix for the P1', guards: ['maintenanceWindow', 'noOpenP1'] });
    // A stale click on the message as it was drawn before changes nothing.
    const stale = b.slack.responseUrl('stale');
    await b.signer.blockAction({ actionId: SOP_ACTIONS.override, value: override.value!, userId: USERS.lead, channelId: 'C0OPS', messageTs: runMessage(b)!.ts, responseUrl: stale });
    await settle(b);
    expect(b.slack.responsePosts('stale').map((p) => (p.body as { text?: string }).text)).toEqual([expect.stringContaining('This message has changed since it was drawn')]);
  });

  it('refuses to start with a definition file that does not validate, naming the file and the field', async () => {
    writeFileSync(join(dir, 'sops', 'broken.yml'), 'id: Broken Id\ntitle: x\n');
    writeFileSync(join(dir, 'sops', 'copy.yml'), GUARDED);
    const outcome = loadCatalog(join(dir, 'sops'));
    expect(outcome.ok).toBe(false);
    const problems = outcome.ok ? [] : outcome.problems;
    expect(problems).toContain('broken.yml: id: must be lower-case words joined by dashes, such as deploy-production');
    expect(problems).toContain('guarded-release.yml: id guarded-release is already used by another file');
    await expect(startTestBot({ overrides: { sopsDir: join(dir, 'sops') } })).rejects.toThrow('broken.yml: id: must be lower-case words');
  });

  it("runs a team's own procedure from its folder end to end: checklist, a lead's approval (not the requester's), a script", async () => {
    const team = join(dir, 'team');
    mkdirSync(team);
    writeFileSync(
      join(team, 'release-notes.yml'),
      `id: release-notes\ntitle: Release notes\nowner: lead\nchannel: ops\nparams: { version: version }\npermissions: { start: [ops, lead], approve: [lead] }\nsteps:\n  - { id: ready, kind: checklist, title: Ready, items: [{ id: notes, text: Notes written }] }\n  - { id: ok, kind: approval, title: Lead approval }\n  - { id: publish, kind: script, title: Publish, script: publish-notes }\n`,
    );
    const yaml = { ...DEFAULT_YAML, roles: { ...DEFAULT_YAML.roles, lead: [USERS.lead, 'U0LEAD2'] }, sops: { dir: team }, scripts: { 'publish-notes': { run: ['/bin/echo', 'publishing', '{version}'] } } };
    const b = (bot = await startTestBot({ clock: new ManualClock(MONDAY), yaml }));
    expect((await command(b, 'sop run release-notes version=v3.1.0', USERS.lead)).json.text).toBe('Started *Release notes* run #1; follow it in <#C0OPS>.');
    await settle(b);
    const message = () => b.slack.messages('C0OPS').find((m) => !m.thread_ts && m.text.startsWith('Release notes run #1'));
    const el = (actionId: string) =>
      ((message()?.blocks ?? []) as Array<{ block_id?: string; elements?: Array<{ action_id?: string; value?: string }> }>).flatMap((bl) => (bl.elements ?? []).map((e) => ({ ...e, block_id: bl.block_id }))).find((e) => e.action_id === actionId)!;
    await b.signer.blockAction({ actionId: SOP_ACTIONS.tick, type: 'checkboxes', blockId: el(SOP_ACTIONS.tick).block_id!, selectedOptions: ['notes'], userId: USERS.lead, channelId: 'C0OPS', messageTs: message()!.ts, responseUrl: b.slack.responseUrl() });
    await settle(b);
    const own = b.slack.responseUrl('own');
    await b.signer.blockAction({ actionId: SOP_ACTIONS.approve, value: el(SOP_ACTIONS.approve).value!, userId: USERS.lead, channelId: 'C0OPS', messageTs: message()!.ts, responseUrl: own });
    await settle(b);
    expect(b.slack.responsePosts('own').map((p) => (p.body as { text?: string }).text)).toEqual(['You requested this, so someone else must approve it (four-eyes rule); nothing was done.']);
    await b.signer.blockAction({ actionId: SOP_ACTIONS.approve, value: el(SOP_ACTIONS.approve).value!, userId: 'U0LEAD2', channelId: 'C0OPS', messageTs: message()!.ts, responseUrl: b.slack.responseUrl() });
    await settle(b);
    expect(message()?.text).toBe('Release notes run #1: done');
    expect(b.slack.messages('C0OPS').find((m) => m.text.includes('`publish-notes`'))?.text).toContain('publishing v3.1.0');
  });

  it("stops start-up naming the file and the field for a malformed team file, and for one naming a script outside the allow-list", async () => {
    const team = join(dir, 'team');
    mkdirSync(team);
    writeFileSync(join(team, 'bad.yml'), 'id: bad\ntitle: Bad\nowner: lead\nchannel: ops\npermissions: { start: [ops] }\nsteps:\n  - { id: s, kind: script, title: S }\n');
    await expect(startTestBot({ yaml: { ...DEFAULT_YAML, sops: { dir: team } } })).rejects.toThrow(`${team}/bad.yml: steps.0.script:`);
    writeFileSync(join(team, 'bad.yml'), 'id: bad\ntitle: Bad\nowner: lead\nchannel: ops\npermissions: { start: [ops] }\nsteps:\n  - { id: s, kind: script, title: S, script: wipe-disk }\n');
    await expect(startTestBot({ yaml: { ...DEFAULT_YAML, sops: { dir: team } } })).rejects.toThrow(`${team}/bad.yml: steps.0.script: wipe-disk is not in the scripts: allow-list of the config`);
  });

  it('lists the SOP catalog by chapter, shows one with Start where the caller may start it, and says who the caller is', async () => {
    const b = (bot = await startTestBot({ clock: new ManualClock(MONDAY) }));
    const listed = JSON.stringify((await command(b, 'sop', USERS.nobody)).json.blocks);
    for (const chapter of ['Development', 'Deployment', 'Maintenance', 'Monitoring', 'Security', 'Backup', 'Documentation', 'Training', 'Compliance']) expect(listed).toContain(`*${chapter}*`);
    expect(listed).toContain('*SOP-SEC-001* Security Incident Response — Security Team, As needed');
    expect(listed).toContain('*SOP-BACK-001* Daily Backup — Operations Team, Daily _(runs itself)_');

    const asSecurity = JSON.stringify((await command(b, 'sop SOP-SEC-001', USERS.security)).json.blocks);
    expect(asSecurity).toContain('Handle security incidents effectively');
    expect(asSecurity).toContain('1. Detection _(checklist)_: Alert received; Anomaly detected; Report received');
    // It takes a summary: started with its command, not a bare button.
    expect(asSecurity).toContain('Start it with `/waygate sop run security-incident summary=…`');
    const asNobody = JSON.stringify((await command(b, 'sop sop-sec-001', USERS.nobody)).json.blocks);
    expect(asNobody).not.toContain('Start it with');
    expect(asNobody).toContain('Starting it needs the *security*, *lead* or *oncall* role.');
    expect((await command(b, 'sop SOP-XYZ-999', USERS.ops)).json.text).toBe('There is no procedure `SOP-XYZ-999`. `/waygate sop` lists them.');

    // Start from the catalog: a procedure without parameters has a Start button, and the run opens in its channel.
    const shown = (await command(b, 'sop SOP-DOC-001', USERS.ops)).json.blocks as Array<{ elements?: Array<{ action_id?: string; value?: string }> }>;
    const start = shown.flatMap((bl) => bl.elements ?? []).find((e) => e.action_id === SOP_ACTIONS.start)!;
    const told = b.slack.responseUrl('started');
    await b.signer.blockAction({ actionId: SOP_ACTIONS.start, value: start.value!, userId: USERS.ops, channelId: 'C0OPS', messageTs: '1.000001', responseUrl: told });
    await settle(b);
    expect(b.slack.responsePosts('started').map((p) => (p.body as { text?: string }).text)).toEqual(['Started *Documentation Updates* run #1; follow it in <#C0OPS>.']);
    expect(b.slack.messages('C0OPS').find((m) => !m.thread_ts)?.text).toBe('Documentation Updates run #1: step 1 of 4');

    const me = (await command(b, 'whoami', USERS.security)).json.text;
    expect(me).toContain('*Roles:* *security*');
    expect(me).toContain('`security-incident` (SOP-SEC-001)');
    expect((await command(b, 'whoami', USERS.nobody)).json.text).toContain('*Roles:* _none_');
  });
});
