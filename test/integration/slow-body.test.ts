import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackRequestSigner, SlackStandIn } from '../../standins/slack/index.js';
import { PagerDutyWebhookSigner } from '../../standins/pagerduty/index.js';
import { waitFor } from '../../standins/shared/wait-for.js';
import { BOT_TOKEN, DEFAULT_YAML, PD_WEBHOOK_SECRET, SIGNING_SECRET, USERS, startTestBot, testEnv, type TestBot } from '../helpers/bot.js';
import { spawnBot, type BotProcess } from '../helpers/process.js';
import { backendEnv } from '../helpers/sql.js';

const MB = 1024 * 1024;
/** One buffer for every attacking socket: the test process should not be the one running out of memory. */
const FILLER = Buffer.alloc(4 * MB, 0x20);

/** The bot's resident memory, as the kernel counts it. */
function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

interface SlowBody {
  socket: Socket;
  /** Resolves once the bot has been handed every byte sent, or the connection is closed. */
  settled: Promise<void>;
  /** Resolves once the bot closed the connection (or the test did). */
  closed: Promise<void>;
  /** What the bot answered before the body was complete, if anything. */
  answer: () => string;
}

/**
 * An unsigned POST that declares `declared` bytes and sends all but the last one, then waits: the bot cannot
 * check a signature before the body is complete, so whatever it buffers meanwhile is an attacker's to fill.
 */
function slowBody(port: number, path: string, declared: number, opts: { chunked?: boolean } = {}): SlowBody {
  const socket = connect(port, '127.0.0.1');
  let answer = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const settled = new Promise<void>((resolve) => {
    void closed.then(resolve);
    const length = opts.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${declared}`;
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${length}\r\n\r\n`);
    const body = FILLER.subarray(0, Math.min(declared - 1, FILLER.length));
    // A chunked body that never sends its last, empty chunk.
    if (opts.chunked) socket.write(`${body.length.toString(16)}\r\n`);
    socket.write(body, () => resolve());
  });
  return { socket, settled, closed, answer: () => answer };
}

const statusOf = (answer: string): number | undefined => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]) || undefined;

describe('unsigned bodies that never finish, against the bot as a process', () => {
  let slack: SlackStandIn;
  let dir: string;
  let bot: BotProcess;
  let port: number;

  // Started here, not in the test: starting from source takes seconds on a busy machine, the attack does not.
  beforeEach(async () => {
    slack = await SlackStandIn.start({ token: BOT_TOKEN });
    dir = mkdtempSync(join(tmpdir(), 'waygate-slowbody-'));
    bot = spawnBot({ ...testEnv(dir, slack, DEFAULT_YAML), ...(await backendEnv(dir)), PAGERDUTY_WEBHOOK_SECRET: PD_WEBHOOK_SECRET, LOG_LEVEL: 'info' });
    port = await bot.ready;
  });
  afterEach(async () => {
    if (bot.child.exitCode === null && bot.child.signalCode === null) bot.child.kill('SIGKILL');
    await bot.exited;
    await slack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds a bounded amount of memory during 100 × 4 MB Slack and 200 × 1 MB webhook bodies, gives it back after, and still serves Slack and PagerDuty', async () => {
    const pid = bot.child.pid!;
    const idle = rssMb(pid);

    const attack = [
      ...Array.from({ length: 100 }, () => slowBody(port, '/slack/events', 4 * MB)),
      ...Array.from({ length: 200 }, () => slowBody(port, '/pagerduty/webhook', MB)),
    ];
    let sent = false;
    void Promise.all(attack.map((a) => a.settled)).then(() => (sent = true));
    let peak = idle;
    // Until every byte is on the wire, or memory has clearly run away (as it did: 600 MB of bodies held).
    await waitFor(() => {
      peak = Math.max(peak, rssMb(pid));
      return sent || peak > idle + 100;
    }, 15_000);
    for (const a of attack) a.socket.destroy();
    await Promise.all(attack.map((a) => a.closed));
    // The bot finishes reading what was already on the wire; then memory must settle without a restart.
    await waitFor(() => rssMb(pid) < idle + 75, 5_000).catch(() => undefined);
    const after = rssMb(pid);

    // The idle bot here runs from source (its TypeScript loader adds some 30 MB to what the image uses), so
    // the bounds are relative: "back under 200 MB" for an image that idles at 125 MB is 75 MB above idle.
    expect(Math.round(peak - idle), 'MB above idle during the attack').toBeLessThan(100);
    expect(Math.round(after - idle), 'MB above idle after the attack').toBeLessThan(75);

    // Once it has caught up with what the attack left on the wire, Slack and PagerDuty are served as before.
    const signer = new SlackRequestSigner({ url: `http://127.0.0.1:${port}`, signingSecret: SIGNING_SECRET });
    const res = await waitFor(async () => {
      const answer = await signer.slashCommand({ text: 'help', userId: USERS.ops, responseUrl: slack.responseUrl() });
      return answer.status === 200 && answer;
    });
    expect(res.json.text).toContain('Waygate commands you can use');
    const pd = new PagerDutyWebhookSigner({ url: `http://127.0.0.1:${port}`, secret: PD_WEBHOOK_SECRET });
    const ping = await pd.send(pd.pingEvent());
    expect(ping.status).toBe(200);
  });
});

describe('the limits on unauthenticated bodies', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  it('refuses a body declared larger than 1 MB at once, before reading it, and closes the connection', async () => {
    bot = await startTestBot({ pagerDuty: true });
    const port = Number(new URL(bot.url).port);
    for (const path of ['/slack/events', '/pagerduty/webhook']) {
      const big = slowBody(port, path, 4 * MB);
      await big.closed;
      expect(statusOf(big.answer())).toBe(413);
    }
  });

  it('turns bodies away with 503 once 4 MB are arriving at once, and takes them again when those are gone', async () => {
    bot = await startTestBot({ pagerDuty: true });
    const b = bot;
    const port = Number(new URL(b.url).port);
    const held = Array.from({ length: 4 }, (_, i) => slowBody(port, i % 2 ? '/slack/events' : '/pagerduty/webhook', MB));
    await Promise.all(held.map((h) => h.settled));
    const chunked = slowBody(port, '/pagerduty/webhook', 1024, { chunked: true });
    const oneMore = slowBody(port, '/slack/events', 10 * 1024);
    for (const turnedAway of [oneMore, chunked]) {
      await turnedAway.closed;
      expect(statusOf(turnedAway.answer())).toBe(503);
      expect(turnedAway.answer()).toMatch(/retry-after: 1/i);
    }
    // A signed command now would be turned away too; once the stalled senders go, Slack is served again.
    for (const h of held) h.socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    await waitFor(async () => (await b.signer.slashCommand({ text: 'help', userId: USERS.ops, responseUrl: b.slack.responseUrl() })).status === 200);
    const ping = await b.pdSigner.send(b.pdSigner.pingEvent());
    expect(ping.status).toBe(200);
  });
});
