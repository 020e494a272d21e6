/**
 * The sandbox: the real bot (createWaygate, real Bolt, real HTTP receiver, a real SQLite file) against the
 * Slack and PagerDuty stand-ins, on a clock that can be moved forward, behind a small front server that
 * serves the page and its API under /sandbox and hands every other request to the bot unchanged.
 *
 * Nothing the page sends reaches the bot except as Slack or PagerDuty would send it: the server builds the
 * slash command, block_actions or view_submission body, signs it with the signing secret (which the page
 * never sees) and POSTs it to the bot's /slack/events, where Bolt checks the signature as always.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createWaygate, type Waygate } from '../src/app.js';
import { isValidTimeZone } from '../src/config/schema.js';
import { createLogger } from '../src/logging/logger.js';
import { SlackRequestSigner, SlackStandIn, type StoredMessage } from '../standins/slack/index.js';
import { PagerDutyStandIn, PagerDutyWebhookSigner } from '../standins/pagerduty/index.js';
import { SandboxClock } from './clock.js';
import { freshSecrets, sandboxConfig, SANDBOX_BOT_TOKEN } from './config.js';
import { startSampleService, type SampleService } from './service.js';
import { PAGERDUTY_RESPONDER, SANDBOX_USERS } from './users.js';
import { Workspace } from './workspace.js';

export const DEFAULT_SANDBOX_DB = './data/sandbox.db';
const WELCOME: Record<string, string> = {
  alerts: 'Welcome to the sandbox! PagerDuty incidents land here: fire one from the side panel (Trigger P1), then try its buttons or `/waygate ack P1`.',
  ops: 'Operations: job reports, deploys and hotfixes. Try `/waygate hotfix main login fix` as a lead, then approve it as the other lead.',
  digest: 'The daily health digest is posted here at 9:00: run `health-digest` from the side panel, or move the clock a day forward.',
  security: 'Security incidents and the nightly scan. Try `/waygate security suspicious logins` as Sam.',
  compliance: 'The compliance calendar posts its lists here on the first working day of each month (run the `compliance-calendar` job, or move the clock); `/waygate compliance` as Carla shows what is open.',
  announcements: 'Stakeholders are told here when a production deploy is live.',
};
const PUBLIC_DIR = join(import.meta.dirname, 'public');
const STATIC: Record<string, { file: string; type: string }> = {
  '/sandbox': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/sandbox/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/sandbox/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/sandbox/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};
const MAX_BODY_BYTES = 64 * 1024;
/**
 * The bot's routes, forwarded unchanged. Only these: any other request handed to the bot's server reaches
 * Bolt's receiver, which throws on a path it does not serve (a browser's GET /favicon.ico would stop the bot).
 */
const BOT_ROUTES = new Set(['POST /slack/events', 'POST /pagerduty/webhook', 'GET /health', 'GET /metrics']);
const MAX_ADVANCE_MS = 8 * 24 * 3_600_000;
const PRIORITIES = ['P1', 'P2', 'P3', 'P4'] as const;
const ALERT_TITLES = [
  'waygate-mcp: p99 latency above 2 s',
  'waygate-mcp: error rate above 5 %',
  'Disk 91 % full on /var/lib/waygate',
  'Health check failing on waygate-mcp',
  'Certificate for mcp.example.com expires in 3 days',
];

export interface SandboxOptions {
  /** The port of the page and of the bot's usual routes (default 3000; 0 picks a free one). */
  port?: number;
  /** The bot's database; default ./data/sandbox.db. Started fresh every time. */
  database?: string;
  logLevel?: string;
}

export interface Sandbox {
  /** http://localhost:<port>/sandbox */
  url: string;
  port: number;
  /** The bot's own HTTP server, which the front server forwards to. */
  botUrl: string;
  waygate: Waygate;
  clock: SandboxClock;
  slack: SlackStandIn;
  pagerDuty: PagerDutyStandIn;
  service: SampleService;
  stop(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, 'body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
        resolveBody(parsed as Record<string, unknown>);
      } catch {
        reject(new HttpError(400, 'the body must be a JSON object'));
      }
    });
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function str(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  if (typeof v !== 'string' || v === '') throw new HttpError(400, `${key} is required`);
  return v;
}

