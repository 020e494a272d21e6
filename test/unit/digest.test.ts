import { describe, expect, it } from 'vitest';
import { DIGEST_ACTIONS, formatAge, formatPercent, renderDigest, type DigestData } from '../../src/health/digest.js';
import { LIMITS, validateMessage } from '../../standins/slack/index.js';

const NOW = Date.parse('2026-01-05T09:00:00Z');
const HOUR = 3_600_000;

function data(overrides: Partial<DigestData> = {}): DigestData {
  return {
    now: NOW,
    healthUrl: 'http://localhost:8000/health',
    status: { ok: true, httpStatus: 200, latencyMs: 42, summary: 'status=healthy version=1.2' },
    systemd: 'active',
    systemdUnit: 'waygate-mcp',
    last24h: { uptimePct: (286 / 288) * 100, p50Ms: 120, p95Ms: 340, samples: 288 },
    logs: {
      path: '/var/log/waygate/waygate.log',
      exists: true,
      errorLines: 12,
      top: [
        { message: 'request # failed: timeout #ms', count: 7 },
        { message: 'waygate.db: Connection to db failed after # retries', count: 4 },
        { message: 'Upstream # for req #', count: 1 },
      ],
      nextOffset: 4096,
      rotated: false,
      truncated: false,
    },
    backup: {
      newest: { name: 'waygate-20260105-0200.db.gz', sizeBytes: 12.5 * 1024 * 1024, modifiedAt: NOW - 7 * HOUR },
      ageMs: 7 * HOUR,
      integrity: 'ok',
      tooOld: false,
      dir: '/backup/waygate',
      maxAgeMs: 26 * HOUR,
    },
    incidents: { open: 1, acknowledged24h: 5, breached24h: 0 },
    failedJobs: [],
    reviewed: null,
    ...overrides,
  };
}

/** Every piece of text in the blocks, joined: what a reader would see. */
function allText(blocks: object[]): string {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'text' && typeof x === 'string') out.push(x);
        else walk(x);
      }
    }
  };
  walk(blocks);
  return out.join('\n');
}

type AnyBlock = { type: string; text?: { text: string }; elements?: Array<Record<string, any>> };

function sectionWith(blocks: object[], title: string): string {
  const found = (blocks as AnyBlock[]).find((b) => b.type === 'section' && b.text?.text.startsWith(`*${title}*`));
  if (!found?.text) throw new Error(`no section ${title}`);
  return found.text.text;
}

