import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import selfsigned from 'selfsigned';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { DEFAULT_YAML, startTestBot, USERS, type TestBot } from '../helpers/bot.js';
import { DIGEST_ACTIONS } from '../../src/health/digest.js';

const ROUTING_KEY = 'R0UTINGKEY0123456789abcdefABCDEF';

/**
 * A stand-in for the Waygate MCP service's /health that the test turns unhealthy and healthy again; with
 * `basicAuth` ("user:password") it answers 401 to requests without those credentials.
 */
async function startService(
  opts: { basicAuth?: string } = {},
): Promise<{ url: string; setHealthy(ok: boolean): void; hits(): number; close(): Promise<void> }> {
  let healthy = true;
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    if (opts.basicAuth && req.headers.authorization !== `Basic ${Buffer.from(opts.basicAuth).toString('base64')}`) {
      res.writeHead(401, { 'content-type': 'text/plain' });
      return res.end('credentials required');
    }
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(healthy ? { status: 'healthy', version: '1.4.2' } : { status: 'degraded', error: 'db locked' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`,
    setHealthy: (ok) => (healthy = ok),
    hits: () => hits,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function makeServiceDb(path: string, rows: number): void {
  const db = new Database(path);
  db.exec('CREATE TABLE tools (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE calls (id INTEGER PRIMARY KEY, tool INTEGER)');
  const insert = db.prepare('INSERT INTO tools (name) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`tool-${i}`);
  })();
  db.close();
}

describe('scheduled operations', () => {
  let dir: string;
  let service: Awaited<ReturnType<typeof startService>>;
  let bot: TestBot | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-ops-'));
    service = await startService();
  });
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const yaml = (over: { schedules?: Record<string, string | false>; service?: Record<string, unknown>; backup?: Record<string, unknown> } = {}) => ({
    ...DEFAULT_YAML,
    schedules: { ...DEFAULT_YAML.schedules, ...over.schedules },
    service: {
      healthUrl: service.url,
      systemdUnit: null,
      logFile: join(dir, 'waygate.log'),
      database: join(dir, 'service.db'),
      timeout: '1s',
      failuresBeforeDown: 2,
      pagerDutyRoutingKey: ROUTING_KEY,
      ...over.service,
    },
    backup: { dir: join(dir, 'backups'), configDir: join(dir, 'etc'), retentionDays: 30, ...over.backup },
  });

  it('posts one down and one recovery message however many checks fail, and triggers/resolves one PagerDuty alert', async () => {
    const clock = new ManualClock('2026-03-02T08:01:00Z');
    bot = await startTestBot({ dir, clock, pagerDuty: true, yaml: yaml({ schedules: { 'health-check': '*/5 * * * *' } }) });
    const b = bot;
    const at = (minute: number) => Date.parse('2026-03-02T08:00:00Z') + minute * 60_000;
    const alerts = () => b.slack.messages('C0ALERTS').map((m) => m.text);

    await b.advanceTo(at(15)); // three healthy samples: silence
    await b.settle();
    expect(service.hits()).toBe(3);
    expect(alerts()).toEqual([]);

    service.setHealthy(false);
    await b.advanceTo(at(45)); // six failing samples
    await b.settle();
    expect(alerts()).toHaveLength(1);
    expect(alerts()[0]).toContain('Waygate MCP is down');
    expect(alerts()[0]).toContain('HTTP 503');
    expect(alerts()[0]).toContain('2 consecutive failed checks');

    service.setHealthy(true);
    await b.advanceTo(at(60));
    await b.settle();
    expect(alerts()).toHaveLength(2);
    expect(alerts()[1]).toContain('*Waygate MCP recovered* after 30 min down'); // first failed check 08:20, first good one 08:50

    const events = b.pd!.events() as Array<{ event_action: string; dedup_key: string; routing_key: string; payload?: { severity: string } }>;
    expect(events.map((e) => e.event_action)).toEqual(['trigger', 'resolve']);
    expect(events[0]?.dedup_key).toBe(events[1]?.dedup_key);
    expect(events[0]).toMatchObject({ routing_key: ROUTING_KEY, payload: { severity: 'critical' } });
    const runs = await b.sql.value(sql`SELECT COUNT(*) FROM executions WHERE kind = 'job' AND name = 'health-check' AND status = 'ok'`);
    expect(runs).toBe(12);
  });

  it('without a PagerDuty routing key, the service going down opens a P1 with card, buttons and escalation within a minute; recovery resolves it', async () => {
    const clock = new ManualClock('2026-03-02T08:01:00Z');
    bot = await startTestBot({ dir, clock, yaml: yaml({ schedules: { 'health-check': '*/5 * * * *' }, service: { pagerDutyRoutingKey: null } }) });
    const b = bot;
    const at = (minute: number, second = 0) => Date.parse('2026-03-02T08:00:00Z') + minute * 60_000 + second * 1_000;
    const alerts = () => b.slack.messages('C0ALERTS');
    await b.advanceTo(at(5));
    service.setHealthy(false);
    await b.advanceTo(at(10)); // the first failed check
    await b.settle();
    expect(alerts()).toEqual([]);
    await b.advanceTo(at(10, 30)); // re-checked 30 s later: down
    await b.settle();
    const cards = alerts().filter((m) => m.text.includes('Waygate MCP is down'));
    expect(cards).toHaveLength(1);
    expect(cards[0]?.text).toContain('P1');
    expect(JSON.stringify(cards[0]?.blocks)).toContain('"action_id":"incident.acknowledge"');
    const incident = (await b.waygate.services.incidents.open())[0];
    expect(incident).toMatchObject({ priority: 'P1', status: 'triggered', created_at: at(10) });
    expect(incident?.sla_deadline).toBe(at(15)); // the P1 clock runs from the first failed check

    await b.advanceTo(at(15, 30));
    await b.settle();
    expect(alerts().some((m) => m.text.startsWith('🚨 SLA breached') && m.text.includes(`<@${USERS.oncall}>`))).toBe(true);

    service.setHealthy(true);
    await b.advanceTo(at(20));
    await b.settle();
    expect((await b.waygate.services.incidents.get(incident!.id))?.status).toBe('resolved');
    expect(alerts().filter((m) => m.text.includes('Waygate MCP recovered'))).toHaveLength(1);
    // One down message (the card, not counting its escalations) and one recovery message for the outage.
    expect(alerts().filter((m) => m.thread_ts === undefined && !m.text.startsWith('🚨') && m.text.includes('Waygate MCP is down'))).toHaveLength(1);
    expect(await b.waygate.services.incidents.open()).toEqual([]);
  });

  it("with a routing key, PagerDuty's incident for Waygate's own down alert is a P1 although PagerDuty files it by urgency", async () => {
    bot = await startTestBot({ dir, clock: new ManualClock('2026-03-02T08:01:00Z'), pagerDuty: true, yaml: yaml() });
    const key = bot.waygate.services.health.dedupKey;
    await bot.pdSigner.send(bot.pdSigner.incidentEvent('incident.triggered', { id: 'PDOWN1', number: 777, urgency: 'high', priority: null, incident_key: key, title: 'Service down: Waygate MCP' }));
    await bot.pdSigner.send(bot.pdSigner.incidentEvent('incident.triggered', { id: 'POTHER', number: 778, urgency: 'high', priority: null, title: 'something else' }));
    await bot.waygate.inboxProcessor.whenIdle();
    expect((await bot.waygate.services.incidents.get('PDOWN1'))?.priority).toBe('P1');
    expect((await bot.waygate.services.incidents.get('POTHER'))?.priority).toBe('P2'); // urgency mapping as before
  });

  it('backs up at 02:00 local: the copy is sound with the same rows, and the report names size and integrity', async () => {
    makeServiceDb(join(dir, 'service.db'), 321);
    mkdirSync(join(dir, 'etc'));
    writeFileSync(join(dir, 'etc', 'waygate.yml'), 'timezone: UTC\n');
    const clock = new ManualClock('2026-03-02T00:30:00Z'); // 01:30 in Berlin
    bot = await startTestBot({ dir, clock, yaml: yaml({ schedules: { backup: '0 2 * * *' } }) });
    await bot.advanceTo('2026-03-02T01:05:00Z');
    await bot.settle();
    const [report] = bot.slack.messages('C0OPS');
    expect(report?.text).toContain('*Backup* `waygate_20260302.db`');
    expect(report?.text).toContain('2 tables, 321 rows');
    expect(report?.text).toContain('Integrity check: ok');
    expect(report?.text).toMatch(/Config archive: `config_20260302\.tar\.gz` \d/);
    // No offsite destination: SOP-BACK-001's step 4 is missing, so the report is not green.
    expect(report?.text).toMatch(/^⚠️ \*Backup\*/);
    expect(report?.text).toContain('Offsite copy: ⚠️ not configured: SOP-BACK-001 step 4 asks for one; set `backup.offsite`');
    const copy = new Database(join(dir, 'backups', 'waygate_20260302.db'), { readonly: true });
    expect(copy.prepare('SELECT COUNT(*) FROM tools').pluck().get()).toBe(321);
    expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
    copy.close();

    const list = await bot.signer.slashCommand({ text: 'backup list', userId: USERS.ops, responseUrl: bot.slack.responseUrl() });
    expect(list.json.text).toContain('`waygate_20260302.db`');
    const verify = await bot.signer.slashCommand({ text: 'backup verify waygate_20260302.db', userId: USERS.ops, responseUrl: bot.slack.responseUrl() });
    expect(verify.json.text).toContain('integrity ok, 2 tables, 321 rows');
    const traversal = await bot.signer.slashCommand({ text: 'backup verify ../service.db', userId: USERS.ops, responseUrl: bot.slack.responseUrl() });
    expect(traversal.json.text).toMatch(/^❌/);
  });

  it('alerts with the path when the backup directory cannot be written', async () => {
    makeServiceDb(join(dir, 'service.db'), 5);
    writeFileSync(join(dir, 'not-a-dir'), 'a file where the backup folder should be');
    const badDir = join(dir, 'not-a-dir', 'backups');
    const clock = new ManualClock('2026-03-02T00:30:00Z');
    bot = await startTestBot({ dir, clock, yaml: yaml({ schedules: { backup: '0 2 * * *' }, backup: { dir: badDir } }) });
    await bot.advanceTo('2026-03-02T01:05:00Z');
    await bot.settle();
    const [alert] = bot.slack.messages('C0OPS');
    expect(alert?.text).toContain('Scheduled job `backup`');
    expect(alert?.text).toContain('failed');
    expect(alert?.text).toContain(`cannot write to ${badDir}`);

    const now = await bot.signer.slashCommand({ text: 'backup now', userId: USERS.ops, responseUrl: bot.slack.responseUrl('manual') });
    expect(now.json.text).toContain('Starting a backup now');
    await bot.settle();
    expect(bot.slack.responsePosts('manual')[0]?.body.text).toContain(`❌ Backup failed: cannot write to ${badDir}`);
  });

  it('posts the 9 AM digest with the numbers from samples, logs and backups, and records who reviewed it', async () => {
    const clock = new ManualClock('2026-03-02T07:30:00Z'); // 08:30 in Berlin
    bot = await startTestBot({ dir, clock, pagerDuty: true, yaml: yaml({ schedules: { 'health-digest': '0 9 * * *' } }) });
    const { health, store } = bot.waygate.services;
    const base = Date.parse('2026-03-01T12:00:00Z');
    await store.transaction(async (tx) => {
      for (const [i, latency, ok] of [[0, 100, 1], [1, 200, 1], [2, 300, 1], [3, 50, 0]] as const) {
        await health.store.record(tx, { at: base + i * 300_000, ok: ok === 1, httpStatus: ok ? 200 : 503, latencyMs: latency, summary: 'x' });
      }
    });
    writeFileSync(
      join(dir, 'waygate.log'),
      [
        '2026-03-02 01:00:01 ERROR db timeout after 5000 ms',
        '2026-03-02 01:10:01 INFO started',
        '2026-03-02 02:00:01 ERROR db timeout after 7000 ms',
        '2026-03-02 03:00:01 ERROR tool 42 failed',
        '',
      ].join('\n'),
    );
    mkdirSync(join(dir, 'backups'));
    makeServiceDb(join(dir, 'backups', 'waygate_20260302.db'), 10);
    const backupAt = Date.parse('2026-03-02T01:00:00Z') / 1000;
    utimesSync(join(dir, 'backups', 'waygate_20260302.db'), backupAt, backupAt);

    // A P1 from 08:40 that nobody acknowledged: the digest names it, not just counts it.
    await bot.advanceTo('2026-03-02T07:40:00Z');
    await bot.pdSigner.send(bot.pdSigner.incidentEvent('incident.triggered', { id: 'PD0900', number: 900, priority: 'P1', title: 'search is slow', created_at: '2026-03-02T07:40:00Z' }, { occurredAt: '2026-03-02T07:40:00Z' }));
    await bot.waygate.inboxProcessor.whenIdle();
    await bot.advanceTo('2026-03-02T08:00:00Z'); // 09:00 in Berlin
    await bot.settle();
    const digest = bot.slack.messages('C0OPS').find((m) => m.text.startsWith('Waygate daily health'));
    const blocks = JSON.stringify(digest?.blocks);
    expect(blocks).toContain('Open: 1');
    expect(blocks).toMatch(/• \*P1\* <https:[^|]*PD0900\|#900 search is slow> · open 20 min · 🚨 unacknowledged, SLA breached/);
    expect(blocks).toContain('Waygate daily health — Mon 2 Mar 2026');
    expect(blocks).toContain('Healthy* — HTTP 200');
    expect(blocks).toMatch(/Disk free: (⚠️ )?database folder: [\d.]+ \S+ free of [\d.]+ \S+ \(\d+ %\) · (⚠️ )?backups: [\d.]+ \S+ free/);
    expect(blocks).toMatch(/Host: memory [\d.]+ \S+ free of [\d.]+ \S+ · load [\d.]+ on \d+ cores?/);
    expect(blocks).toContain('Uptime 75.0 % over 4 samples');
    expect(blocks).toContain('p50 100 ms · p95 300 ms');
    expect(blocks).toContain('3 ERROR lines');
    expect(blocks).toMatch(/2× `[^`]*db timeout after # ms`/);
    expect(blocks).toContain('`waygate_20260302.db`');
    expect(blocks).toContain('7 h old');
    expect(blocks).toContain('Integrity: ✅ ok');
    expect(blocks).toContain(DIGEST_ACTIONS.reviewed);
    const head = (await bot.waygate.services.audit.recent(1))[0]?.hash ?? 'empty';
    expect(blocks).toContain(`Audit trail verified: ${(await bot.waygate.services.audit.recent(100)).length}`);
    expect(blocks).toContain(head.slice(0, 16));

    await bot.signer.blockAction({ actionId: DIGEST_ACTIONS.reviewed, value: '1', userId: USERS.ops, channelId: 'C0OPS', messageTs: digest!.ts, responseUrl: bot.slack.responseUrl('rev') });
    await bot.settle();
    const reviewed = bot.slack.messages('C0OPS').find((m) => m.ts === digest!.ts);
    expect(JSON.stringify(reviewed?.blocks)).toContain(`Reviewed by <@${USERS.ops}>`);
    expect(JSON.stringify(reviewed?.blocks)).not.toContain(DIGEST_ACTIONS.reviewed);
    expect((await bot.waygate.services.audit.recent(5)).map((e) => e.action)).toContain('digest.reviewed');
  });

  it('a digest asked for by hand before 9 AM moves neither the failed-jobs nor the log window of the 9 AM digest', async () => {
    writeFileSync(join(dir, 'not-a-dir'), 'a file where the backup folder should be');
    const clock = new ManualClock('2026-03-02T00:30:00Z'); // 01:30 in Berlin
    bot = await startTestBot({
      dir,
      clock,
      yaml: yaml({ schedules: { backup: '0 2 * * *', 'health-digest': '0 9 * * *' }, backup: { dir: join(dir, 'not-a-dir', 'backups') } }),
    });
    writeFileSync(join(dir, 'waygate.log'), ['2026-03-02 01:00:01 ERROR db timeout', '2026-03-02 03:00:01 ERROR tool 42 failed', ''].join('\n'));
    await bot.advanceTo('2026-03-02T07:55:00Z'); // the backup failed at 02:00; now 08:55
    await bot.settle();
    const manual = await bot.signer.slashCommand({ text: 'digest', userId: USERS.ops, responseUrl: bot.slack.responseUrl('manual') });
    expect(manual.json.text).toContain('Building the health digest');
    await bot.settle();
    await bot.advanceTo('2026-03-02T08:00:00Z'); // 09:00: the scheduled digest
    await bot.settle();
    const digests = bot.slack.messages('C0OPS').filter((m) => m.text.startsWith('Waygate daily health'));
    expect(digests).toHaveLength(2);
    for (const digest of digests) {
      const blocks = JSON.stringify(digest.blocks);
      expect(blocks).toContain('*Failed jobs*');
      expect(blocks).toContain('backup');
      expect(blocks).not.toContain('None in the last 24 h');
      expect(blocks).toContain('2 ERROR lines');
    }
  });

  it('warns in the digest when the health URL serves a TLS certificate that expires within 14 days', async () => {
    // A real HTTPS health endpoint whose certificate expires 3 days after the bot's clock.
    const now = Date.parse('2026-03-02T08:00:00Z');
    const { cert, private: key } = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
      notBeforeDate: new Date(now - 86_400_000),
      notAfterDate: new Date(now + 3 * 86_400_000),
    });
    const https = createHttpsServer({ cert, key }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"healthy"}');
    });
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `https://localhost:${(https.address() as AddressInfo).port}/health`;
      bot = await startTestBot({ dir, clock: new ManualClock(now), yaml: yaml({ service: { healthUrl: url } }) });
      const res = await bot.signer.slashCommand({ text: 'digest', userId: USERS.ops, responseUrl: bot.slack.responseUrl('tls') });
      expect(res.json.text).toContain('Building the health digest');
      await bot.settle();
      const digest = bot.slack.messages('C0OPS').find((m) => m.text.startsWith('Waygate daily health'));
      expect(JSON.stringify(digest?.blocks)).toMatch(/⚠️ TLS certificate valid until <!date\^\d+\^[^>]+> \(3 d left\)/);
    } finally {
      await new Promise((r) => https.close(() => r(undefined)));
    }
  });

  it('says plainly in the digest when the log file, the health endpoint and the backups are missing', async () => {
    await service.close();
    const clock = new ManualClock('2026-03-02T07:30:00Z');
    bot = await startTestBot({ dir, clock, yaml: yaml({ schedules: { 'health-digest': '0 9 * * *' }, service: { healthUrl: 'http://127.0.0.1:9/health' } }) });
    const res = await bot.signer.slashCommand({ text: 'digest', userId: USERS.ops, responseUrl: bot.slack.responseUrl('dg') });
    expect(res.json.text).toContain('Building the health digest');
    await bot.settle();
    expect(bot.slack.responsePosts('dg')[0]?.body.text).toContain('Digest #1 posted in <#C0OPS>');
    const blocks = JSON.stringify(bot.slack.messages('C0OPS')[0]?.blocks);
    expect(blocks).toContain('Not answering');
    expect(blocks).toContain(`Log file \`${join(dir, 'waygate.log')}\` not found`);
    expect(blocks).toContain('No backups found');
    expect(blocks).toContain('Not tracked (PagerDuty is not configured)');
    service = await startService(); // afterEach closes it
  });

  it('`/waygate health` answers after the ack with the current status', async () => {
    bot = await startTestBot({ dir, yaml: yaml() });
    const res = await bot.signer.slashCommand({ text: 'health', userId: USERS.nobody, responseUrl: bot.slack.responseUrl('h') });
    expect(res.json.text).toContain(`Checking ${service.url}`);
    await bot.settle();
    expect(bot.slack.responsePosts('h')[0]?.body.text).toMatch(/🟢 .* healthy in \d+ ms — status=healthy version=1\.4\.2/);
  });
});

