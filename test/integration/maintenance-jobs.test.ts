import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import type { RunResult, RunSpec } from '../../src/runner/runner.js';
import { RecordingRunner } from '../support/recording-runner.js';
import { formatBytes } from '../../src/core/text.js';
import { DEFAULT_YAML, healthDetails, startTestBot, USERS, type TestBot } from '../helpers/bot.js';

const OUTDATED = ['Package    Version Latest Type', '---------- ------- ------ -----', 'requests   2.28.0  2.32.3 wheel', 'urllib3    1.26.5  2.2.1  wheel', ''].join('\n');

/** A service database with `rows` rows, most of them then deleted: VACUUM has free pages to give back. */
function makeBloatedDb(path: string, rows: number): void {
  const db = new Database(path);
  db.exec('CREATE TABLE calls (id INTEGER PRIMARY KEY, tool TEXT, payload TEXT); CREATE INDEX calls_tool ON calls (tool)');
  const insert = db.prepare('INSERT INTO calls (tool, payload) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`tool-${i % 7}`, 'p'.repeat(200));
  })();
  db.exec('DELETE FROM calls WHERE id > 50');
  db.close();
}

describe('scheduled maintenance jobs', () => {
  let serviceDir: string;
  let bot: TestBot | undefined;
  let runner: RecordingRunner;
  /** What the next maintenance command "does"; by default it succeeds with no output. */
  let answer: (spec: RunSpec) => Partial<RunResult>;

  beforeEach(() => {
    serviceDir = mkdtempSync(join(tmpdir(), 'waygate-maint-'));
    answer = () => ({ exitCode: 0, output: '' });
    runner = new RecordingRunner((spec) => answer(spec));
  });
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
    rmSync(serviceDir, { recursive: true, force: true });
  });

  const serviceDb = () => join(serviceDir, 'service.db');
  const yaml = (over: { schedules?: Record<string, string | false>; channels?: Record<string, string>; maintenance?: Record<string, unknown> } = {}) => ({
    ...DEFAULT_YAML,
    channels: over.channels ?? DEFAULT_YAML.channels,
    schedules: { ...DEFAULT_YAML.schedules, ...over.schedules },
    service: { ...DEFAULT_YAML.service, database: serviceDb(), logFile: join(serviceDir, 'waygate.log') },
    backup: { dir: join(serviceDir, 'backups'), configDir: null },
    ...(over.maintenance ? { maintenance: over.maintenance } : {}),
  });
  const start = async (clockAt: string, over: Parameters<typeof yaml>[0] = {}) => {
    bot = await startTestBot({ clock: new ManualClock(clockAt), yaml: yaml(over), overrides: { runner } });
    return bot;
  };
  const command = (b: TestBot, text: string, userId: string = USERS.ops, responseUrl = b.slack.responseUrl()) =>
    b.signer.slashCommand({ text, userId, responseUrl });
  /** The `/waygate jobs` section for one job, as a user reads it. */
  const jobLine = async (b: TestBot, name: string) => {
    const res = await command(b, 'jobs', USERS.nobody);
    const blocks = res.json.blocks as Array<{ text?: { text: string } }>;
    return blocks.map((x) => x.text?.text ?? '').find((t) => t.startsWith(`*${name}*`)) ?? '';
  };
  const texts = (b: TestBot, channel: string) => b.slack.messages(channel).map((m) => m.text);

  describe('weekly-maintenance', () => {
    it('run outside the maintenance window: leaves the live database alone and says when it will run', async () => {
      makeBloatedDb(serviceDb(), 3000);
      const before = statSync(serviceDb()).size;
      answer = () => ({ exitCode: 0, output: OUTDATED });
      const b = await start('2026-03-02T08:00:00Z'); // Monday 09:00 in Berlin: the service is busy
      await command(b, 'jobs run weekly-maintenance', USERS.ops, b.slack.responseUrl('wm'));
      await b.settle();
      expect(statSync(serviceDb()).size).toBe(before);
      const [report] = texts(b, 'C0OPS');
      expect(report).toContain(`⏭️ *Database* \`${serviceDb()}\`: VACUUM and ANALYZE skipped, outside the maintenance window (tue 14:00–18:00 Europe/Berlin)`);
      expect(report).toContain('*Outdated dependencies*');
    });

    it('run by an ops user in the maintenance window: VACUUMs and ANALYZEs the service database, lists outdated dependencies, and reports both apart', async () => {
      makeBloatedDb(serviceDb(), 3000);
      const before = statSync(serviceDb()).size;
      answer = () => ({ exitCode: 0, output: OUTDATED });
      const b = await start('2026-03-03T13:30:00Z'); // Tuesday 14:30 in Berlin

      const res = await command(b, 'jobs run weekly-maintenance', USERS.ops, b.slack.responseUrl('wm'));
      expect(res.json.text).toBe("Starting `weekly-maintenance` now. I'll post the outcome here when it finishes.");
      await b.settle();

      const after = statSync(serviceDb()).size;
      expect(after).toBeLessThan(before);
      const [report, ...others] = texts(b, 'C0OPS');
      // The performance review follows the maintenance report (test/integration/weekly-review.test.ts).
      expect(others).toEqual([expect.stringMatching(/^Weekly performance review — Tue 3 Mar 2026: /)]);
      expect(report).toContain('🧰 *Weekly maintenance*');
      // VACUUM's effect apart from ANALYZE's, whose statistics pages would otherwise read as if VACUUM grew the file.
      expect(report).toContain(`✅ *Database* \`${serviceDb()}\`: VACUUM ${formatBytes(before)} → `);
      expect(report).toMatch(/ freed\); ANALYZE refreshed the query planner's statistics/);
      expect(report).toMatch(/✅ \*Outdated dependencies\* `pip list --outdated`: exit 0 in \S+ \S+\n```/);
      expect(report).toContain('requests   2.28.0  2.32.3 wheel\nurllib3    1.26.5  2.2.1  wheel```');

      // The one command it ran, as an argv array with the SOP's default timeout.
      expect(runner.argvs).toEqual([['pip', 'list', '--outdated']]);
      expect(runner.calls[0]?.timeoutMs).toBe(120_000);

      // ANALYZE left its statistics in the service database, and the data is intact.
      const db = new Database(serviceDb(), { readonly: true });
      expect(db.prepare('SELECT COUNT(*) FROM calls').pluck().get()).toBe(50);
      expect(db.prepare(`SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'calls'`).pluck().get()).toBeGreaterThan(0);
      db.close();

      const [done] = b.slack.responsePosts('wm');
      expect(done?.body.text).toMatch(/^`weekly-maintenance` run #1 finished ✅ ok .*: database maintained; outdated check ran; performance review posted$/);
      expect(await jobLine(b, 'weekly-maintenance')).toContain('✅ ok');
    });

    it('runs the configured outdated command, keeps only the tail of its output, and cannot be broken out of its code block', async () => {
      makeBloatedDb(serviceDb(), 100);
      const lines = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`);
      answer = () => ({ exitCode: 0, output: `${lines.join('\n')}\n\`\`\` not the end\n` });
      const b = await start('2026-03-02T08:00:00Z', { maintenance: { commands: { outdated: { run: ['npm', 'outdated', '--long'], timeout: '30s' } } } });
      await command(b, 'jobs run weekly-maintenance');
      await b.settle();

      expect(runner.argvs).toEqual([['npm', 'outdated', '--long']]);
      expect(runner.calls[0]?.timeoutMs).toBe(30_000);
      const [report] = texts(b, 'C0OPS');
      expect(report).toContain('✅ *Outdated dependencies* `npm outdated --long`');
      // The last 15 lines: 27…40 and the closing line, whose backticks cannot end the code block early.
      expect(report).not.toContain('line 26\n');
      expect(report).toContain('```line 27\nline 28');
      expect(report).toContain("line 40\n''' not the end```");
      expect(report!.match(/```/g)).toHaveLength(2);
    });

    it('reports an outdated check that fails next to a database that was maintained, and still counts the run as done', async () => {
      makeBloatedDb(serviceDb(), 100);
      answer = () => ({ failedToStart: 'command not found: pip' });
      const b = await start('2026-03-03T13:30:00Z');
      await command(b, 'jobs run weekly-maintenance', USERS.ops, b.slack.responseUrl('wm'));
      await b.settle();
      const [report] = texts(b, 'C0OPS');
      expect(report).toContain('✅ *Database*');
      expect(report).toContain('❌ *Outdated dependencies* `pip list --outdated`: could not start: command not found: pip');
      expect(b.slack.responsePosts('wm')[0]?.body.text).toContain('✅ ok');
      expect(b.slack.responsePosts('wm')[0]?.body.text).toContain('database maintained; outdated check failed');
    });

    it('on schedule with the database file missing: one ❌ report, the run recorded as failed, and no second failure message', async () => {
      // Tuesday 13:30 in Berlin; the SOP's slot is Tuesday 14:00.
      const b = await start('2026-03-03T12:30:00Z', { schedules: { 'weekly-maintenance': '0 14 * * 2' } });
      await b.advanceTo('2026-03-03T12:59:00Z');
      await b.settle();
      expect(runner.calls).toEqual([]);
      expect(texts(b, 'C0OPS')).toEqual([]);

      await b.advanceTo('2026-03-03T13:05:00Z');
      await b.settle();
      const ops = texts(b, 'C0OPS');
      expect(ops).toHaveLength(2);
      expect(ops[0]).toContain('🧰 *Weekly maintenance*');
      // The review is still posted: it reads Waygate's own records, not the service database.
      expect(ops[1]).toMatch(/^Weekly performance review — /);
      expect(ops[0]).toContain(`❌ *Database* \`${serviceDb()}\`: unable to open database file`);
      // The other half of the SOP step still ran.
      expect(ops[0]).toContain('✅ *Outdated dependencies* `pip list --outdated`');
      expect(runner.argvs).toEqual([['pip', 'list', '--outdated']]);
      expect(ops.some((t) => t.includes('Scheduled job'))).toBe(false);

      const line = await jobLine(b, 'weekly-maintenance');
      expect(line).toContain('❌ failed');
      expect(line).toContain(`database maintenance failed: ${serviceDb()}: unable to open database file`);
      const health = await healthDetails<{ jobs: Record<string, { lastRun: unknown }> }>(b.url);
      expect(health.jobs['weekly-maintenance']?.lastRun).toMatchObject({ outcome: 'failed' });
      const metrics = await (await fetch(`${b.url}/metrics`)).text();
      expect(metrics).toContain('waygate_job_failures_total{job="weekly-maintenance"} 1');
      // Nothing was created where the database should have been.
      expect(() => statSync(serviceDb())).toThrow();
    });

    it('run by hand with the database missing: the report in the channel and the failure in the reply', async () => {
      const b = await start('2026-03-03T13:30:00Z');
      await command(b, 'jobs run weekly-maintenance', USERS.ops, b.slack.responseUrl('wm'));
      await b.settle();
      expect(texts(b, 'C0OPS')).toEqual([expect.stringContaining('❌ *Database*'), expect.stringMatching(/^Weekly performance review — /)]);
      const [done] = b.slack.responsePosts('wm');
      expect(done?.body.text).toContain('`weekly-maintenance` run #1 finished ❌ failed');
      expect(done?.body.text).toContain('database maintenance failed');
    });
  });

  describe('log-rotation', () => {
    // Sunday 02:30 in Berlin; the SOP's slot is Sunday 03:00.
    const SAT_NIGHT = '2026-03-08T01:30:00Z';
    const AFTER = '2026-03-08T02:05:00Z';

    it('failing on schedule: the report with exit code and output, the run failed, and no second failure message', async () => {
      answer = () => ({ exitCode: 1, output: 'error: skipping "/var/log/waygate/waygate.log" because parent directory has insecure permissions\n' });
      const b = await start(SAT_NIGHT, { schedules: { 'log-rotation': '0 3 * * 0' } });
      await b.advanceTo(AFTER);
      await b.settle();

      expect(runner.argvs).toEqual([['logrotate', '-f', '/etc/logrotate.d/waygate']]);
      const ops = texts(b, 'C0OPS');
      expect(ops).toHaveLength(1);
      expect(ops[0]).toMatch(/^❌ \*Log rotation\* `logrotate -f \/etc\/logrotate\.d\/waygate`: exit 1 in /);
      expect(ops[0]).toContain('```error: skipping "/var/log/waygate/waygate.log" because parent directory has insecure permissions```');
      const line = await jobLine(b, 'log-rotation');
      expect(line).toContain('❌ failed');
      expect(line).toContain('log rotation exited 1');
      const metrics = await (await fetch(`${b.url}/metrics`)).text();
      expect(metrics).toContain('waygate_job_failures_total{job="log-rotation"} 1');
    });

    it('a command that cannot start is reported with the reason', async () => {
      answer = () => ({ failedToStart: 'command not found: logrotate' });
      const b = await start(SAT_NIGHT, { schedules: { 'log-rotation': '0 3 * * 0' } });
      await b.advanceTo(AFTER);
      await b.settle();
      expect(texts(b, 'C0OPS')).toEqual(['❌ *Log rotation* `logrotate -f /etc/logrotate.d/waygate`: could not start: command not found: logrotate']);
      expect(await jobLine(b, 'log-rotation')).toContain('log rotation command not found: logrotate');
    });

    it('succeeding: a ✅ report and an ok run', async () => {
      const b = await start(SAT_NIGHT, { schedules: { 'log-rotation': '0 3 * * 0' } });
      await b.advanceTo(AFTER);
      await b.settle();
      expect(texts(b, 'C0OPS')).toEqual([expect.stringMatching(/^✅ \*Log rotation\* `logrotate -f \/etc\/logrotate\.d\/waygate`: exit 0 in \S+ \S+$/)]);
      expect(await jobLine(b, 'log-rotation')).toContain('✅ ok');
      expect(await jobLine(b, 'log-rotation')).toContain('logs rotated');
    });

    it('run by hand and failing: the report in the channel, the failure in the reply', async () => {
      answer = () => ({ exitCode: 3, output: 'boom\n' });
      const b = await start('2026-03-02T08:00:00Z');
      await command(b, 'jobs run log-rotation', USERS.ops, b.slack.responseUrl('lr'));
      await b.settle();
      expect(texts(b, 'C0OPS')).toEqual([expect.stringContaining('❌ *Log rotation*')]);
      expect(b.slack.responsePosts('lr')[0]?.body.text).toMatch(/^`log-rotation` run #1 finished ❌ failed .*: log rotation exited 3$/);
    });
  });

  describe('security-scan', () => {
    // 03:40 in Berlin; the SOP's slot is 04:00 daily.
    const BEFORE = '2026-03-02T02:40:00Z';
    const AFTER = '2026-03-02T03:05:00Z';

    it('failing on schedule: the report in the security channel, the run failed, and no failure message anywhere else', async () => {
      answer = () => ({ exitCode: 2, output: 'CVE-2024-0001 high  openssl 3.0.1\nCVE-2024-0002 medium zlib 1.2.11\n2 vulnerabilities found\n' });
      const b = await start(BEFORE, { schedules: { 'security-scan': '0 4 * * *' } });
      await b.advanceTo(AFTER);
      await b.settle();

      expect(runner.argvs).toEqual([['./scripts/security-scan.sh']]);
      expect(runner.calls[0]?.timeoutMs).toBe(600_000);
      const sec = texts(b, 'C0SEC');
      expect(sec).toHaveLength(1);
      expect(sec[0]).toMatch(/^❌ \*Security scan\* `\.\/scripts\/security-scan\.sh`: exit 2 in /);
      expect(sec[0]).toContain('CVE-2024-0001 high  openssl 3.0.1');
      expect(sec[0]).toContain('2 vulnerabilities found```');
      expect(texts(b, 'C0OPS')).toEqual([]);
      const line = await jobLine(b, 'security-scan');
      expect(line).toContain('❌ failed');
      expect(line).toContain('security scan exited 2');
    });

    it('a scan that times out is reported as killed', async () => {
      answer = () => ({ exitCode: null, timedOut: true, signal: 'SIGKILL', durationMs: 600_000, output: 'scanning layer 3/7\n' });
      const b = await start(BEFORE, { schedules: { 'security-scan': '0 4 * * *' } });
      await b.advanceTo(AFTER);
      await b.settle();
      expect(texts(b, 'C0SEC')).toEqual(['❌ *Security scan* `./scripts/security-scan.sh`: timed out after 10 min (killed)\n```scanning layer 3/7```']);
      expect(await jobLine(b, 'security-scan')).toContain('❌ failed');
    });

    it('reports in the ops channel when no security channel is configured, once', async () => {
      answer = () => ({ exitCode: 1, output: '' });
      const { security: _security, ...channels } = DEFAULT_YAML.channels;
      const b = await start(BEFORE, { channels, schedules: { 'security-scan': '0 4 * * *' } });
      await b.advanceTo(AFTER);
      await b.settle();
      expect(texts(b, 'C0OPS')).toEqual([expect.stringMatching(/^❌ \*Security scan\* `\.\/scripts\/security-scan\.sh`: exit 1 in \S+ \S+$/)]);
    });

    it('passing: a ✅ report and an ok run', async () => {
      answer = () => ({ exitCode: 0, output: 'no vulnerabilities found\n' });
      const b = await start(BEFORE, { schedules: { 'security-scan': '0 4 * * *' } });
      await b.advanceTo(AFTER);
      await b.settle();
      expect(texts(b, 'C0SEC')).toEqual([expect.stringContaining('✅ *Security scan*')]);
      expect(await jobLine(b, 'security-scan')).toContain('scan passed');
    });
  });
});
