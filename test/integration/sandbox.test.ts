/**
 * The sandbox `npm start` opens without Slack credentials: when it starts and when it refuses to, how the page's
 * requests reach the bot (signed, through Bolt's own verification), and that no product code depends on it.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SlackRequestSigner } from '../../standins/slack/index.js';
import { startSandbox, type Sandbox } from '../../sandbox/server.js';
import { startMode, sandboxPort } from '../../sandbox/mode.js';
import { importSites } from '../support/import-specifiers.js';
import { npmStart, type StartedProcess } from '../support/sandbox-process.js';

const REPO = join(import.meta.dirname, '..', '..');

describe('which Waygate `npm start` runs', () => {
  it('the bot as always when any Slack credential is set; the sandbox when none is; a refusal in production', () => {
    expect(startMode({ SLACK_BOT_TOKEN: 'xoxb-test-token' })).toEqual({ kind: 'production' });
    expect(startMode({ SLACK_SIGNING_SECRET: 'x'.repeat(32), NODE_ENV: 'production' })).toEqual({ kind: 'production' });
    expect(startMode({ SLACK_APP_TOKEN: 'xapp-test' })).toEqual({ kind: 'production' });
    expect(startMode({})).toEqual({ kind: 'sandbox' });
    expect(startMode({ SLACK_BOT_TOKEN: '', NODE_ENV: 'development' })).toEqual({ kind: 'sandbox' });
    const refused = startMode({ NODE_ENV: 'production', SLACK_BOT_TOKEN: ' ' });
    expect(refused.kind).toBe('refuse');
    expect(refused.kind === 'refuse' && refused.message).toMatch(/SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET \(or SLACK_APP_TOKEN for Socket Mode\)/);
  });

  it('honours PORT as the bot does, 3000 when unset', () => {
    expect(sandboxPort(undefined)).toBe(3000);
    expect(sandboxPort('')).toBe(3000);
    expect(sandboxPort('8080')).toBe(8080);
    expect(sandboxPort('0')).toBe(0);
    expect(() => sandboxPort('http')).toThrow('PORT must be a port number');
  });
});

describe('`npm start` without Slack credentials', { timeout: 40_000 }, () => {
  let dir: string;
  let started: StartedProcess | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-sandbox-start-'));
  });
  afterEach(async () => {
    await started?.stop();
    started = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('in production exits 1 naming the variables to set, and starts nothing', async () => {
    started = npmStart({ NODE_ENV: 'production', PORT: '0', WAYGATE_DB: join(dir, 'refused', 'sandbox.db') });
    const { code } = await started.exited;
    expect(code).toBe(1);
    expect(started.stderr).toEqual([
      'waygate: NODE_ENV=production and no Slack credentials: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode). The local sandbox never starts in production.',
    ]);
    expect(started.stdout.filter(Boolean)).toEqual([]);
    expect(existsSync(join(dir, 'refused'))).toBe(false);
  });

  it('elsewhere prints one line with the sandbox URL, serves the bot’s /health on the same port and keeps its database where WAYGATE_DB says', async () => {
    started = npmStart({ PORT: '0', WAYGATE_DB: join(dir, 'data', 'sandbox.db') });
    const url = await started.url;
    expect(started.stdout.filter(Boolean)).toEqual([expect.stringMatching(/^Waygate sandbox mode \(no Slack credentials set\): open http:\/\/localhost:\d+\/sandbox /)]);
    const origin = new URL(url).origin;
    const health = await fetch(`${origin}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', components: { database: 'ok', pagerduty: 'ok' } });
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Waygate sandbox</title>');
    expect(existsSync(join(dir, 'data', 'sandbox.db'))).toBe(true);
    await started.stop();
    expect(started.stderr).toEqual([]);
  });
});

describe('requests from the sandbox page reach the bot', { timeout: 30_000 }, () => {
  let dir: string;
  let sandbox: Sandbox;
  let origin: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-sandbox-'));
    sandbox = await startSandbox({ port: 0, database: join(dir, 'sandbox.db'), logLevel: 'silent' });
    origin = `http://127.0.0.1:${sandbox.port}`;
  }, 30_000);
  afterAll(async () => {
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };
  /** What the bot said to `user` alone in a channel. */
  const repliesTo = async (channel: string, user: string) =>
    ((await (await fetch(`${origin}/sandbox/api/messages?channel=${channel}&user=${user}`)).json()) as { messages: Array<{ kind: string; text: string }> }).messages.filter((m) => m.kind === 'ephemeral');
  const helpCommands = async () => /waygate_commands_total\{verb="help",outcome="ok"\} (\d+)/.exec(await (await fetch(`${origin}/metrics`)).text())?.[1] ?? '0';

  it('only when signed with the bot’s signing secret, checked by Bolt as any Slack request is', async () => {
    const secret = sandbox.waygate.services.config.env.SLACK_SIGNING_SECRET!;
    const form = { text: 'help', userId: 'U0NICO', channelId: 'C0ALERTS', responseUrl: sandbox.slack.responseUrl('outsider') };
    const outsider = new SlackRequestSigner({ url: origin, signingSecret: secret });
    // A wrong secret, and the right one on a request older than Slack allows: both refused before any handler.
    expect((await outsider.slashCommand(form, { badSignature: true })).status).toBe(401);
    expect((await outsider.slashCommand(form, { timestampSec: Math.floor(Date.now() / 1000) - 6 * 60 })).status).toBe(401);
    expect(await helpCommands()).toBe('0');
    expect(await repliesTo('C0ALERTS', 'U0NICO')).toEqual([]);

    // The page's command endpoint holds no secret of its own: the sandbox server signs, and the bot's handler answers.
    expect(await post('/sandbox/api/command', { user: 'U0NICO', channel: 'C0ALERTS', text: '/waygate help' })).toEqual({ status: 200, json: { status: 200 } });
    expect(await helpCommands()).toBe('1');
    const [reply] = await repliesTo('C0ALERTS', 'U0NICO');
    expect(reply).toMatchObject({ kind: 'ephemeral', text: expect.stringContaining('`/waygate help`') });
    // Only Nico sees it.
    expect(await repliesTo('C0ALERTS', 'U0OLIVIA')).toEqual([]);
  });

  it('never hands the page the secrets it signs with', async () => {
    const { env } = sandbox.waygate.services.config;
    const shown = [
      await (await fetch(`${origin}/sandbox/api/state`)).text(),
      await (await fetch(`${origin}/sandbox`)).text(),
      await (await fetch(`${origin}/sandbox/app.js`)).text(),
    ].join('\n');
    for (const secret of [env.SLACK_SIGNING_SECRET, env.PAGERDUTY_WEBHOOK_SECRET, env.PAGERDUTY_API_TOKEN]) {
      expect(secret).toBeDefined();
      expect(shown).not.toContain(secret);
    }
  });

  it('refuses what is not a /waygate command, and users and channels the sandbox does not have', async () => {
    expect(await post('/sandbox/api/command', { user: 'U0NICO', channel: 'C0ALERTS', text: '/deploy now' })).toMatchObject({ status: 400, json: { error: expect.stringContaining('Only /waygate commands') } });
    expect((await post('/sandbox/api/command', { user: 'U0MALLORY', channel: 'C0ALERTS', text: '/waygate help' })).status).toBe(400);
    expect((await post('/sandbox/api/command', { user: 'U0NICO', channel: 'C0NOWHERE', text: '/waygate help' })).status).toBe(400);
  });

  it('answers only the bot’s own routes on the shared port: anything else is the sandbox’s 404, and the bot keeps running', async () => {
    expect((await fetch(`${origin}/favicon.ico`)).status).toBe(404);
    expect((await fetch(`${origin}/slack/events`)).status).toBe(404);
    expect((await fetch(`${origin}/`, { redirect: 'manual' })).headers.get('location')).toBe('/sandbox');
    expect((await fetch(`${origin}/health`)).status).toBe(200);
  });
});