describe('renderDigest', () => {
  it('is a valid Block Kit message with a dated header and one section per source', () => {
    const msg = renderDigest(data(), 7);
    expect(validateMessage(msg)).toEqual([]);
    const blocks = msg.blocks as AnyBlock[];
    expect(blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Waygate daily health — Mon 5 Jan 2026' } });
    for (const title of ['Current status', 'Last 24 h', 'Logs', 'Backups', 'Incidents', 'Failed jobs']) {
      expect(sectionWith(blocks, title)).toBeTruthy();
    }
    expect(msg.text).toBe('Waygate daily health — Mon 5 Jan 2026: healthy, uptime 99.3 %, 12 ERROR lines');
  });

  it('dates the header in the configured time zone', () => {
    const late = Date.parse('2026-01-05T23:30:00Z');
    const msg = renderDigest(data({ now: late, timeZone: 'Europe/Berlin' }), 1);
    expect(msg.blocks[0]).toMatchObject({ text: { text: 'Waygate daily health — Tue 6 Jan 2026' } });
    expect(renderDigest(data({ now: late }), 1).blocks[0]).toMatchObject({ text: { text: 'Waygate daily health — Mon 5 Jan 2026' } });
  });

  it('shows the known numbers, formatted', () => {
    const { blocks } = renderDigest(data(), 7);
    const status = sectionWith(blocks, 'Current status');
    expect(status).toContain('✅ *Healthy* — HTTP 200 in 42 ms');
    expect(status).toContain('`status=healthy version=1.2`');
    expect(status).toContain('systemd `waygate-mcp`: ✅ active');

    const last = sectionWith(blocks, 'Last 24 h');
    expect(last).toContain('Uptime 99.3 % over 288 samples');
    expect(last).toContain('p50 120 ms');
    expect(last).toContain('p95 340 ms');

    const logs = sectionWith(blocks, 'Logs');
    expect(logs).toContain('12 ERROR lines');
    expect(logs).toContain('• 7× `request # failed: timeout #ms`');
    expect(logs).toContain('• 4× `waygate.db: Connection to db failed after # retries`');
    expect(logs).toContain('• 1× `Upstream # for req #`');

    const backups = sectionWith(blocks, 'Backups');
    expect(backups).toContain('✅ Newest: `waygate-20260105-0200.db.gz` — 12.5 MiB, 7 h old');
    expect(backups).toContain('Integrity: ✅ ok');
    expect(backups).not.toContain('⚠️');

    expect(sectionWith(blocks, 'Incidents')).toContain('Open: 1 · acknowledged in the last 24 h: 5 · SLA breaches in the last 24 h: 0');
    expect(sectionWith(blocks, 'Failed jobs')).toContain('None in the last 24 h');
  });

  it('never shows credentials of the health URL, even from a digest recorded with them', () => {
    const { blocks } = renderDigest(
      data({ healthUrl: 'http://waygate:hunter2-pass@localhost:8000/health', status: { ok: false, httpStatus: null, latencyMs: null, summary: 'connection refused' } }),
      4,
    );
    const text = allText(blocks);
    expect(text).toContain('health endpoint at `http://[REDACTED]@localhost:8000/health` unreachable');
    expect(text).not.toContain('hunter2-pass');
  });

  it('says plainly when a source is missing', () => {
    const { blocks } = renderDigest(
      data({
        status: { ok: false, httpStatus: null, latencyMs: null, summary: 'connection refused' },
        systemd: 'not available (no systemctl)',
        last24h: { uptimePct: null, p50Ms: null, p95Ms: null, samples: 0 },
        logs: { path: '/var/log/waygate/waygate.log', exists: false, errorLines: 0, top: [], nextOffset: 0, rotated: false, truncated: false },
        backup: { newest: null, ageMs: null, integrity: null, tooOld: true, dir: '/backup/waygate' },
        incidents: null,
      }),
      3,
    );
    const text = allText(blocks);
    expect(text).toContain('🔴 *Not answering* — health endpoint at `http://localhost:8000/health` unreachable: connection refused');
    expect(text).toContain('systemd `waygate-mcp`: not available (no systemctl)');
    expect(text).toContain('No health samples in the last 24 h');
    expect(text).toContain('Log file `/var/log/waygate/waygate.log` not found');
    expect(text).toContain('No backups found in `/backup/waygate`');
    expect(text).toContain('Not tracked (PagerDuty is not configured)');
    expect(validateMessage({ text: 'x', blocks })).toEqual([]);
  });

  it('reports sources that failed with their error', () => {
    const { blocks } = renderDigest(
      data({
        status: { ok: false, httpStatus: 503, latencyMs: 15, summary: 'HTTP 503: status=degraded' },
        systemd: 'failed',
        logs: { error: 'EACCES: permission denied, open \'/var/log/waygate/waygate.log\'' },
        backup: { error: 'ENOENT: no such file or directory, scandir \'/backup/waygate\'' },
        incidents: { error: 'database is locked' },
      }),
      3,
    );
    const text = allText(blocks);
    expect(text).toContain('🔴 *Unhealthy* — HTTP 503: status=degraded (answered in 15 ms)');
    expect(text).toContain('systemd `waygate-mcp`: 🔴 failed');
    expect(text).toContain("Could not read the log: EACCES: permission denied, open '/var/log/waygate/waygate.log'");
    expect(text).toContain("Could not check backups: ENOENT: no such file or directory, scandir '/backup/waygate'");
    expect(text).toContain('Could not read incidents: database is locked');
    expect(text).not.toContain('Healthy*');
  });

  it('warns when the newest backup is older than the limit', () => {
    const { blocks, text } = renderDigest(
      data({
        backup: {
          newest: { name: 'waygate-20260103.db.gz', sizeBytes: 2048, modifiedAt: NOW - 50 * HOUR },
          ageMs: 50 * HOUR,
          integrity: 'gzip: unexpected end of file',
          tooOld: true,
          maxAgeMs: 26 * HOUR,
        },
      }),
      1,
    );
    const backups = sectionWith(blocks, 'Backups');
    expect(backups).toContain('⚠️ Newest: `waygate-20260103.db.gz` — 2.0 KiB, 50 h old');
    expect(backups).toContain('⚠️ *Older than the limit* of 26 h');
    expect(backups).toContain('Integrity: ⚠️ gzip: unexpected end of file');
    expect(text).toContain('backup too old');
  });

  it('does not show a fresh, sound backup as all green while no offsite copy is configured', () => {
    const fresh = { newest: { name: 'waygate_20260104.db', sizeBytes: 2048, modifiedAt: NOW - 7 * HOUR }, ageMs: 7 * HOUR, integrity: 'ok', tooOld: false };
    const without = renderDigest(data({ backup: { ...fresh, offsiteConfigured: false } }), 1);
    expect(sectionWith(without.blocks, 'Backups')).toContain('⚠️ Offsite copy: not configured (SOP-BACK-001 step 4: set `backup.offsite`)');
    expect(without.text).toContain('no offsite backup');
    const withOffsite = renderDigest(data({ backup: { ...fresh, offsiteConfigured: true } }), 1);
    expect(sectionWith(withOffsite.blocks, 'Backups')).not.toContain('Offsite');
    expect(withOffsite.text).not.toContain('offsite');
  });

  it('says how much of the 24 h the checks covered, so 72 good checks out of 288 do not read as a good day', () => {
    const { blocks } = renderDigest(data({ last24h: { uptimePct: 100, p50Ms: 80, p95Ms: 120, samples: 72, expectedSamples: 288, checkEveryMs: 300_000 } }), 1);
    const last = sectionWith(blocks, 'Last 24 h');
    expect(last).toContain('⚠️ Uptime 100 % — 72 of 288 checks; no checks for 18 h (Waygate or its check was not running)');
    const full = renderDigest(data({ last24h: { uptimePct: 100, p50Ms: 80, p95Ms: 120, samples: 288, expectedSamples: 288, checkEveryMs: 300_000 } }), 1);
    expect(sectionWith(full.blocks, 'Last 24 h')).toContain('Uptime 100 % — 288 of 288 checks · response time');
    expect(sectionWith(full.blocks, 'Last 24 h')).not.toContain('⚠️');
  });

  it('shows disk free for the database and backup folders, warning below 10 %, and the host\'s memory and load', () => {
    const GiB = 1024 ** 3;
    const { blocks } = renderDigest(
      data({
        host: {
          disks: [
            { label: 'database folder', path: '/var/lib/waygate', freeBytes: 20 * GiB, totalBytes: 50 * GiB },
            { label: 'backups', path: '/backup/waygate', freeBytes: 2 * GiB, totalBytes: 40 * GiB },
          ],
          memory: { freeBytes: 3 * GiB, totalBytes: 8 * GiB },
          load1: 0.5,
          cores: 2,
        },
      }),
      1,
    );
    const status = sectionWith(blocks, 'Current status');
    expect(status).toContain('Disk free: database folder: 20.0 GiB free of 50.0 GiB (40 %) · ⚠️ backups: 2.0 GiB free of 40.0 GiB (5 %)');
    expect(status).toContain('Host: memory 3.0 GiB free of 8.0 GiB · load 0.50 on 2 cores');
    const missing = renderDigest(data({ host: { disks: [{ label: 'backups', path: '/backup/waygate', error: 'ENOENT' }], memory: { freeBytes: GiB, totalBytes: 2 * GiB }, load1: 0, cores: 1 } }), 1);
    expect(sectionWith(missing.blocks, 'Current status')).toContain('Disk free: ⚠️ backups `/backup/waygate`: ENOENT');
  });

  it('warns about a TLS certificate that expires within 14 days, and says when one has expired', () => {
    const DAY = 24 * HOUR;
    const status = (tls: DigestData['tls']) => sectionWith(renderDigest(data({ tls }), 1).blocks, 'Current status');
    expect(status({ validTo: NOW + 90 * DAY })).toMatch(/\nTLS certificate valid until <!date\^\d+\^[^>]+> \(90 d left\)/);
    expect(status({ validTo: NOW + 3 * DAY })).toMatch(/⚠️ TLS certificate valid until <!date\^\d+\^[^>]+> \(3 d left\)/);
    expect(status({ validTo: NOW - 2 * DAY })).toMatch(/🔴 TLS certificate expired 2 d ago/);
    expect(status({ error: 'ECONNREFUSED' })).toContain('⚠️ TLS certificate could not be read: ECONNREFUSED');
    expect(status(null)).not.toContain('TLS');
  });

  it('says whether the last backup reached its offsite copy', () => {
    const fresh = { newest: { name: 'waygate_20260104.db', sizeBytes: 2048, modifiedAt: NOW - 7 * HOUR }, ageMs: 7 * HOUR, integrity: 'ok', tooOld: false, offsiteConfigured: true };
    const failed = renderDigest(data({ backup: { ...fresh, lastOffsite: { ok: false, detail: 'rsync: connection refused', at: NOW - 7 * HOUR } } }), 1);
    expect(sectionWith(failed.blocks, 'Backups')).toMatch(/⚠️ Offsite copy of the last backup \(<!date[^>]+>\) failed: rsync: connection refused/);
    expect(failed.text).toContain('offsite copy failed');
    const ok = renderDigest(data({ backup: { ...fresh, lastOffsite: { ok: true, at: NOW - 7 * HOUR } } }), 1);
    expect(sectionWith(ok.blocks, 'Backups')).toContain('Offsite copy of the last backup: ✅ ok');
  });

  it('ends with the configured links', () => {
    const { blocks } = renderDigest(data({ links: '<https://grafana.example.com/d/1|Dashboard>' }), 1);
    expect(JSON.stringify(blocks.at(-2))).toContain('<https://grafana.example.com/d/1|Dashboard>');
  });

  it('says who is on call today when someone is', () => {
    expect(sectionWith(renderDigest(data({ onCall: 'U0ANA' }), 1).blocks, 'Current status')).toContain('On call today: <@U0ANA>');
    expect(sectionWith(renderDigest(data({ onCall: null }), 1).blocks, 'Current status')).not.toContain('On call');
  });

  it('mentions log rotation, clean logs, incidents with breaches and failed jobs', () => {
    const { blocks } = renderDigest(
      data({
        logs: { path: '/var/log/waygate/waygate.log', exists: true, errorLines: 0, top: [], nextOffset: 10, rotated: true, truncated: true },
        incidents: { open: 0, acknowledged24h: 2, breached24h: 1 },
        failedJobs: [
          { job: 'backup', at: NOW - 6 * HOUR, error: 'rsync exited 23' },
          { job: 'logrotate', at: NOW - 2 * HOUR, error: null },
        ],
      }),
      1,
    );
    const logs = sectionWith(blocks, 'Logs');
    expect(logs).toContain('✅ No ERROR lines');
    expect(logs).toContain('rotated');
    expect(logs).toContain('next digest');
    expect(sectionWith(blocks, 'Incidents')).toMatch(/^\*Incidents\*\n🚨 Open: 0 .*SLA breaches in the last 24 h: 1$/);
    const jobs = sectionWith(blocks, 'Failed jobs');
    expect(jobs).toContain('*Failed jobs* (2)');
    expect(jobs).toContain('• `backup` <!date^');
    expect(jobs).toContain('— rsync exited 23');
    expect(jobs).toContain('• `logrotate` <!date^');
  });

  it('has a Reviewed button carrying the digest id until someone reviews it', () => {
    const { blocks } = renderDigest(data(), 42);
    const actions = (blocks as AnyBlock[]).filter((b) => b.type === 'actions');
    expect(actions).toHaveLength(1);
    const button = actions[0]!.elements![0]!;
    expect(button).toMatchObject({ type: 'button', action_id: 'digest.reviewed', value: '42', text: { type: 'plain_text', text: 'Reviewed' } });
    expect(DIGEST_ACTIONS.reviewed).toBe('digest.reviewed');
    expect(allText(blocks)).not.toContain('Reviewed by');
  });

  it('replaces the button with who reviewed it and when', () => {
    const at = NOW + HOUR;
    const { blocks } = renderDigest(data({ reviewed: { by: 'U012ABCDEF', at } }), 42);
    expect((blocks as AnyBlock[]).some((b) => b.type === 'actions')).toBe(false);
    const last = blocks.at(-1) as AnyBlock;
    expect(last.type).toBe('context');
    expect(last.elements![0]!.text).toBe(`✅ Reviewed by <@U012ABCDEF> <!date^${at / 1000}^{date_short_pretty} {time}|2026-01-05 10:00 UTC>`);
    expect(validateMessage({ text: 'x', blocks })).toEqual([]);
  });

  it('stays within Slack limits however much there is to say', () => {
    const huge = 'x'.repeat(5_000);
    const msg = renderDigest(
      data({
        status: { ok: false, httpStatus: 500, latencyMs: 1, summary: `HTTP 500: ${huge}` },
        systemd: huge,
        logs: {
          path: `/var/log/${'deep/'.repeat(100)}waygate.log`,
          exists: true,
          errorLines: 1_000_000,
          top: [1, 2, 3].map((i) => ({ message: `${i}${huge}`, count: 1000 - i })),
          nextOffset: 1,
          rotated: true,
          truncated: true,
        },
        backup: { newest: { name: huge, sizeBytes: 1e12, modifiedAt: NOW }, ageMs: 0, integrity: huge, tooOld: true },
        incidents: { error: huge },
        failedJobs: Array.from({ length: 500 }, (_, i) => ({ job: `job-${i}-${huge}`, at: NOW - i, error: huge })),
      }),
      Number.MAX_SAFE_INTEGER,
    );
    expect(validateMessage(msg)).toEqual([]);
    expect(msg.blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
    for (const b of msg.blocks as AnyBlock[]) {
      if (b.type === 'section') expect(b.text!.text.length).toBeLessThanOrEqual(LIMITS.sectionText);
      if (b.type === 'actions') for (const el of b.elements!) expect(el.text.text.length).toBeLessThanOrEqual(LIMITS.buttonText);
    }
    expect(msg.text.length).toBeLessThanOrEqual(3000);
    const jobs = sectionWith(msg.blocks, 'Failed jobs');
    expect(jobs).toContain('*Failed jobs* (500)');
    // Whole job lines only, so no date token or code span is cut in half.
    expect(jobs).toMatch(/\n…and 49\d more$/);
    expect(jobs).not.toMatch(/…$/);
  });

  it('escapes text from the service so it cannot mention or link', () => {
    const { blocks } = renderDigest(
      data({ status: { ok: false, httpStatus: 500, latencyMs: 3, summary: 'HTTP 500: <!channel> & <https://evil|x>' } }),
      1,
    );
    const status = sectionWith(blocks, 'Current status');
    expect(status).toContain('&lt;!channel&gt; &amp; &lt;https://evil|x&gt;');
    expect(status).not.toContain('<!channel>');
  });
});

describe('formatting helpers', () => {
  it('never rounds uptime up to 100 %', () => {
    expect(formatPercent(99.96)).toBe('99.9 %');
    expect(formatPercent(100)).toBe('100 %');
    expect(formatPercent(0)).toBe('0.0 %');
    expect(formatPercent((286 / 288) * 100)).toBe('99.3 %');
  });

  it('gives backup ages in hours up to 3 days', () => {
    expect(formatAge(7 * 3_600_000)).toBe('7 h');
    expect(formatAge(26 * 3_600_000)).toBe('26 h');
    expect(formatAge(80 * 3_600_000)).toBe('3 d 8 h');
    expect(formatAge(90_000)).toBe('1 min 30 s');
  });
});

describe('audit line in the digest', () => {
  it('anchors the verified head hash, and raises a broken chain as a security incident', async () => {
    const { renderDigest } = await import('../../src/health/digest.js');
    const base = JSON.parse(JSON.stringify(sampleForAudit())) as Parameters<typeof renderDigest>[0];
    const ok = JSON.stringify(renderDigest({ ...base, audit: { ok: true, entries: 12, head: 'ab'.repeat(32) } }, 1).blocks);
    expect(ok).toContain('Audit trail verified: 12 entries, head `abababababababab`');
    const broken = JSON.stringify(renderDigest({ ...base, audit: { ok: false, brokenAt: 7, reason: 'content does not match hash' } }, 1).blocks);
    expect(broken).toContain('Audit trail broken at entry #7: content does not match hash');
    const entry = { id: 7, at: Date.parse('2026-03-02T08:00:00Z'), actor: 'U0ADMIN', action: 'job.run', subject: null };
    const named = JSON.stringify(renderDigest({ ...base, audit: { ok: false, brokenAt: 7, reason: 'content does not match hash', entry } }, 1).blocks);
    expect(named).toContain('Audit trail broken at entry #7 (`job.run` by U0ADMIN, recorded <!date^');
    expect(named).not.toContain('<@U0ADMIN>');
  });
});

function sampleForAudit() {
  return {
    now: Date.parse('2026-03-02T08:00:00Z'),
    status: { ok: true, httpStatus: 200, latencyMs: 12, summary: 'status=ok' },
    systemd: 'active',
    last24h: { uptimePct: 100, p50Ms: 10, p95Ms: 20, samples: 288 },
    logs: { error: 'n/a' },
    backup: { error: 'n/a' },
    incidents: null,
    failedJobs: [],
    reviewed: null,
  };
}
