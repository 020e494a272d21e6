import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { SOP_ACTIONS, SOP_VIEWS } from '../../src/sops/actions.js';
import { DEFAULT_YAML, USERS, startTestBot, type TestBot } from '../helpers/bot.js';
import { startHealthServer, type HealthServer } from '../helpers/health-server.js';

// Tuesday 3 March 2026, 15:00 in Berlin.
const START = '2026-03-03T14:00:00.000Z';
const LEAD2 = 'U0LEAD2';

/** Gone, or a zombie nobody reaps (PID 1 in a container may not): either way it runs no more. */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z';
}

describe('hotfixes that leads approve with buttons (SOP-OPS-002)', () => {
  let bot: TestBot | undefined;
  let dir: string;
  let health: HealthServer;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-hotfix-'));
    health = await startHealthServer();
  });
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
    await health.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fixture script: records each run (its argv) in runs.log, then does `body`. */
  function fixture(name: string, body: string): string {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\necho "$@" >> "${join(dir, 'runs.log')}"\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  }
  const runsLogged = (): string[] => (existsSync(join(dir, 'runs.log')) ? readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n').filter(Boolean) : []);

  async function start(script: string, opts: { timeout?: string; sopsDir?: string } = {}): Promise<TestBot> {
    const yaml = {
      ...DEFAULT_YAML,
      roles: { ...DEFAULT_YAML.roles, lead: [USERS.lead, LEAD2] },
      service: { ...DEFAULT_YAML.service, healthUrl: health.url },
      scripts: { 'emergency-deploy': { run: [script, '{ref}'], timeout: opts.timeout ?? '30s' } },
    };
    return (bot = await startTestBot({ clock: new ManualClock(START), yaml, ...(opts.sopsDir ? { overrides: { sopsDir: opts.sopsDir } } : {}) }));
  }

  const command = (b: TestBot, text: string, userId: string) => b.signer.slashCommand({ text, userId, responseUrl: b.slack.responseUrl() });
  const runMessage = (b: TestBot) => b.slack.messages('C0OPS').find((m) => !m.thread_ts && m.text.startsWith('Hotfix run #'));
  const thread = (b: TestBot) => {
    const parent = runMessage(b);
    return b.slack.messages('C0OPS').filter((m) => parent && m.thread_ts === parent.ts);
  };
  /** The value a button of the run's current message carries. */
  const buttonValue = (b: TestBot, actionId: string): string => {
    const blocks = (runMessage(b)?.blocks ?? []) as Array<{ elements?: Array<{ action_id?: string; value?: string }> }>;
    const element = blocks.flatMap((bl) => bl.elements ?? []).find((e) => e.action_id === actionId);
    if (element?.value === undefined) throw new Error(`no ${actionId} button on the run message: ${JSON.stringify(blocks)}`);
    return element.value;
  };
  const click = (b: TestBot, actionId: string, userId: string, responseId = `${actionId}-${userId}-${Math.random()}`) =>
    b.signer.blockAction({ actionId, value: buttonValue(b, actionId), userId, channelId: 'C0OPS', messageTs: runMessage(b)!.ts, responseUrl: b.slack.responseUrl(responseId) }).then(() => responseId);
  const told = (b: TestBot, responseId: string) => b.slack.responsePosts(responseId).map((p) => (p.body as { text?: string }).text ?? '');
  /** Clicks, lets everything it causes happen, and returns what the clicker was told. */
  const clickAndHear = async (b: TestBot, actionId: string, userId: string): Promise<string[]> => {
    const id = await click(b, actionId, userId);
    await settle(b);
    return told(b, id);
  };
  async function settle(b: TestBot): Promise<void> {
    for (let i = 0; i < 5; i++) {
      await b.settle();
      await b.waygate.sops.whenIdle();
    }
    await b.settle();
  }

  it('a lead who is not the requester approves; the deploy runs exactly once with its output in the thread, then verify, then the follow-up', async () => {
    const b = await start(fixture('deploy.sh', 'echo "deploying $1"\necho "migrations ok"\necho "released $1"'));
    const asked = await command(b, 'hotfix hotfix/login-timeout Users are logged out after 5 minutes', USERS.lead);
    expect(asked.json.text).toBe('Started *Hotfix* run #1; follow it in <#C0OPS>.');
    await settle(b);
    const message = runMessage(b)!;
    expect(message.text).toBe('Hotfix run #1: step 1 of 4');
    const shown = JSON.stringify(message.blocks);
    expect(shown).toContain('*Step 1 of 4* — waiting for a *lead* approval');
    expect(shown).toContain(`by <@${USERS.lead}>`);
    expect(thread(b).map((m) => m.text)).toContainEqual(`*Hotfix* \`hotfix/login-timeout\` requested by <@${USERS.lead}>: Users are logged out after 5 minutes`);
    expect(thread(b).find((m) => m.text.startsWith('🙋'))?.reply_broadcast).toBe(true);

    // Someone without the role, and the requester, change nothing and hear why.
    expect(await clickAndHear(b, SOP_ACTIONS.approve, USERS.ops)).toEqual([expect.stringContaining('approving this needs the *lead* role')]);
    expect(await clickAndHear(b, SOP_ACTIONS.approve, USERS.lead)).toEqual(['You requested this, so someone else must approve it (four-eyes rule); nothing was done.']);
    expect(runsLogged()).toEqual([]);

    // Two clicks of the other lead at once: one approval, one script run; the second click is told why.
    const [first, second] = await Promise.all([click(b, SOP_ACTIONS.approve, LEAD2, 'a'), click(b, SOP_ACTIONS.approve, LEAD2, 'b')]);
    await settle(b);
    expect([...told(b, first), ...told(b, second)]).toEqual([`Already approved by <@${LEAD2}>; nothing more to do.`]);
    expect(runsLogged()).toEqual(['hotfix/login-timeout']);

    const output = thread(b).find((m) => m.text.includes('`emergency-deploy`'));
    expect(output?.text).toContain('✅ `emergency-deploy` finished: exit 0 after');
    expect(output?.text).toContain('deploying hotfix/login-timeout\nmigrations ok\nreleased hotfix/login-timeout');
    const after = JSON.stringify(runMessage(b)?.blocks);
    expect(after).toContain('*Step 4 of 4* — waiting for the checklist (4 of 4 left)');
    expect(after).toContain(`approved by <@${LEAD2}>`);
    expect(after).toContain('health URL answered 200 on attempt 1 of 3');

    // The follow-up is reminded to the requester daily until it is complete.
    await b.advanceTo(b.clock.nowMs() + 24 * 3_600_000 + 1_000);
    await settle(b);
    const reminder = '📋 Follow-up is still open (4 of 4): Create post-mortem; Backport to develop; Schedule root cause analysis; Update CHANGELOG. (Hotfix run #1)';
    expect(b.slack.messages(USERS.lead).map((m) => m.text)).toEqual([reminder]);

    // The follow-up checklist records who ticked what; the run completes when all is ticked.
    const tick = (selected: string[]) =>
      b.signer.blockAction({
        actionId: SOP_ACTIONS.tick,
        type: 'checkboxes',
        blockId: JSON.parse(JSON.stringify(runMessage(b)!.blocks)).find((bl: { type: string; elements?: Array<{ type: string }> }) => bl.elements?.[0]?.type === 'checkboxes').block_id,
        selectedOptions: selected,
        userId: USERS.lead,
        channelId: 'C0OPS',
        messageTs: runMessage(b)!.ts,
        responseUrl: b.slack.responseUrl(),
      });
    await tick(['post-mortem', 'backport']);
    await settle(b);
    expect(JSON.stringify(runMessage(b)?.blocks)).toContain('(2 of 4 left)');
    expect(JSON.stringify(runMessage(b)?.blocks)).toContain(`Create post-mortem: <@${USERS.lead}>`);
    await tick(['post-mortem', 'backport', 'root-cause', 'changelog']);
    await settle(b);
    expect(runMessage(b)?.text).toBe('Hotfix run #1: done');
    // Complete: no more reminders.
    await b.advanceTo(b.clock.nowMs() + 3 * 24 * 3_600_000);
    await settle(b);
    expect(b.slack.messages(USERS.lead).map((m) => m.text)).toEqual([reminder]);
    const actions = (await b.waygate.services.audit.recent(50)).filter((e) => e.action.startsWith('sop.')).map((e) => [e.action, e.actor]);
    expect(actions).toEqual(expect.arrayContaining([['sop.started', USERS.lead], ['sop.approved', LEAD2], ['sop.ended', USERS.lead]]));
  });

  it('refuses injection attempts in the ref before any run or process exists', async () => {
    const b = await start(fixture('deploy.sh', 'echo deployed'));
    const attempts = ['v1.2.3;rm', '$(id)', '`id`', '--exec=/bin/sh', '../../etc/passwd', 'main|cat', 'a..b'];
    for (const ref of attempts) {
      const res = await command(b, `hotfix ${ref} try it`, USERS.oncall);
      expect(res.json.text).toMatch(/^Refused: `ref` /);
      expect(res.json.text).toContain('Nothing was started.');
    }
    // A line break ends the ref word; what follows is the description, never an argument.
    const res = await command(b, 'hotfix "main\nrm -rf /" x', USERS.oncall);
    expect(res.json.text).toMatch(/^Refused: `ref` /);
    await settle(b);
    expect(runsLogged()).toEqual([]);
    expect(await b.waygate.sops.active()).toEqual([]);
    expect(runMessage(b)).toBeUndefined();
  });

  it('reports a failing script’s exit code and offers Retry, Skip or Abort; a hanging one is stopped at its timeout with its children', async () => {
    const pidFile = join(dir, 'child.pid');
    const b = await start(fixture('deploy.sh', `if [ -f "${join(dir, 'hang')}" ]; then sleep 60 & echo $! > "${pidFile}"; wait; fi\necho "cannot reach registry" >&2\nexit 3`), { timeout: '800ms' });
    await command(b, 'hotfix main broken', USERS.oncall);
    await settle(b);
    await click(b, SOP_ACTIONS.approve, USERS.lead);
    await settle(b);
    expect(thread(b).find((m) => m.text.includes('`emergency-deploy`'))?.text).toContain('❌ `emergency-deploy` failed: exit 3 after');
    expect(thread(b).find((m) => m.text.includes('`emergency-deploy`'))?.text).toContain('cannot reach registry');
    const shown = JSON.stringify(runMessage(b)?.blocks);
    expect(shown).toContain('failed: Retry, Skip or Abort');
    for (const id of [SOP_ACTIONS.retry, SOP_ACTIONS.skip, SOP_ACTIONS.abort]) expect(shown).toContain(`"action_id":"${id}"`);

    // Retry, this time hanging past the timeout with a child of its own.
    writeFileSync(join(dir, 'hang'), '');
    await click(b, SOP_ACTIONS.retry, USERS.lead);
    await settle(b);
    expect(runsLogged()).toHaveLength(2);
    const outputs = thread(b).filter((m) => m.text.includes('`emergency-deploy`'));
    expect(outputs.at(-1)?.text).toContain('timed out after');
    expect(isGone(Number(readFileSync(pidFile, 'utf8')))).toBe(true);

    await click(b, SOP_ACTIONS.abort, USERS.lead);
    await settle(b);
    expect(runMessage(b)?.text).toBe('Hotfix run #1: aborted');
  });

  it('Cancel by the requester stops a running script and ends the run', async () => {
    const b = await start(fixture('deploy.sh', `echo started\nwhile [ ! -f "${join(dir, 'never')}" ]; do sleep 0.05; done`));
    await command(b, 'hotfix main slow', USERS.oncall);
    await settle(b);
    await click(b, SOP_ACTIONS.approve, USERS.lead);
    await b.settle();
    // The script is running: its message offers to cancel it.
    await b.slack.waitFor(() => JSON.stringify(runMessage(b)?.blocks).includes('Cancel script'));
    const refused = await click(b, SOP_ACTIONS.cancel, USERS.ops);
    await b.settle();
    expect(told(b, refused)).toEqual([expect.stringContaining('cancelling this run needs the *lead* role')]);
    await click(b, SOP_ACTIONS.cancel, USERS.oncall);
    await settle(b);
    expect(thread(b).find((m) => m.text.includes('`emergency-deploy`'))?.text).toContain(`🛑 \`emergency-deploy\` cancelled by <@${USERS.oncall}>`);
    expect(runMessage(b)?.text).toBe('Hotfix run #1: aborted');
  });

  it('Reject asks for a reason in a modal and ends the request; nothing runs', async () => {
    const b = await start(fixture('deploy.sh', 'echo deployed'));
    await command(b, 'hotfix main risky', USERS.oncall);
    await settle(b);
    await click(b, SOP_ACTIONS.reject, USERS.lead);
    const view = b.slack.views().at(-1)!;
    expect(view.callbackId).toBe(SOP_VIEWS.reject);
    const empty = await b.signer.viewSubmission({ userId: USERS.lead, callbackId: SOP_VIEWS.reject, privateMetadata: view.privateMetadata, values: { reason: { value: { type: 'plain_text_input', value: '' } } } });
    expect(empty.json).toMatchObject({ response_action: 'errors', errors: { reason: 'Give a reason' } });
    await b.signer.viewSubmission({ userId: USERS.lead, callbackId: SOP_VIEWS.reject, privateMetadata: view.privateMetadata, values: { reason: { value: { type: 'plain_text_input', value: 'Wait for the vendor patch' } } } });
    await settle(b);
    expect(runMessage(b)?.text).toBe('Hotfix run #1: rejected');
    expect(thread(b).map((m) => m.text)).toContain(`⛔ Rejected by <@${USERS.lead}>: Wait for the vendor patch`);
    expect(runsLogged()).toEqual([]);
  });

  it('an open approval survives a restart: its buttons still work and its reminder and escalation fire on the moved clock', async () => {
    const b = await start(fixture('deploy.sh', 'echo deployed'));
    await command(b, 'hotfix main after-restart', USERS.oncall);
    await settle(b);
    const { dir: dataDir, slack, clock } = b;
    await b.waygate.stop();
    const again = (bot = await startTestBot({
      clock,
      dir: dataDir,
      slack,
      yaml: { ...DEFAULT_YAML, scripts: { 'emergency-deploy': { run: [join(dir, 'deploy.sh'), '{ref}'], timeout: '30s' } }, service: { ...DEFAULT_YAML.service, healthUrl: health.url } },
    }));
    await again.advanceTo(Date.parse(START) + 46 * 60_000);
    await settle(again);
    expect(thread(again).map((m) => m.text)).toContain(`⏰ Still waiting for a *lead* to approve (requested by <@${USERS.oncall}>).`);
    await again.advanceTo(Date.parse(START) + 61 * 60_000);
    await settle(again);
    expect(thread(again).map((m) => m.text)).toContain('🚨 Nobody has approved this yet; a *lead* please review it now.');
    await click(again, SOP_ACTIONS.approve, USERS.lead);
    await settle(again);
    expect(runsLogged()).toEqual(['main']);
  });

  it('a graceful stop during the deploy stops the script and leaves the step interrupted, never re-run by the next start', async () => {
    const b = await start(fixture('deploy.sh', `echo started\nwhile [ ! -f "${join(dir, 'never')}" ]; do sleep 0.05; done`));
    await command(b, 'hotfix main stopped', USERS.oncall);
    await settle(b);
    await click(b, SOP_ACTIONS.approve, USERS.lead);
    await b.settle();
    await b.slack.waitFor(() => JSON.stringify(runMessage(b)?.blocks).includes('Cancel script'));
    // Stopped while output is still being drawn.
    await b.slack.waitFor(() => b.clock.pendingTimers() > 0);
    const { dir: dataDir, slack, clock } = b;
    await b.waygate.stop();
    const again = (bot = await startTestBot({ clock, dir: dataDir, slack, yaml: { ...DEFAULT_YAML, scripts: { 'emergency-deploy': { run: [join(dir, 'deploy.sh'), '{ref}'] } }, service: { ...DEFAULT_YAML.service, healthUrl: health.url } } }));
    await settle(again);
    expect(JSON.stringify(runMessage(again)?.blocks)).toContain('interrupted: Waygate stopped while it ran; Retry, Skip or Abort');
    expect(runsLogged()).toEqual(['main']);
  });

  it('an approval request nobody decides expires after approvals.requestExpiresAfter; its buttons then do nothing', async () => {
    const b = await start(fixture('deploy.sh', 'echo deployed'));
    await command(b, 'hotfix main forgotten', USERS.oncall);
    await settle(b);
    const stale = buttonValue(b, SOP_ACTIONS.approve);
    await b.advanceTo(Date.parse(START) + 24 * 3_600_000 + 1_000);
    await settle(b);
    expect(runMessage(b)?.text).toBe('Hotfix run #1: expired');
    expect(thread(b).map((m) => m.text)).toContain('⌛ The approval request expired; start a new one if it is still needed.');
    const id = 'late-approve';
    await b.signer.blockAction({ actionId: SOP_ACTIONS.approve, value: stale, userId: USERS.lead, channelId: 'C0OPS', messageTs: runMessage(b)!.ts, responseUrl: b.slack.responseUrl(id) });
    await settle(b);
    expect(told(b, id)).toEqual(['This hotfix has ended (expired); nothing was done.']);
    expect(runsLogged()).toEqual([]);
  });

  it('streams a slowly printing script into its thread as it runs, then shows how it ended', async () => {
    const [a, b2] = [join(dir, 'a'), join(dir, 'b')];
    const b = await start(fixture('deploy.sh', `echo "building"\nwhile [ ! -f "${a}" ]; do sleep 0.02; done\necho "uploading"\nwhile [ ! -f "${b2}" ]; do sleep 0.02; done\necho "released"`));
    await command(b, 'hotfix main slow-print', USERS.oncall);
    await settle(b);
    await click(b, SOP_ACTIONS.approve, USERS.lead);
    await b.settle();
    const output = () => thread(b).find((m) => m.text.includes('`emergency-deploy`'))?.text ?? '';
    const shows = (line: string) =>
      b.slack.waitFor(async () => {
        b.clock.advance(1_000);
        await b.settle();
        return output().includes(line);
      }, 10_000);
    await shows('building');
    expect(output()).toMatch(/^⏳ `emergency-deploy` running for \d+ s\n```\nbuilding\n```$/);
    writeFileSync(a, '');
    await shows('uploading');
    expect(output()).toMatch(/^⏳ `emergency-deploy` running for \d+ s\n```\nbuilding\nuploading\n```$/);
    writeFileSync(b2, '');
    await settle(b);
    expect(output()).toMatch(/^✅ `emergency-deploy` finished: exit 0 after .+\n```\nbuilding\nuploading\nreleased\n```$/);
  });

  it('redraws live output at most once a second, and shares output too long for a message as a file', async () => {
    const go = join(dir, 'go');
    // 5 MB of output in one burst, then it waits for the test before finishing.
    const b = await start(fixture('deploy.sh', `i=0; while [ $i -lt 50000 ]; do echo "line $i: ................................................................................................"; i=$((i+1)); done\ntouch "${join(dir, 'printed')}"\nwhile [ ! -f "${go}" ]; do sleep 0.02; done\necho finished`));
    await command(b, 'hotfix main big', USERS.oncall);
    await settle(b);
    await click(b, SOP_ACTIONS.approve, USERS.lead);
    await b.settle();
    await b.slack.waitFor(() => existsSync(join(dir, 'printed')), 20_000);
    const output = () => thread(b).find((m) => m.text.includes('`emergency-deploy`'))!;
    // However many chunks arrived, the message is redrawn once per second of the clock.
    await b.slack.waitFor(async () => {
      b.clock.advance(1_000);
      await b.settle();
      return output().text.includes('line 49999');
    }, 20_000);
    const redraws = output().updates;
    expect(output().text).toMatch(/^⏳ `emergency-deploy` running for \d+ s\n```\n…\n/);
    await b.settle();
    expect(output().updates).toBe(redraws);

    writeFileSync(go, '');
    await settle(b);
    expect(output().text).toContain('✅ `emergency-deploy` finished: exit 0 after');
    expect(output().text).toContain('the whole output (50002 lines) is attached below');
    const [file] = b.slack.files();
    expect(file).toMatchObject({ filename: 'emergency-deploy-run-1.log', channel: 'C0OPS', threadTs: runMessage(b)!.ts });
    const text = file!.bytes.toString('utf8');
    expect(text.length).toBeGreaterThan(5_000_000);
    expect(text.startsWith('line 0: ')).toBe(true);
    expect(text.trimEnd().endsWith('finished')).toBe(true);
  });

  it('a run keeps the definition it started with when the file changes', async () => {
    const sopsDir = join(dir, 'sops');
    mkdirSync(sopsDir);
    const original = readFileSync(new URL('../../sops/hotfix.yml', import.meta.url), 'utf8');
    writeFileSync(join(sopsDir, 'hotfix.yml'), original);
    const b = await start(fixture('deploy.sh', 'echo deployed'), { sopsDir });
    await command(b, 'hotfix main pinned', USERS.oncall);
    await settle(b);
    writeFileSync(join(sopsDir, 'hotfix.yml'), original.replace('title: Emergency deploy', 'title: Deploy it NOW').replace(/ {2}- id: follow-up[\s\S]*$/, ''));
    const { dir: dataDir, slack, clock } = b;
    await b.waygate.stop();
    const again = (bot = await startTestBot({ clock, dir: dataDir, slack, yaml: { ...DEFAULT_YAML, scripts: { 'emergency-deploy': { run: [join(dir, 'deploy.sh'), '{ref}'] } }, service: { ...DEFAULT_YAML.service, healthUrl: health.url } }, overrides: { sopsDir } }));
    await click(again, SOP_ACTIONS.approve, USERS.lead);
    await settle(again);
    const shown = JSON.stringify(runMessage(again)?.blocks);
    expect(shown).toContain('2. Emergency deploy');
    expect(shown).toContain('*Step 4 of 4*');
    expect(shown).not.toContain('Deploy it NOW');
    // A new run (once the first one no longer holds production) takes the edited file.
    await click(again, SOP_ACTIONS.cancel, USERS.oncall);
    await settle(again);
    await command(again, 'hotfix main fresh', USERS.oncall);
    await settle(again);
    expect((await again.waygate.sops.get(2))?.definition.steps.map((s) => s.title)).toEqual(['Expedited review by a lead', 'Deploy it NOW', 'Verify the service is healthy']);
  });

  it('one run per environment: a second hotfix is told which run holds production, whose, and since when', async () => {
    const b = await start(fixture('deploy.sh', 'echo deployed'));
    await command(b, 'hotfix main first', USERS.oncall);
    const second = await command(b, 'hotfix main second', USERS.ops);
    expect(second.json.text).toBe(`\`production\` is held by run #1 (Hotfix) of <@${USERS.oncall}> since <!date^${Date.parse(START) / 1000}^{date_short_pretty} {time}|2026-03-03T14:00:00.000Z>; one run per environment at a time.`);
  });
});
