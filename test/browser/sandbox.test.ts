/**
 * The sandbox as a newcomer meets it: `npm start` without credentials, the printed URL opened in a real
 * Chromium (Debian's, driven by playwright-core), and Waygate tried through the page alone.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { npmStart, type StartedProcess } from '../support/sandbox-process.js';

const CHROMIUM = '/usr/bin/chromium';
// This machine's network is closed: Chromium must not try its background connections.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const REPO = join(import.meta.dirname, '..', '..');

describe('the sandbox in a browser', { timeout: 60_000 }, () => {
  let dir: string;
  let sandbox: StartedProcess | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  /** The P1 the escalation test left unacknowledged. */
  let escalated = '';

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`);
    dir = mkdtempSync(join(tmpdir(), 'waygate-sandbox-browser-'));
    sandbox = npmStart({ PORT: '0', WAYGATE_DB: join(dir, 'data', 'sandbox.db') });
    const url = await sandbox.url;
    mkdirSync(join(dir, 'profile'));
    context = await chromium.launchPersistentContext(join(dir, 'profile'), { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1440, height: 900 } });
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(url);
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await sandbox?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const message = (text: string): Locator => page.locator('article.message', { hasText: text }).last();
  const send = async (command: string) => {
    await page.locator('#command').fill(command);
    await page.locator('#command').press('Enter');
  };
  const actAs = (userId: string) => page.locator('#user').selectOption(userId);
  const openChannel = (name: string) => page.locator('#channels button', { hasText: `# ${name}` }).click();
  /** The number PagerDuty gave the incident the side panel just triggered, from the panel's notice. */
  const triggerFromPanel = async (priority: string): Promise<string> => {
    const notice = () => page.locator('#notice').textContent().then((t) => t ?? '');
    const before = await notice();
    await page.getByRole('button', { name: `Trigger ${priority}` }).click();
    await expect.poll(async () => { const now = await notice(); return now !== before && /opened incident #\d+/.test(now); }, { timeout: 10_000 }).toBe(true);
    return /#(\d+)/.exec(await notice())![1]!;
  };

  it('opens on the alerts channel with every channel, the bot’s direct messages and a user in every role', async () => {
    await expect.poll(() => page.locator('#channels button').allTextContents(), { timeout: 10_000 }).toEqual(['# alerts', '# ops', '# digest', '# security', '# compliance', '# announcements']);
    const users = await page.locator('#user option').allTextContents();
    expect(users).toEqual(['Olivia Okafor (on call)', 'Leo Lindqvist (lead)', 'Lena Laurent (lead)', 'Omar Osei (ops)', 'Sam Sato (security)', 'Carla Costa (compliance)', 'Nico Novak (no role)']);
    expect(await page.locator('#dms button').count()).toBe(users.length);
    expect(await page.locator('#channel-name').textContent()).toBe('#alerts');
  });

  it('answers `/waygate help` with the verbs, only visible to the one who asked', async () => {
    await send('/waygate help');
    const reply = message('Waygate commands you can use');
    await reply.waitFor();
    const text = (await reply.textContent()) ?? '';
    expect(text).toContain('Only visible to you');
    for (const verb of ['/waygate ack', '/waygate incidents', '/waygate hotfix', '/waygate oncall', '/waygate jobs']) expect(text).toContain(verb);
  });

  it('shows a P1 fired from the side panel with its Acknowledge button, and the card acknowledged by whoever clicked it', async () => {
    const number = await triggerFromPanel('P1');
    const card = message(`#${number} `);
    await card.getByRole('button', { name: 'Acknowledge', exact: true }).click();
    await page.locator('article.message', { hasText: `#${number} ` }).filter({ hasText: 'Acknowledged by @Olivia Okafor' }).waitFor();
    expect(await card.getByRole('button', { name: 'Acknowledge', exact: true }).count()).toBe(0);
    if (process.env.WAYGATE_WRITE_SCREENSHOT === '1') {
      await page.screenshot({ path: join(REPO, 'docs', 'sandbox-p1-acknowledged.png') });
    }
  });

  it('escalates a P1 nobody acknowledged once the clock is moved past its 5-minute SLA', async () => {
    const number = await triggerFromPanel('P1');
    await message(`#${number} `).getByRole('button', { name: 'Acknowledge', exact: true }).waitFor();
    await page.getByRole('button', { name: '+5 min' }).click();
    const breach = page.locator('article.message', { hasText: 'SLA breached' }).filter({ hasText: `#${number} ` });
    await breach.waitFor();
    expect(await breach.textContent()).toContain('@Olivia Okafor please respond');
    escalated = number;
  });

  it('opens the modal the bot asks for from a card’s overflow menu, and submits it back to the bot', async () => {
    const card = page.locator('#messages > article.message').filter({ hasText: `#${escalated} ` }).filter({ has: page.locator('.overflow-toggle') }).first();
    await card.locator('.overflow-toggle').click();
    await card.getByRole('button', { name: /Add a note/ }).click();
    const modal = page.getByRole('dialog', { name: 'Add a note' });
    await modal.locator('textarea').fill('Rolling back the 14:02 config change');
    await modal.getByRole('button', { name: 'Submit' }).click();
    await modal.waitFor({ state: 'detached' });
    await card.locator('.thread-toggle').click();
    await card.locator('.thread article.message', { hasText: 'Note from @Olivia Okafor: Rolling back the 14:02 config change' }).waitFor();
  });

  it('refuses a hotfix approval from someone without the lead role, and runs the script when a second lead approves', async () => {
    await actAs('U0LEO');
    await send('/waygate hotfix main Users are logged out after 5 minutes');
    await message('Started Hotfix run #1').waitFor();
    await openChannel('ops');
    const runCard = page.locator('#messages > article.message').filter({ hasText: 'Hotfix' }).filter({ hasText: 'Step' }).first();
    await runCard.filter({ hasText: 'waiting for a lead approval' }).waitFor();

    await actAs('U0NICO');
    await runCard.getByRole('button', { name: 'Approve', exact: true }).click();
    const refusal = message('approving this needs the lead role');
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('Only visible to you');

    await actAs('U0LENA');
    // Nico's refusal was for Nico alone.
    await expect.poll(() => page.locator('article.message', { hasText: 'approving this needs the lead role' }).count(), { timeout: 10_000 }).toBe(0);
    await runCard.getByRole('button', { name: 'Approve', exact: true }).click();
    await runCard.locator('.thread-toggle').click();
    // The output streams into the thread while the script runs, then the run moves on.
    await runCard.locator('.thread article.message', { hasText: 'emergency-deploy running for' }).filter({ hasText: 'deploying main to production' }).waitFor();
    const finished = runCard.locator('.thread article.message', { hasText: 'emergency-deploy finished: exit 0' });
    await finished.waitFor();
    expect(await finished.textContent()).toContain('released main to production');
    await runCard.filter({ hasText: 'approved by @Lena Laurent' }).waitFor();

    // The follow-up checklist: a tick is a signed block_actions request, and the card records who ticked.
    await runCard.getByRole('checkbox', { name: 'Create post-mortem' }).click();
    await runCard.filter({ hasText: 'Create post-mortem: @Lena Laurent' }).waitFor();
  });
});
