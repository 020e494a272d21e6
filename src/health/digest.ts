/**
 * The 9 AM SOP-MAINT-001 digest: current status, the last 24 h of samples, ERROR lines since the previous
 * digest, backups, incidents and failed jobs, with a Reviewed button that records who went through it.
 */
import { DateTime, IANAZone } from 'luxon';
import type { MessageContent } from '../outbox/types.js';
import { escapeMrkdwn, formatBytes, formatDuration, oneLine, redactCredentials, truncate } from '../core/text.js';
import { slackDate } from '../slack/format.js';
import type { HealthCheckResult } from './health-check.js';
import type { LogScan } from './log-scan.js';
import type { AuditVerification } from '../audit/audit-log.js';
import { brokenEntryText } from '../audit/describe.js';
import { anchorText, type AuditAnchor } from '../audit/anchor.js';
import { actions, button, context, header, section, type Block } from '../core/blocks.js';

/** Action ids of the digest's buttons: one place for the Block Kit builder and the handler. */
export const DIGEST_ACTIONS = { reviewed: 'digest.reviewed' } as const;

type Failure = { error: string };

export interface DigestBackup {
  newest: { name: string; sizeBytes: number; modifiedAt: number } | null;
  ageMs: number | null;
  /** The integrity check's verdict ("ok", or what failed); null when not checked. */
  integrity: string | null;
  /** The newest backup is older than the configured limit (BackupConfig.maxAge). */
  tooOld: boolean;
  /** Whether `backup.offsite` is set (SOP-BACK-001 step 4); a digest without one is not all green. */
  offsiteConfigured?: boolean;
  /** How the last backup run's offsite copy went, when the run recorded it. */
  lastOffsite?: { ok: true; at: number } | { ok: false; detail: string; at: number };
  /** Shown with "No backups found" and with the age warning when given. */
  dir?: string;
  maxAgeMs?: number;
}

export interface DigestIncidents {
  open: number;
  acknowledged24h: number;
  breached24h: number;
  /** The open ones, most urgent first (at most OPEN_LISTED): what is waiting for the team. */
  waiting?: Array<{ priority: string; link: string; openedAt: number; status: 'triggered' | 'acknowledged'; breached: boolean }>;
}

/** Open incidents the digest names; the rest are counted. */
export const OPEN_LISTED = 8;

export interface DigestData {
  /** When the digest was made (epoch ms). */
  now: number;
  /** IANA zone for the date in the header (the config's `timezone`); default UTC. */
  timeZone?: string;
  /** Shown when the health endpoint did not answer. */
  healthUrl?: string;
  status: HealthCheckResult;
  /** systemdState(): 'active', 'failed', 'not checked (no unit configured)', … */
  systemd: string;
  systemdUnit?: string | null;
  /** `expectedSamples`: how many checks 24 h of the check's schedule makes (absent when it cannot be told). */
  /** `links:` of the config as one mrkdwn line (dashboard, runbook, repository); empty when none. */
  links?: string;
  /** The health URL's TLS certificate: when it expires, or why it could not be read; null for http. */
  tls?: { validTo: number } | { error: string } | null;
  /** Disk free where the service's database and the backups live, memory and load of this host. */
  host?: {
    disks: Array<{ label: string; path: string; freeBytes: number; totalBytes: number } | { label: string; path: string; error: string }>;
    memory: { freeBytes: number; totalBytes: number };
    load1: number;
    cores: number;
  };
  /** The Slack user on call when the digest was built (rotation, override or PagerDuty); null when nobody is. */
  onCall?: string | null;
  last24h: { uptimePct: number | null; p50Ms: number | null; p95Ms: number | null; samples: number; expectedSamples?: number; checkEveryMs?: number };
  logs: LogScan | Failure;
  backup: DigestBackup | Failure;
  /** null: incidents are not tracked (PagerDuty not configured). */
  incidents: DigestIncidents | Failure | null;
  failedJobs: Array<{ job: string; at: number; error: string | null }>;
  reviewed: { by: string; at: number } | null;
  /**
   * The audit chain, verified: its head hash posted daily anchors the trail outside the database, so
   * deleting the newest entries (which a hash chain alone cannot reveal) shows against yesterday's digest.
   */
  audit?: AuditVerification;
  /** The previous digest's anchor, read back from Slack, checked against the trail; absent in older digests. */
  anchorCheck?: AnchorCheck;
}

