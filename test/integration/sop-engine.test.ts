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
    const audited = b.waygate.services.audit.recent(30).find((e) => e.action === 'sop.override');
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
});