function optionalStr(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  return typeof v === 'string' ? v : undefined;
}

/** Removes the previous sandbox's database (the stand-ins start empty, so its messages are gone anyway). */
function freshDatabase(path: string): void {
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- the sandbox's own database folder
  mkdirSync(dirname(path), { recursive: true });
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const database = resolve(opts.database ?? DEFAULT_SANDBOX_DB);
  freshDatabase(database);
  const clock = new SandboxClock();
  const secrets = freshSecrets();
  const service = await startSampleService(join(dirname(database), 'sandbox-service'), clock.now());
  const backupDir = join(dirname(database), 'sandbox-backups');
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- the sandbox's own data folder
  mkdirSync(backupDir, { recursive: true });
  const slack = await SlackStandIn.start({ token: SANDBOX_BOT_TOKEN });
  const pagerDuty = await PagerDutyStandIn.start({ token: secrets.pagerDutyToken });
  pagerDuty.now = () => clock.nowMs();
  for (const u of SANDBOX_USERS) slack.addUser({ id: u.id, name: u.realName, email: u.email });
  pagerDuty.setUsers([...SANDBOX_USERS.map((u) => ({ id: u.pagerDutyId, name: u.realName, email: u.email })), PAGERDUTY_RESPONDER]);

  const config = sandboxConfig({
    secrets,
    slackApiUrl: slack.apiUrl,
    pagerDuty: { apiUrl: pagerDuty.apiUrl, eventsUrl: pagerDuty.eventsUrl, fromEmail: PAGERDUTY_RESPONDER.email },
    database,
    service: { healthUrl: service.healthUrl, database: service.database, logFile: service.logFile, backupDir },
    logLevel: opts.logLevel ?? 'warn',
    timezone: localZone(),
  });
  const logger = createLogger({ level: config.env.LOG_LEVEL, secrets: config.secrets });
  const waygate = createWaygate({ config, clock, logger });
  let botPort: number;
  try {
    ({ port: botPort } = await waygate.start(0));
  } catch (err) {
    await waygate.stop();
    await Promise.all([slack.close(), pagerDuty.close(), service.close()]);
    throw err;
  }
  const botUrl = `http://127.0.0.1:${botPort}`;
  const signer = new SlackRequestSigner({ url: botUrl, signingSecret: secrets.signingSecret });
  pagerDuty.sendWebhooksTo(new PagerDutyWebhookSigner({ url: botUrl, secret: secrets.webhookSecret }));

  // Direct messages: the bot opens them with conversations.open (a D… id) or posts to the user id itself.
  const dmOf = new Map<string, string>();
  for (const u of SANDBOX_USERS) {
    const opened = (await (
      await fetch(`${slack.apiUrl}conversations.open`, {
        method: 'POST',
        headers: { authorization: `Bearer ${SANDBOX_BOT_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ users: u.id }),
      })
    ).json()) as { channel?: { id?: string } };
    dmOf.set(u.id, opened.channel?.id ?? u.id);
  }
  const userOfDm = new Map([...dmOf].map(([user, dm]) => [dm, user]));
  const workspace = new Workspace(
    slack,
    (channel) => {
      const user = userOfDm.get(channel);
      return user ? [channel, user] : [channel];
    },
    (channel) => dmOf.get(channel) ?? channel,
    () => clock.nowMs(),
  );
  // Each channel opens with a word from a person, as a real workspace's would (and the digest reads history).
  for (const [channel, text] of Object.entries(WELCOME)) {
    const id = (config.file.channels as Record<string, string | undefined>)[channel];
    if (id) slack.postAsUser(id, 'U0LEO', text);
  }
  const channels = [
    ...Object.entries(config.file.channels).flatMap(([alias, id]) => (typeof id === 'string' ? [{ id, name: alias, kind: 'channel' }] : [])),
    ...SANDBOX_USERS.map((u) => ({ id: dmOf.get(u.id)!, name: u.realName, kind: 'dm', user: u.id })),
  ].filter((c, i, all) => all.findIndex((o) => o.id === c.id) === i);
  const knownChannel = (id: string) => channels.some((c) => c.id === id);
  const knownUser = (id: string) => SANDBOX_USERS.some((u) => u.id === id);
  let incidentNumber = 1000;

  function requireUser(body: Record<string, unknown>): string {
    const user = str(body, 'user');
    if (!knownUser(user)) throw new HttpError(400, `unknown sandbox user ${user}`);
    return user;
  }
  function requireChannel(body: Record<string, unknown>): string {
    const channel = str(body, 'channel');
    if (!knownChannel(channel)) throw new HttpError(400, `unknown channel ${channel}`);
    return channel;
  }

  async function state() {
    return {
      users: SANDBOX_USERS.map((u) => ({ id: u.id, name: u.realName, role: u.role })),
      botUserId: 'U0WAYGATE',
      channels,
      jobs: (await waygate.services.jobs.list()).map((j) => ({ name: j.name, description: j.description, schedule: j.schedule, nextRunAt: j.nextRunAt?.getTime() ?? null, running: j.running })),
      clock: { now: clock.nowMs(), offsetMs: clock.offsetMs(), timezone: config.file.timezone },
      service: { healthy: service.healthy },
      incidents: pagerDuty
        .allIncidents()
        .filter((i) => i.status !== 'resolved')
        .map((i) => ({ id: i.id, number: i.number, title: i.title, priority: i.priority, status: i.status })),
    };
  }

  async function command(body: Record<string, unknown>) {
    const user = requireUser(body);
    const channel = requireChannel(body);
    const typed = str(body, 'text').trim();
    const rest = typed.slice('/waygate'.length);
    if (!typed.startsWith('/waygate') || (rest !== '' && !/^\s/.test(rest))) throw new HttpError(400, 'Only /waygate commands reach the bot here, e.g. /waygate help');
    const sandboxUser = SANDBOX_USERS.find((u) => u.id === user)!;
    const res = await signer.slashCommand({
      text: rest.trim(),
      userId: user,
      userName: sandboxUser.name,
      channelId: channel,
      responseUrl: workspace.responseUrl({ user, channel }),
      triggerId: workspace.triggerId(user),
    });
    if (res.status === 200 && res.json) workspace.addReply({ user, channel }, res.json as Record<string, unknown>);
    return { status: res.status };
  }

  async function action(body: Record<string, unknown>) {
    const user = requireUser(body);
    const channel = requireChannel(body);
    const ephemeralId = optionalStr(body, 'ephemeralId');
    let message: { ts: string; text: string; blocks: unknown[] };
    if (ephemeralId) {
      const e = workspace.ephemeral(ephemeralId);
      if (!e || e.user !== user) throw new HttpError(404, 'that reply is gone');
      message = { ts: e.afterTs, text: e.text, blocks: e.blocks ?? [] };
    } else {
      const found: StoredMessage | undefined = workspace.message(channel, str(body, 'ts'));
      if (!found) throw new HttpError(404, 'no such message');
      message = { ts: found.ts, text: found.text, blocks: Array.isArray(found.blocks) ? (found.blocks as unknown[]) : [] };
    }
    const type = optionalStr(body, 'type') ?? 'button';
    if (!['button', 'checkboxes', 'overflow', 'static_select'].includes(type)) throw new HttpError(400, `unsupported element ${type}`);
    const selectedOptions = Array.isArray(body.selectedOptions) ? body.selectedOptions.filter((v): v is string => typeof v === 'string') : undefined;
    const value = optionalStr(body, 'value');
    const selectedOption = optionalStr(body, 'selectedOption');
    const blockId = optionalStr(body, 'blockId');
    const res = await signer.blockAction({
      actionId: str(body, 'actionId'),
      type: type as 'button',
      ...(value !== undefined ? { value } : {}),
      ...(selectedOption !== undefined ? { selectedOption } : {}),
      ...(selectedOptions !== undefined ? { selectedOptions } : {}),
      ...(blockId !== undefined ? { blockId } : {}),
      triggerId: workspace.triggerId(user),
      userId: user,
      channelId: channel,
      messageTs: message.ts,
      responseUrl: workspace.responseUrl({ user, channel, ...(ephemeralId ? { ephemeralId } : {}) }),
      message: { text: message.text, blocks: message.blocks },
    });
    return { status: res.status };
  }

  async function submitView(body: Record<string, unknown>) {
    const user = requireUser(body);
    const viewId = str(body, 'viewId');
    const modal = workspace.modal(viewId);
    if (!modal || modal.user !== user) throw new HttpError(404, 'no such modal');
    if (body.cancel === true) {
      workspace.closeModal(viewId);
      return { ok: true };
    }
    const values = (typeof body.values === 'object' && body.values !== null ? body.values : {}) as Parameters<SlackRequestSigner['viewSubmission']>[0]['values'];
    const res = await signer.viewSubmission({ callbackId: modal.view.callbackId, userId: user, viewId, privateMetadata: modal.view.privateMetadata, values });
    const answer = res.json as { response_action?: string; errors?: Record<string, string> } | undefined;
    if (answer?.response_action === 'errors') return { ok: false, errors: answer.errors ?? {} };
    if (res.status !== 200) return { ok: false, errors: {}, status: res.status };
    workspace.closeModal(viewId);
    return { ok: true };
  }

  async function pagerDutyAction(body: Record<string, unknown>) {
    const act = str(body, 'action');
    if (act === 'trigger') {
      const priority = str(body, 'priority');
      if (!(PRIORITIES as readonly string[]).includes(priority)) throw new HttpError(400, 'priority must be P1…P4');
      const number = ++incidentNumber;
      pagerDuty.trigger({ id: `PSBX${number}`, number, title: optionalStr(body, 'title') ?? ALERT_TITLES[number % ALERT_TITLES.length]!, priority, urgency: priority === 'P1' || priority === 'P2' ? 'high' : 'low' });
      await pagerDuty.webhooksIdle();
      return { number };
    }
    if (act === 'storm') {
      const first = incidentNumber + 1;
      for (let i = 0; i < 50; i++) {
        const number = ++incidentNumber;
        pagerDuty.trigger({ id: `PSBX${number}`, number, title: `disk alarm on node-${(i % 7) + 1}`, priority: i % 10 === 0 ? 'P1' : 'P3', urgency: i % 10 === 0 ? 'high' : 'low' });
      }
      await pagerDuty.webhooksIdle();
      return { first, last: incidentNumber };
    }
    if (act === 'acknowledge' || act === 'resolve') {
      const id = str(body, 'incident');
      if (!pagerDuty.changeStatus(id, act === 'acknowledge' ? 'acknowledged' : 'resolved', PAGERDUTY_RESPONDER.email)) throw new HttpError(404, 'no such incident');
      await pagerDuty.webhooksIdle();
      return { ok: true };
    }
    throw new HttpError(400, 'action must be trigger, storm, acknowledge or resolve');
  }

  async function api(method: string, path: string, req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (method === 'GET' && path === '/sandbox/api/state') return sendJson(res, 200, await state());
    if (method === 'GET' && path === '/sandbox/api/events') return workspace.subscribe(res);
    if (method === 'GET' && path === '/sandbox/api/messages') {
      const channel = url.searchParams.get('channel') ?? '';
      const user = url.searchParams.get('user') ?? '';
      if (!knownChannel(channel) || !knownUser(user)) throw new HttpError(400, 'channel and user are required');
      return sendJson(res, 200, { messages: workspace.timeline(channel, user), modals: workspace.modalsFor(user) });
    }
    if (method !== 'POST') throw new HttpError(404, 'not found');
    const body = await readJson(req);
    switch (path) {
      case '/sandbox/api/command':
        return sendJson(res, 200, await command(body));
      case '/sandbox/api/action':
        return sendJson(res, 200, await action(body));
      case '/sandbox/api/view':
        return sendJson(res, 200, await submitView(body));
      case '/sandbox/api/pagerduty':
        return sendJson(res, 200, await pagerDutyAction(body));
      case '/sandbox/api/service': {
        service.setHealthy(body.healthy === true, clock.now());
        workspace.broadcast({ type: 'service', healthy: service.healthy });
        return sendJson(res, 200, { healthy: service.healthy });
      }
      case '/sandbox/api/jobs/run': {
        const started = await waygate.services.jobs.run(str(body, 'name'), 'manual', null);
        if (started.started) void started.done.then(() => workspace.broadcast({ type: 'notice', text: `Job ${String(body.name)} finished.` }));
        return sendJson(res, 200, started.started ? { started: true } : { started: false, reason: started.reason });
      }
      case '/sandbox/api/clock': {
        const ms = Number(body.advanceMs);
        if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_ADVANCE_MS) throw new HttpError(400, 'advanceMs must be between 1 ms and 8 days');
        await clock.advance(ms);
        workspace.broadcast({ type: 'clock', now: clock.nowMs(), offsetMs: clock.offsetMs() });
        return sendJson(res, 200, { now: clock.nowMs(), offsetMs: clock.offsetMs() });
      }
      default:
        throw new HttpError(404, 'not found');
    }
  }

  /** A file the bot uploaded: a download, or (`?inline=1`, PNG only) the image itself for the page to show. */
  function serveFile(res: http.ServerResponse, id: string, inline: boolean): void {
    const file = slack.files().find((f) => f.id === id);
    if (!file) throw new HttpError(404, 'no such file');
    const png = file.filename.toLowerCase().endsWith('.png');
    res.writeHead(200, {
      'content-type': inline && png ? 'image/png' : 'application/octet-stream',
      'content-disposition': `${inline && png ? 'inline' : 'attachment'}; filename="${file.filename.replace(/[^\w.-]/g, '_')}"`,
      'content-length': String(file.bytes.length),
    });
    res.end(file.bytes);
  }

  /** The bot's own routes go to it as they came. */
  function forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const upstream = http.request({ host: '127.0.0.1', port: botPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('the bot did not answer\n');
    });
    req.pipe(upstream);
  }

  const front = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = (req.method ?? 'GET').toUpperCase();
    if (BOT_ROUTES.has(`${method} ${path}`)) return forward(req, res);
    if (path !== '/sandbox' && !path.startsWith('/sandbox/')) {
      // The bot answers nothing else; the front page of the port is the sandbox.
      if (method === 'GET' && path === '/') res.writeHead(302, { location: '/sandbox' }).end();
      else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const handled = (async () => {
      const asset = method === 'GET' ? STATIC[path] : undefined;
      if (asset) {
        res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' });
        // eslint-disable-next-line security/detect-non-literal-fs-filename -- one of three fixed files
        res.end(readFileSync(join(PUBLIC_DIR, asset.file)));
        return;
      }
      if (method === 'GET' && path.startsWith('/sandbox/files/')) return serveFile(res, decodeURIComponent(path.slice('/sandbox/files/'.length)), url.searchParams.get('inline') === '1');
      if (path.startsWith('/sandbox/api/')) return api(method, path, req, res, url);
      throw new HttpError(404, 'not found');
    })();
    handled.catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) logger.error({ err }, 'sandbox request failed');
      if (!res.headersSent) sendJson(res, status, { error: err instanceof Error ? err.message : String(err) });
      else res.end();
    });
  });
  const heartbeat = setInterval(() => workspace.heartbeat(), 15_000);
  heartbeat.unref();
  try {
    await new Promise<void>((resolveListen, reject) => {
      front.once('error', reject);
      front.listen(opts.port ?? 3000, '127.0.0.1', () => resolveListen());
    });
  } catch (err) {
    clearInterval(heartbeat);
    workspace.close();
    await waygate.stop();
    await Promise.all([slack.close(), pagerDuty.close(), service.close()]);
    throw err;
  }
  const port = (front.address() as AddressInfo).port;

  return {
    url: `http://localhost:${port}/sandbox`,
    port,
    botUrl,
    waygate,
    clock,
    slack,
    pagerDuty,
    service,
    async stop() {
      clearInterval(heartbeat);
      workspace.close();
      front.closeAllConnections();
      await new Promise<void>((r) => front.close(() => r()));
      await waygate.stop();
      clock.stop();
      await Promise.all([slack.close(), pagerDuty.close(), service.close()]);
    },
  };
}

/** This machine's time zone for schedules and business hours; UTC when it names none. */
function localZone(): string {
  const zone = process.env.TZ?.replace(/^:/, '') || Intl.DateTimeFormat().resolvedOptions().timeZone;
  return zone && isValidTimeZone(zone) ? zone : 'UTC';
}