describe('credentials in service.healthUrl', () => {
  const PASSWORD = 'pa55-w0rd-Xq7';
  let dir: string;
  let service: Awaited<ReturnType<typeof startService>>;
  let bot: TestBot | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-ops-'));
    service = await startService({ basicAuth: `waygate:${PASSWORD}` });
  });
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const withCredentials = (url: string) => url.replace('http://', `http://waygate:${PASSWORD}@`);
  const redacted = (url: string) => url.replace('http://', 'http://[REDACTED]@');
  const yaml = (healthUrl: string, schedules: Record<string, string> = {}) => ({
    ...DEFAULT_YAML,
    schedules: { ...DEFAULT_YAML.schedules, ...schedules },
    service: { healthUrl, systemdUnit: null, logFile: join(dir, 'waygate.log'), timeout: '1s', failuresBeforeDown: 1, pagerDutyRoutingKey: ROUTING_KEY },
    backup: { dir: join(dir, 'backups'), configDir: null },
  });

  it('are used for the check and never shown by `/waygate health`, which anyone may run', async () => {
    bot = await startTestBot({ dir, yaml: yaml(withCredentials(service.url)) });
    const res = await bot.signer.slashCommand({ text: 'health', userId: USERS.nobody, responseUrl: bot.slack.responseUrl('h') });
    expect(res.json.text).toBe(`Checking ${redacted(service.url)}…`);
    await bot.settle();
    const reply = bot.slack.responsePosts('h')[0]?.body.text;
    expect(reply).toMatch(/^🟢 .* healthy in \d+ ms — status=healthy version=1\.4\.2/);
    expect(reply).toContain(redacted(service.url));
    expect(reply).not.toContain(PASSWORD);
  });

  it('are never shown in the digest, the down alert or the PagerDuty event', async () => {
    const down = withCredentials('http://127.0.0.1:9/health');
    const clock = new ManualClock('2026-03-02T08:01:00Z');
    bot = await startTestBot({ dir, clock, pagerDuty: true, yaml: yaml(down, { 'health-check': '*/5 * * * *' }) });
    await bot.advanceTo('2026-03-02T08:05:00Z');
    await bot.signer.slashCommand({ text: 'digest', userId: USERS.ops, responseUrl: bot.slack.responseUrl('dg') });
    await bot.settle();
    const alert = bot.slack.messages('C0ALERTS')[0]?.text;
    expect(alert).toContain(`checks of ${redacted('http://127.0.0.1:9/health')}`);
    const digest = JSON.stringify(bot.slack.messages('C0OPS').find((m) => m.text.startsWith('Waygate daily health'))?.blocks);
    expect(digest).toContain(`health endpoint at \`${redacted('http://127.0.0.1:9/health')}\` unreachable`);
    const events = bot.pd!.events() as Array<{ dedup_key: string; payload: { summary: string; source: string } }>;
    expect(events[0]?.payload.source).toBe(redacted('http://127.0.0.1:9/health'));
    const everything = JSON.stringify([bot.slack.messages('C0ALERTS'), bot.slack.messages('C0OPS'), bot.slack.responsePosts('dg'), events]);
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain('waygate:');
  });
});

describe('PagerDuty events that PagerDuty refuses', () => {
  it('are reported in the ops channel instead of vanishing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waygate-ops-'));
    const service = await startService();
    service.setHealthy(false);
    const clock = new ManualClock('2026-03-02T08:01:00Z');
    const bot = await startTestBot({
      dir,
      clock,
      pagerDuty: true,
      yaml: {
        ...DEFAULT_YAML,
        schedules: { ...DEFAULT_YAML.schedules, 'health-check': '*/5 * * * *' },
        service: { healthUrl: service.url, systemdUnit: null, failuresBeforeDown: 1, pagerDutyRoutingKey: 'x'.repeat(32) },
      },
    });
    try {
      bot.pd!.failNext('events', { kind: 'http_error', status: 400 });
      await bot.advanceTo('2026-03-02T08:05:00Z');
      await bot.settle();
      const ops = bot.slack.messages('C0OPS').map((m) => m.text);
      expect(ops.some((t) => t.includes('PagerDuty refused an Events API event') && t.includes('HTTP 400'))).toBe(true);
    } finally {
      await bot.stop();
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