/** How the trail compares with the head an earlier digest posted (read back from its Slack message). */
export type AnchorCheck =
  | { state: 'held'; anchor: AuditAnchor }
  /** The trail was cut back or rewritten since: an alarm went to the security channel. */
  | { state: 'broken'; anchor: AuditAnchor; reason: string }
  | { state: 'none' }
  | { state: 'unreadable'; error: string };

const MAX_FAILED_JOBS = 10;
const ERROR_CHARS = 200;
const SECTION_BUDGET = 3000;

function isFailure(v: object): v is Failure {
  return 'error' in v;
}

/** Inline code that stays inline code: backticks inside would end it early. */
function code(text: string, max = 300): string {
  return `\`${escapeMrkdwn(truncate(oneLine(text.replace(/`/g, "'")), max) || ' ')}\``;
}

function plain(text: string, max = ERROR_CHARS): string {
  return escapeMrkdwn(truncate(oneLine(text), max));
}

/** "99.3 %", rounded down so 99.96 % never shows as 100 %. */
export function formatPercent(pct: number): string {
  if (pct >= 100) return '100 %';
  return `${(Math.floor(pct * 10) / 10).toFixed(1)} %`;
}

export function formatLatency(ms: number): string {
  return formatDuration(ms);
}


/** Like formatDuration, but whole hours up to 3 days: "26 h" reads better than "1.1 d" next to a 26 h limit. */
export function formatAge(ms: number): string {
  return ms >= 86_400_000 && ms < 3 * 86_400_000 ? `${Math.round(ms / 3_600_000)} h` : formatDuration(ms);
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function who(user: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(user) ? `<@${user}>` : escapeMrkdwn(user);
}

function headerDate(now: number, zone: string | undefined): string {
  const tz = zone && IANAZone.isValidZone(zone) ? zone : 'UTC';
  return DateTime.fromMillis(now, { zone: tz }).toFormat('ccc d LLL yyyy');
}

/** Below this share of a disk free, the digest warns: a full disk stops backups and the service's writes. */
const LOW_DISK_FRACTION = 0.1;

function hostLines(d: DigestData): string[] {
  const h = d.host;
  if (!h) return [];
  const disks = h.disks.map((disk) => {
    if ('error' in disk) return `⚠️ ${disk.label} ${code(disk.path)}: ${plain(disk.error, 120)}`;
    const share = disk.totalBytes > 0 ? disk.freeBytes / disk.totalBytes : 1;
    return `${share < LOW_DISK_FRACTION ? '⚠️ ' : ''}${disk.label}: ${formatBytes(disk.freeBytes)} free of ${formatBytes(disk.totalBytes)} (${Math.floor(share * 100)} %)`;
  });
  const memory = `memory ${formatBytes(h.memory.freeBytes)} free of ${formatBytes(h.memory.totalBytes)}`;
  const load = `load ${h.load1.toFixed(2)} on ${h.cores} core${h.cores === 1 ? '' : 's'}`;
  return [`Disk free: ${disks.join(' · ')}`, `Host: ${memory} · ${load}`];
}

/** A certificate expiring sooner than this gets a warning: time to renew before browsers and clients refuse it. */
const CERT_WARN_MS = 14 * 86_400_000;

function tlsLine(d: DigestData): string | null {
  const t = d.tls;
  if (!t) return null;
  if ('error' in t) return `⚠️ TLS certificate could not be read: ${plain(t.error, 150)}`;
  const left = t.validTo - d.now;
  if (left <= 0) return `🔴 TLS certificate expired ${formatDuration(-left)} ago (${slackDate(new Date(t.validTo))})`;
  return `${left < CERT_WARN_MS ? '⚠️ ' : ''}TLS certificate valid until ${slackDate(new Date(t.validTo))} (${formatDuration(left)} left)`;
}

function onCallLine(d: DigestData): string | null {
  return d.onCall ? `On call today: <@${d.onCall}>` : null;
}

function statusSection(d: DigestData): string {
  const s = d.status;
  const lines = ['*Current status*'];
  if (s.ok) {
    const latency = s.latencyMs !== null ? ` in ${formatLatency(s.latencyMs)}` : '';
    lines.push(`✅ *Healthy* — HTTP ${s.httpStatus ?? '2xx'}${latency}`, code(s.summary));
  } else if (s.httpStatus !== null) {
    const latency = s.latencyMs !== null ? ` (answered in ${formatLatency(s.latencyMs)})` : '';
    lines.push(`🔴 *Unhealthy* — ${plain(s.summary, 300)}${latency}`);
  } else {
    // Digests recorded before credentials were redacted still hold them.
    const where = d.healthUrl ? ` at ${code(redactCredentials(d.healthUrl))}` : '';
    lines.push(`🔴 *Not answering* — health endpoint${where} unreachable: ${plain(s.summary, 300)}`);
  }
  const unit = d.systemdUnit ? ` ${code(d.systemdUnit)}` : '';
  const icon = d.systemd === 'active' ? '✅' : /^(failed|inactive|deactivating)$/.test(d.systemd) ? '🔴' : '';
  lines.push(`systemd${unit}: ${icon ? `${icon} ` : ''}${plain(d.systemd, 150)}`);
  const tls = tlsLine(d);
  if (tls) lines.push(tls);
  lines.push(...hostLines(d));
  const onCall = onCallLine(d);
  if (onCall) lines.push(onCall);
  return lines.join('\n');
}

function last24hSection(d: DigestData): string {
  const l = d.last24h;
  if (l.samples === 0) return '*Last 24 h*\nNo health samples in the last 24 h (the 5-minute check has not run).';
  const uptime = l.uptimePct === null ? 'n/a' : formatPercent(l.uptimePct);
  // An uptime over 72 checks of 288 says nothing about the 18 h nobody looked: say how much was seen.
  const missing = l.expectedSamples !== undefined && l.checkEveryMs !== undefined ? l.expectedSamples - l.samples : 0;
  const coverage =
    l.expectedSamples !== undefined
      ? ` — ${Math.min(l.samples, l.expectedSamples)} of ${l.expectedSamples} checks${missing > 0 && l.checkEveryMs !== undefined ? `; no checks for ${formatDuration(missing * l.checkEveryMs)} (Waygate or its check was not running)` : ''}`
      : ` over ${l.samples} samples`;
  const parts = [`Uptime ${uptime}${coverage}`];
  if (l.p50Ms !== null && l.p95Ms !== null) {
    parts.push(`response time p50 ${formatLatency(l.p50Ms)} · p95 ${formatLatency(l.p95Ms)}`);
  } else {
    parts.push('no response times (no sample got an HTTP answer)');
  }
  const warn = (l.uptimePct !== null && l.uptimePct < 100) || missing > 0 ? '⚠️ ' : '';
  return `*Last 24 h*\n${warn}${parts.join(' · ')}`;
}

function logsSection(d: DigestData): string {
  const logs = d.logs;
  if (isFailure(logs)) return `*Logs*\n⚠️ Could not read the log: ${plain(logs.error)}`;
  if (!logs.exists) return `*Logs*\n⚠️ Log file ${code(logs.path)} not found`;
  const lines = ['*Logs*'];
  if (logs.errorLines === 0) {
    lines.push(`✅ No ERROR lines in ${code(logs.path)} since the last daily digest`);
  } else {
    lines.push(`⚠️ ${plural(logs.errorLines, 'ERROR line')} in ${code(logs.path)} since the last daily digest; most frequent:`);
    for (const t of logs.top) lines.push(`• ${t.count}× ${code(t.message)}`);
  }
  if (logs.rotated) lines.push('_The log was rotated since the last daily digest; its new file was read from the start._');
  if (logs.truncated) lines.push('_Read stopped at the size limit; the rest is counted in the next digest._');
  return lines.join('\n');
}

function backupSection(d: DigestData): string {
  const b = d.backup;
  if (isFailure(b)) return `*Backups*\n⚠️ Could not check backups: ${plain(b.error)}`;
  if (b.newest === null) return `*Backups*\n⚠️ No backups found${b.dir ? ` in ${code(b.dir)}` : ''}`;
  const age = b.ageMs !== null ? `, ${formatAge(Math.max(0, b.ageMs))} old` : '';
  const lines = [
    '*Backups*',
    `${b.tooOld ? '⚠️' : '✅'} Newest: ${code(b.newest.name)} — ${formatBytes(b.newest.sizeBytes)}${age} (${slackDate(new Date(b.newest.modifiedAt))})`,
  ];
  if (b.tooOld) {
    lines.push(
      `⚠️ *Older than the limit*${b.maxAgeMs !== undefined ? ` of ${formatAge(b.maxAgeMs)}` : ''}: check the backup job.`,
    );
  }
  if (b.offsiteConfigured === false) lines.push('⚠️ Offsite copy: not configured (SOP-BACK-001 step 4: set `backup.offsite`)');
  else if (b.lastOffsite?.ok === false) lines.push(`⚠️ Offsite copy of the last backup (${slackDate(new Date(b.lastOffsite.at))}) failed: ${plain(b.lastOffsite.detail, 200)}`);
  else if (b.lastOffsite?.ok === true) lines.push(`Offsite copy of the last backup: ✅ ok (${slackDate(new Date(b.lastOffsite.at))})`);
  if (b.integrity === null) lines.push('Integrity: not checked');
  else lines.push(`Integrity: ${/^ok$/i.test(b.integrity.trim()) ? '✅ ok' : `⚠️ ${plain(b.integrity)}`}`);
  return lines.join('\n');
}

function incidentsSection(d: DigestData): string {
  const i = d.incidents;
  if (i === null) return '*Incidents*\nNot tracked (PagerDuty is not configured).';
  if (isFailure(i)) return `*Incidents*\n⚠️ Could not read incidents: ${plain(i.error)}`;
  const icon = i.breached24h > 0 ? '🚨' : i.open > 0 ? '⚠️' : '✅';
  const lines = [`*Incidents*\n${icon} Open: ${i.open} · acknowledged in the last 24 h: ${i.acknowledged24h} · SLA breaches in the last 24 h: ${i.breached24h}`];
  for (const w of i.waiting ?? []) {
    const state = w.status === 'triggered' ? (w.breached ? '🚨 unacknowledged, SLA breached' : '⏳ unacknowledged') : 'acknowledged';
    lines.push(`• *${w.priority}* ${w.link} · open ${formatDuration(Math.max(0, d.now - w.openedAt))} · ${state}`);
  }
  const more = i.open - (i.waiting?.length ?? 0);
  if (i.waiting && more > 0) lines.push(`…and ${more} more: \`/waygate incidents\``);
  return lines.join('\n');
}

function failedJobsSection(d: DigestData): string {
  if (d.failedJobs.length === 0) return '*Failed jobs*\n✅ None in the last 24 h';
  const lines = [`*Failed jobs* (${d.failedJobs.length})`];
  // Whole lines only: cutting a line could split a date token or a code span. 40 characters stay for "…and N more".
  let length = lines[0]!.length;
  let shown = 0;
  for (const j of d.failedJobs.slice(0, MAX_FAILED_JOBS)) {
    const line = `• ${code(j.job, 80)} ${slackDate(new Date(j.at))}${j.error ? ` — ${plain(j.error)}` : ''}`;
    if (length + 1 + line.length > SECTION_BUDGET - 40) break;
    lines.push(line);
    length += 1 + line.length;
    shown += 1;
  }
  const more = d.failedJobs.length - shown;
  if (more > 0) lines.push(`…and ${more} more`);
  return lines.join('\n');
}

function fallbackText(d: DigestData, date: string): string {
  const parts = [d.status.ok ? 'healthy' : `unhealthy (${truncate(d.status.summary, 100)})`];
  if (d.last24h.uptimePct !== null) parts.push(`uptime ${formatPercent(d.last24h.uptimePct)}`);
  if (!isFailure(d.logs) && d.logs.exists) parts.push(plural(d.logs.errorLines, 'ERROR line'));
  if (!isFailure(d.backup) && d.backup.tooOld) parts.push('backup too old');
  if (!isFailure(d.backup) && d.backup.offsiteConfigured === false) parts.push('no offsite backup');
  if (!isFailure(d.backup) && d.backup.lastOffsite?.ok === false) parts.push('offsite copy failed');
  if (d.failedJobs.length > 0) parts.push(plural(d.failedJobs.length, 'failed job'));
  if (d.audit?.ok === false || d.anchorCheck?.state === 'broken') parts.push('audit trail tampered with');
  return `Waygate daily health — ${date}: ${parts.join(', ')}`;
}

/**
 * The digest as a Slack message: 8 blocks at most (header, 6 sections, Reviewed button or reviewed line), each
 * section cut to Slack's 3000 characters. Every source that could not be read says so instead of vanishing.
 */
function auditLine(a: NonNullable<DigestData['audit']>): string {
  if (!a.ok) return `🚨 Audit trail broken at ${brokenEntryText(a)}: ${plain(a.reason)}. Treat this as a security incident.`;
  const entries = `${a.entries} ${a.entries === 1 ? 'entry' : 'entries'}`;
  // With the head's id the line is an anchor the next digest reads back and checks (src/audit/anchor.ts).
  const head = a.head !== null && a.headId !== undefined ? anchorText({ id: a.headId, head: a.head }) : `head \`${a.head?.slice(0, 16) ?? 'empty'}\``;
  const k = a.keying;
  if (k === undefined) return `🔏 Audit trail verified: ${entries}, ${head}`;
  if (k.keyed) {
    const before = k.before > 0 ? `; the ${`${k.before} ${k.before === 1 ? 'entry' : 'entries'}`} before #${k.since} predate the key and are hash-chained only` : '';
    return `🔏 Audit trail verified (keyed): ${entries}, ${head}${before}`;
  }
  if (k.keyMissingFrom !== undefined) {
    return `⚠️ Audit trail checked up to entry #${k.keyMissingFrom - 1} (${`${k.verified} ${k.verified === 1 ? 'entry' : 'entries'}`}); entries from #${k.keyMissingFrom} are keyed, but WAYGATE_AUDIT_KEY is not set to check them`;
  }
  return `🔓 Audit trail verified: ${entries}, ${head}; the chain is not keyed: set WAYGATE_AUDIT_KEY so that someone who can write the database cannot rewrite it unnoticed`;
}

/** Never the anchor's own form ("head #N `…`"): the reader takes the first anchor in a message as its head. */
function anchorCheckLine(c: AnchorCheck): string {
  switch (c.state) {
    case 'held':
      return `Anchor of the previous digest (entry #${c.anchor.id}) still holds`;
    case 'broken':
      return `🚨 *Anchor of the previous digest (entry #${c.anchor.id}) broken*: ${plain(c.reason, 300)}. Raised in the security channel.`;
    case 'none':
      return 'No earlier digest here to check the trail against';
    case 'unreadable':
      return `⚠️ Could not read the previous digest to check the trail against it: ${plain(c.error, 150)}`;
  }
}

export function renderDigest(data: DigestData, digestId: number): MessageContent & { blocks: Block[] } {
  const date = headerDate(data.now, data.timeZone);
  const blocks: Block[] = [
    header(`Waygate daily health — ${date}`),
    section(statusSection(data)),
    section(last24hSection(data)),
    section(logsSection(data)),
    section(backupSection(data)),
    section(incidentsSection(data)),
    section(failedJobsSection(data)),
  ];
  const audit = data.audit ? auditLine(data.audit) + (data.anchorCheck ? ` · ${anchorCheckLine(data.anchorCheck)}` : '') : null;
  const footer = [audit, data.links || null].filter((t): t is string => t !== null);
  if (footer.length > 0) blocks.push(context(...footer));
  if (data.reviewed === null) {
    blocks.push(actions(`digest:${digestId}`, [button({ actionId: DIGEST_ACTIONS.reviewed, text: 'Reviewed', style: 'primary', value: String(digestId) })]));
  } else {
    blocks.push(context(`✅ Reviewed by ${who(data.reviewed.by)} ${slackDate(new Date(data.reviewed.at))}`));
  }
  return { text: truncate(fallbackText(data, date), 3000), blocks };
}
