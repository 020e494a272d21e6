import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { SOP_ACTIONS, SOP_VIEWS } from '../../src/sops/actions.js';
import { DEFAULT_YAML, USERS, startTestBot, type TestBot } from '../helpers/bot.js';
import { startHealthServer, type HealthServer } from '../helpers/health-server.js';

// Tuesday 3 March 2026, 15:00 in Berlin: inside the default maintenance window (tue, thu 14:00–16:00).
const TUESDAY = '2026-03-03T14:00:00.000Z';
// Monday 2 March 2026, 10:00 in Berlin: outside it.
const MONDAY = '2026-03-02T09:00:00.000Z';
const LEAD2 = 'U0LEAD2';
const ITEMS = ['tests', 'security-scan', 'change-ticket', 'rollback-plan', 'team-notified'];

type Block = { type: string; block_id?: string; elements?: Array<{ type?: string; action_id?: string; value?: string }> };

describe('production deploys behind the checklist (SOP-OPS-001)', () => {
  let bot: TestBot | undefined;
  let dir: string;
  let health: HealthServer;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-deploy-'));
    health = await startHealthServer();
  });
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
    await health.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fixture script that logs its name and arguments, then prints a line. */
  function fixture(name: string): string {
    const path = join(dir, `${name}.sh`);
    writeFileSync(path, `#!/bin/sh\necho "${name} $*" >> "${join(dir, 'runs.log')}"\necho "${name} done"\n`);
    chmodSync(path, 0o755);
    return path;
  }
  const runsLogged = (): string[] => (existsSync(join(dir, 'runs.log')) ? readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n').map((l) => l.trim()) : []);

  async function start(at: string): Promise<TestBot> {
    const yaml = {
      ...DEFAULT_YAML,
      channels: { ...DEFAULT_YAML.channels, announcements: 'C0ANNOUNCE' },
      roles: { ...DEFAULT_YAML.roles, lead: [USERS.lead, LEAD2] },
      service: { ...DEFAULT_YAML.service, healthUrl: health.url },
      scripts: Object.fromEntries(
        ['deploy-staging', 'test-staging', 'deploy-production', 'rollback-production'].map((name) => [name, { run: [fixture(name), ...(name.startsWith('deploy') ? ['{version}'] : [])], timeout: '10s' }]),
      ),
      deploy: { watchFor: '24h' },
    };
    return (bot = await startTestBot({ clock: new ManualClock(at), yaml }));
  }

  const command = (b: TestBot, text: string, userId: string) => b.signer.slashCommand({ text, userId, responseUrl: b.slack.responseUrl() });
  const runMessage = (b: TestBot, id: number) => b.slack.messages('C0OPS').find((m) => !m.thread_ts && / run #\d+:/.test(m.text) && m.text.includes(` run #${id}:`));
  const thread = (b: TestBot, id: number) => b.slack.messages('C0OPS').filter((m) => m.thread_ts !== undefined && m.thread_ts === runMessage(b, id)?.ts).map((m) => m.text);
  const elementOf = (b: TestBot, id: number, actionId: string) =>
    ((runMessage(b, id)?.blocks ?? []) as Block[]).flatMap((bl) => (bl.elements ?? []).map((e) => ({ ...e, blockId: bl.block_id }))).find((e) => e.action_id === actionId);
  async function settle(b: TestBot): Promise<void> {
    for (let i = 0; i < 4; i++) {
      await b.settle();
      await b.waygate.sops.whenIdle();
    }
  }
  const click = async (b: TestBot, id: number, actionId: string, userId: string): Promise<string[]> => {
    const responseId = `${actionId}-${userId}-${Math.random()}`;
    await b.signer.blockAction({ actionId, value: elementOf(b, id, actionId)!.value!, userId, channelId: 'C0OPS', messageTs: runMessage(b, id)!.ts, responseUrl: b.slack.responseUrl(responseId) });
    await settle(b);
    return b.slack.responsePosts(responseId).map((p) => (p.body as { text?: string }).text ?? '');
  };
  const tick = async (b: TestBot, id: number, selected: string[], userId = USERS.ops) => {
    const box = elementOf(b, id, SOP_ACTIONS.tick)!;
    await b.signer.blockAction({ actionId: SOP_ACTIONS.tick, type: 'checkboxes', blockId: box.blockId!, selectedOptions: selected, userId, channelId: 'C0OPS', messageTs: runMessage(b, id)!.ts, responseUrl: b.slack.responseUrl() });
    await settle(b);
  };
  /** Ticks every item; the change ticket asks for its link in a modal. */
  async function tickAll(b: TestBot, id: number): Promise<void> {
    await tick(b, id, ITEMS);
    const view = b.slack.views().at(-1)!;
    expect(view.callbackId).toBe(SOP_VIEWS.itemInputs);
    const bad = await b.signer.viewSubmission({ userId: USERS.ops, callbackId: view.callbackId, privateMetadata: view.privateMetadata, values: { 'change-ticket': { value: { type: 'plain_text_input', value: 'javascript:alert(1)' } } } });
    expect(bad.json).toMatchObject({ response_action: 'errors', errors: { 'change-ticket': 'Give an http(s) link' } });
    await b.signer.viewSubmission({ userId: USERS.ops, callbackId: view.callbackId, privateMetadata: view.privateMetadata, values: { 'change-ticket': { value: { type: 'plain_text_input', value: 'https://tickets.example.com/CHG-42' } } } });
    await settle(b);
  }

  it('with everything in place: checklist, a lead’s approval, deploy, verify, announcement, watch summary, and Rollback that works', async () => {
    const b = await start(TUESDAY);
    expect((await command(b, 'deploy staging v1.4.0', USERS.ops)).json.text).toBe('Started *Staging deployment* run #1; follow it in <#C0OPS>.');
    await settle(b);
    expect(runMessage(b, 1)?.text).toBe('Staging deployment run #1: done');
    expect(runsLogged()).toEqual(['deploy-staging v1.4.0', 'test-staging']);

    await command(b, 'deploy production v1.4.0', USERS.ops);
    await settle(b);
    expect(JSON.stringify(runMessage(b, 2)?.blocks)).toContain('*Step 1 of 7* — waiting for the checklist (5 of 5 left)');
    // Unticked boxes: nothing can be approved or deployed yet.
    expect(elementOf(b, 2, SOP_ACTIONS.approve)).toBeUndefined();
    await tickAll(b, 2);
    const checklist = JSON.stringify(runMessage(b, 2)?.blocks);
    expect(checklist).toContain('*Step 2 of 7* — waiting for a *lead* approval');

    expect(await click(b, 2, SOP_ACTIONS.approve, USERS.ops)).toEqual([expect.stringContaining('approving this needs the *lead* role')]);
    await click(b, 2, SOP_ACTIONS.approve, USERS.lead);
    expect(runsLogged()).toContain('deploy-production v1.4.0');
    const shown = JSON.stringify(runMessage(b, 2)?.blocks);
    expect(shown).toContain('*Step 7 of 7* — watching the service after the deploy');
    expect(shown).toContain('health URL answered 200');
    expect(shown).toContain('skipped: `test-production` is not configured');
    expect(b.slack.messages('C0ANNOUNCE').map((m) => m.text)).toEqual(['A new version of Waygate MCP is live in production. (Production deployment run #2)']);
    // An alert during the next 24 h names the change, with a link to its thread (SOP-MON-001's first question).
    await command(b, 'trigger P2 Errors after release', USERS.oncall);
    await settle(b);
    const card = b.slack.messages('C0ALERTS').find((m) => m.text.includes('Errors after release'));
    const shownCard = JSON.stringify(card?.blocks);
    expect(shownCard).toContain(`Recent changes: Production deployment \`v1.4.0\` by <@${USERS.ops}> <!date^`);
    expect(shownCard).toContain(`(<https://slack.com/archives/C0OPS/p${runMessage(b, 2)!.ts.replace('.', '')}|thread>)`);
    // Staging is not a change to production.
    expect(shownCard).not.toContain('Staging deployment');

    // The first hour is watched closely: a failing check is said at once (once), and so is the recovery.
    const deployedAt = b.clock.nowMs();
    health.status = 503;
    await b.advanceTo(deployedAt + 2 * 60_000 + 1_000);
    await settle(b);
    await b.advanceTo(deployedAt + 3 * 60_000 + 2_000);
    await settle(b);
    const failures = thread(b, 2).filter((t) => t.includes('failed a health check'));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^⚠️ <@U0OPS> the service failed a health check \d+ min after the deploy: /);
    health.status = 200;
    await b.advanceTo(deployedAt + 5 * 60_000);
    await settle(b);
    expect(thread(b, 2)).toContain('✅ The service answers its health check again (HTTP 200).');

    // A day later the watch posts its summary in the thread, and the run offers Rollback.
    await b.advanceTo(Date.parse(TUESDAY) + 24 * 3_600_000 + 60_000);
    await settle(b);
    expect(thread(b, 2)).toContain('📊 Since the deploy: no health checks ran; 0 ERROR line(s) counted; 1 incident(s) opened: #9000001 Errors after release.');
    expect(runMessage(b, 2)?.text).toBe('Production deployment run #2: done');
    expect(await click(b, 2, SOP_ACTIONS.rollback, USERS.ops)).toEqual([expect.stringContaining('rolling back needs the *lead* role')]);
    await click(b, 2, SOP_ACTIONS.rollback, USERS.lead);
    expect(runsLogged().at(-1)).toBe('rollback-production');
    expect(runMessage(b, 3)?.text).toBe('Production rollback run #3: done');
    expect(JSON.stringify(runMessage(b, 2)?.blocks)).toContain(`↩️ Rolled back by <@${USERS.lead}>`);

    const log = await command(b, 'deploy log', USERS.lead);
    expect(log.json.text).toContain(`*Production deployment* \`v1.4.0\` (run #2) by <@${USERS.ops}>, approved by <@${USERS.lead}>: done, rolled back by <@${USERS.lead}> (run #3)`);
    expect(log.json.text).toContain('*Staging deployment* `v1.4.0` (run #1)');
  });

  it('holds the deploy for a version that did not pass staging, outside the window and during an open P1, each with its reason', async () => {
    const b = await start(MONDAY);
    await command(b, 'trigger P1 Payments failing', USERS.oncall);
    await command(b, 'deploy production v2.0.0', USERS.ops);
    await settle(b);
    await tickAll(b, 1);
    await click(b, 1, SOP_ACTIONS.approve, LEAD2);
    const shown = JSON.stringify(runMessage(b, 1)?.blocks);
    expect(shown).toContain('*Step 3 of 7* — held: `v2.0.0` has not passed staging (no completed `/waygate deploy staging v2.0.0`); outside the maintenance window (tue, thu 14:00–16:00 Europe/Berlin); deploy freeze: a P1 incident is open');
    expect(runsLogged()).toEqual([]);
    expect(thread(b, 1)).toContainEqual(expect.stringContaining('⏸️ Step 3 (Deploy to production) is held'));
    // Refused with the reason: a second deploy while this one holds production.
    expect((await command(b, 'deploy production v2.0.1', USERS.lead)).json.text).toContain('`production` is held by run #1 (Production deployment)');
  });

  it('refuses injection attempts in the version before anything exists, and says which rule', async () => {
    const b = await start(TUESDAY);
    for (const version of ['v1.2.3;id', '$(id)', '`id`', '--exec=x', '../v1', 'v1.2.3\nid']) {
      const res = await command(b, `deploy production "${version}"`, USERS.ops);
      expect(res.json.text).toMatch(/^Refused: `version` /);
    }
    await settle(b);
    expect(runsLogged()).toEqual([]);
    expect(await b.waygate.sops.active()).toEqual([]);
    expect((await command(b, 'deploy log', USERS.ops)).json.text).toBe('No deployments yet.');
  });
});