describe('the product’s independence from the sandbox', () => {
  /** Every TypeScript file under `dir`. */
  function sources(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile() && e.name.endsWith('.ts'))
      .map((e) => join(e.parentPath, e.name));
  }

  it('no file under src/, commands/ or jobs/ imports anything from sandbox/', () => {
    const sandboxDir = join(REPO, 'sandbox') + sep;
    const files = ['src', 'commands', 'jobs'].flatMap((d) => sources(join(REPO, d)));
    expect(files.length).toBeGreaterThan(100);
    const offending = files.flatMap((file) =>
      importSites(readFileSync(file, 'utf8'), 'ts')
        .filter((site) => site.specifier === undefined || (site.specifier.startsWith('.') && resolve(dirname(file), site.specifier).startsWith(sandboxDir)) || /(^|\/)sandbox\//.test(site.specifier))
        .map((site) => `${relative(REPO, file)}:${site.line} ${site.kind} ${site.specifier ?? '(computed)'}`),
    );
    expect(offending).toEqual([]);
  });

  it('the scanner sees a TypeScript import of the sandbox, type-only ones included', () => {
    const code = "import type { Sandbox } from '../sandbox/server.js';\nimport { x } from './local.js';\nconst y: number = 1;";
    expect(importSites(code, 'ts').map((s) => s.specifier)).toEqual(['../sandbox/server.js', './local.js']);
  });
});
