import { sql, type Transaction } from 'kysely';
import { statfsSync } from 'node:fs';
import { availableParallelism, freemem, loadavg, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Clock, TimerHandle } from '../clock/clock.js';
import { DataLayer, first, run, type Executor, type Schema } from '../db/data-layer.js';
import type { Logger } from '../logging/logger.js';
import type { Outbox } from '../outbox/outbox.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { FileConfig } from '../config/schema.js';
import type { ProcessRunner } from '../runner/runner.js';
import type { BackupService } from '../backup/backup-service.js';
import type { IncidentFacade } from '../incidents/facade.js';
import type { Executions } from '../core/executions.js';
import { messageKeys } from '../core/keys.js';
import { escapeMrkdwn, formatDuration, linksLine, redactCredentials } from '../core/text.js';
import { slackDate } from '../slack/format.js';
import { HealthStore, type HealthStats } from './health-store.js';
import { checkHealth, HealthMonitor, type HealthCheckResult, type HealthObservation } from './health-check.js';
import { scanErrors } from './log-scan.js';
import { systemdState } from './systemd.js';
import { OPEN_LISTED, renderDigest, type DigestBackup, type DigestData } from './digest.js';
import { offsiteOutcome } from '../backup/offsite-outcome.js';
import { incidentLink } from '../incidents/alert-message.js';
import { anchorMismatch } from '../audit/anchor.js';
import { brokenEntryText } from '../audit/describe.js';
import type { PreviousAnchor } from './anchor-reader.js';
import type { AnchorCheck } from './digest.js';

const DAY_MS = 86_400_000;
const LOG_OFFSET_KEY = 'digest.logOffset';
const SAMPLE_RETENTION_MS = 30 * DAY_MS;
/** SOP-MAINT-001 checks the service every 5 minutes. */
const SOP_CHECK_EVERY_MS = 5 * 60_000;

export interface HealthServiceOptions {
  /** The Slack user on call now, for the digest. */
  onCall?: (ex: Executor) => Promise<string | undefined>;
  /** Work started outside a request or job (the re-check): shutdown and tests wait for it. */
  track?: <T>(task: Promise<T>) => Promise<T>;
  /** The health check job's cron schedule, for the digest's coverage; undefined when it is disabled. */
  checkSchedule?: string;
  data: DataLayer;
  clock: Clock;
  logger: Logger;
  outbox: Outbox;
  audit: AuditLog;
  config: FileConfig;
  runner: ProcessRunner;
  backups: BackupService;
  incidents: IncidentFacade;
  /** Job runs, for the digest's failed jobs. */
  executions: Executions;
  /** Whether incidents are tracked at all (PagerDuty configured); the digest says so otherwise. */
  incidentsTracked: boolean;
  fetchImpl?: typeof fetch;
  /** Reads the newest anchor the bot posted in a channel back from Slack; without it the anchor is not checked. */
  readAnchor?: (channel: string) => Promise<PreviousAnchor>;
}

export const digestKey = messageKeys.digest;

/** What the weekly performance review reads about the service for one span. */
export interface ServiceFigures extends HealthStats {
  /** Checks the health check's schedule makes in the span; absent when its schedule is not every N minutes. */
  expectedSamples?: number;
  /** ERROR lines counted by the scheduled digests that ran in the span, and how many digests those were. */
  errors: { digests: number; errorLines: number };
}

/**
 * When the certificate the health URL serves expires. Read without trusting it (an expired or self-signed
 * certificate is exactly what this should report, not fail on).
 */
function certificateExpiry(url: URL, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: url.hostname, port: Number(url.port || 443), rejectUnauthorized: false, ...(isIP(url.hostname) ? {} : { servername: url.hostname }) },
      () => {
        const validTo = Date.parse(socket.getPeerCertificate().valid_to ?? '');
        socket.end();
        if (Number.isNaN(validTo)) reject(new Error('the server sent no certificate'));
        else resolve(validTo);
      },
    );
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no TLS handshake within ${formatDuration(timeoutMs)}`)));
    socket.once('error', reject);
  });
}

/** The offsite outcome the newest backup run recorded, for the digest. */
function lastOffsite(run: { status: string; summary: string | null; finished_at: number | null } | undefined): Pick<DigestBackup, 'lastOffsite'> {
  const outcome = run?.status === 'ok' ? offsiteOutcome(run.summary) : undefined;
  if (!outcome || run?.finished_at == null) return {};
  return { lastOffsite: outcome.ok ? { ok: true, at: run.finished_at } : { ok: false, detail: outcome.detail, at: run.finished_at } };
}

/** Disk, memory and load of this host for the digest; a folder that cannot be read says why. */
function hostFacts(folders: Array<{ label: string; path: string }>): NonNullable<DigestData['host']> {
  const disks = folders.map(({ label, path }) => {
    try {
      const fs = statfsSync(path);
      return { label, path, freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize };
    } catch (err) {
      return { label, path, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
    }
  });
  return { disks, memory: { freeBytes: freemem(), totalBytes: totalmem() }, load1: loadavg()[0] ?? 0, cores: availableParallelism() };
}

/**
 * SOP-MAINT-001: samples the service (speaking only when it goes down or comes back) and builds the daily
 * digest from the samples, the log, the backups, incidents and job runs.
 */
export class HealthService {
  readonly store: HealthStore;
  readonly monitor: HealthMonitor;
  private readonly data: DataLayer;

  constructor(private readonly opts: HealthServiceOptions) {
    this.data = opts.data;
    this.store = new HealthStore(this.data);
    this.monitor = new HealthMonitor({ store: this.store, clock: opts.clock, failuresBeforeDown: opts.config.service.failuresBeforeDown });
  }

  /** The service's stable Events API dedup key, so trigger and resolve address the same PagerDuty alert. */
  get dedupKey(): string {
    // PagerDuty shows the key; unchanged for a URL without credentials, so open alerts still resolve.
    return `waygate-mcp-down:${redactCredentials(this.opts.config.service.healthUrl)}`;
  }

  check(): Promise<HealthCheckResult> {
    const { healthUrl, timeout } = this.opts.config.service;
    return checkHealth(healthUrl, timeout, this.opts.fetchImpl);
  }

  /** Where things stand without taking a sample. */
  current(): Promise<Omit<HealthObservation, 'transition'>> {
    return this.monitor.current(this.data.db);
  }

  /**
   * One sample: the HTTP check first, outside any transaction; then recorded, and on a transition announced
   * (Slack + PagerDuty) in one transaction.
   */
  async sample(): Promise<{ result: HealthCheckResult; observation: HealthObservation }> {
    const result = await this.check();
    const { clock } = this.opts;
    const observation = await this.data.transaction(async (tx) => {
      // The state is read, changed and written back: a sample taken at the same moment (the re-check and the
      // schedule) waits, or on PostgreSQL both would read "up" and both announce the outage.
      await this.data.serialize(tx, 'health-monitor');
      const before = await this.monitor.current(tx);
      const obs = await this.monitor.observe(tx, result);
      if (obs.transition) await this.announce(tx, obs, result, before.state === 'down' ? before.since : null);
      await this.store.prune(tx, clock.nowMs() - SAMPLE_RETENTION_MS);
      return obs;
    });
    this.recheckIfFailing(result, observation);
    return { result, observation };
  }

  /**
   * A failed check that has not yet made the service "down" is checked again after `service.recheckAfter`
   * instead of at the next 5-minute run, so an outage is declared (and its P1 clock started) within about a
   * minute of the first failure. In memory: after a restart the schedule's next run does it.
   */
  private recheckIfFailing(result: HealthCheckResult, obs: HealthObservation): void {
    const { recheckAfter } = this.opts.config.service;
    if (result.ok || obs.state === 'down' || recheckAfter <= 0 || this.recheck || this.stopped) return;
    this.recheck = this.opts.clock.setTimer(recheckAfter, () => {
      this.recheck = undefined;
      const run = this.sample().catch((err: unknown) => this.opts.logger.error({ err }, 'health re-check failed'));
      void (this.opts.track ? this.opts.track(run) : run);
    });
  }

  private recheck: TimerHandle | undefined;
  private stopped = false;

  /** Cancels a pending re-check (at shutdown). */
  stop(): void {
    this.stopped = true;
    this.recheck?.cancel();
    this.recheck = undefined;
  }

  private async announce(tx: Executor, obs: HealthObservation, result: HealthCheckResult, downSince: number | null): Promise<void> {
    const { outbox, config, clock } = this.opts;
    const { service, channels } = config;
    const url = redactCredentials(service.healthUrl);
    const now = clock.nowMs();
    if (obs.transition === 'down') {
      const since = obs.since ?? now;
      // Without a routing key PagerDuty cannot raise the incident, so Waygate opens its own P1: the same card,
      // buttons, SLA and escalation as any P1. The card is the down message.
      const local = service.pagerDutyRoutingKey ? undefined : await this.opts.incidents.openLocal(tx, {
        key: this.dedupKey,
        title: `Waygate MCP is down: ${result.summary}`.slice(0, 250),
        service: service.systemdUnit ?? 'waygate-mcp',
        priority: 'P1',
        at: since,
      });
      if (channels.alerts && !local) {
        await outbox.enqueue(tx, {
          kind: 'post',
          payload: {
            channel: channels.alerts,
            text: `🔴 *Waygate MCP is down*: ${escapeMrkdwn(result.summary)}. ${obs.consecutiveFailures} consecutive failed checks of ${escapeMrkdwn(url)} since ${slackDate(new Date(since))}.`,
          },
        });
      }
      if (service.pagerDutyRoutingKey) {
        await outbox.enqueue(tx, {
          kind: 'pd_event',
          payload: {
            routing_key: service.pagerDutyRoutingKey,
            event_action: 'trigger',
            dedup_key: this.dedupKey,
            payload: {
              summary: `Service down: Waygate MCP (${url}): ${result.summary}`.slice(0, 1024),
              source: url,
              severity: 'critical',
              timestamp: new Date(since).toISOString(),
              component: service.systemdUnit ?? 'waygate-mcp',
              custom_details: { consecutiveFailures: obs.consecutiveFailures, lastResult: result.summary },
            },
          },
        });
      }
      return;
    }
    const lasted = formatDuration(now - (downSince ?? now));
    if (!service.pagerDutyRoutingKey) await this.opts.incidents.resolveLocal(tx, this.dedupKey, now, 'Waygate (the service answers again)');
    if (channels.alerts) {
      await outbox.enqueue(tx, {
        kind: 'post',
        payload: { channel: channels.alerts, text: `🟢 *Waygate MCP recovered* after ${lasted} down (${escapeMrkdwn(result.summary)}).` },
      });
    }
    if (service.pagerDutyRoutingKey) {
      await outbox.enqueue(tx, {
        kind: 'pd_event',
        payload: { routing_key: service.pagerDutyRoutingKey, event_action: 'resolve', dedup_key: this.dedupKey },
      });
    }
  }

  /**
   * How many checks a span of `periodMs` of the health check's schedule makes, for a schedule of the usual
   * form ("*\/5 * * * *", every N minutes); other schedules leave coverage unsaid rather than guess it.
   */
  private expectedChecks(periodMs: number = DAY_MS, disabledEveryMs?: number): { expectedSamples?: number; checkEveryMs?: number } {
    const schedule = this.opts.checkSchedule;
    if (schedule === undefined && disabledEveryMs !== undefined) return { expectedSamples: Math.floor(periodMs / disabledEveryMs), checkEveryMs: disabledEveryMs };
    const everyMinutes = schedule === undefined ? undefined : /^\*\/(\d{1,2}) \* \* \* \*$/.exec(schedule.trim())?.[1];
    if (everyMinutes === undefined || 60 % Number(everyMinutes) !== 0) return {};
    const checkEveryMs = Number(everyMinutes) * 60_000;
    return { expectedSamples: Math.floor(periodMs / checkEveryMs), checkEveryMs };
  }

  /**
   * The service's figures for [from, until): uptime with how many checks ran of those the schedule makes,
   * latency percentiles, and the ERROR lines counted by the scheduled digests that ran in that span. With
   * the check switched off, the SOP's one check every 5 minutes is what was expected and did not happen.
   */
  async figures(from: number, until: number, ex: Executor = this.data.db): Promise<ServiceFigures> {
    const { expectedSamples } = this.expectedChecks(until - from, SOP_CHECK_EVERY_MS);
    const stats = await this.store.stats(ex, from, until);
    return { ...stats, ...(expectedSamples !== undefined ? { expectedSamples } : {}), errors: await this.store.errorCounts(ex, from, until) };
  }

  /** Everything the digest shows; each source that fails says so instead of failing the digest. */
  async digestData(): Promise<DigestData> {
    const { clock, config, runner, backups, incidents, executions } = this.opts;
    const ex = this.data.db;
    const now = clock.nowMs();
    const anchorCheck = await this.checkAnchor();
    const healthUrl = new URL(config.service.healthUrl);
    const [status, systemd, tls] = await Promise.all([
      this.check(),
      systemdState(config.service.systemdUnit, runner),
      healthUrl.protocol === 'https:'
        ? certificateExpiry(healthUrl, config.service.timeout).then(
            (validTo) => ({ validTo }),
            (err: unknown) => ({ error: (err as Error).message }),
          )
        : Promise.resolve(null),
    ]);
    let logs: DigestData['logs'];
    try {
      logs = scanErrors(config.service.logFile, Number((await this.store.get(ex, LOG_OFFSET_KEY)) ?? 0));
    } catch (err) {
      logs = { error: `could not read ${config.service.logFile}: ${(err as Error).message}` };
    }
    let backup: DigestData['backup'];
    try {
      const newest = backups.newest();
      let integrity: string | null = null;
      if (newest) integrity = backups.verify(newest.name).integrity;
      const ageMs = newest ? now - newest.modifiedAt : null;
      backup = {
        newest: newest ? { name: newest.name, sizeBytes: newest.sizeBytes, modifiedAt: newest.modifiedAt } : null,
        ageMs,
        integrity,
        tooOld: ageMs === null || ageMs > config.backup.maxAge,
        offsiteConfigured: config.backup.offsite !== null,
        ...lastOffsite(await executions.lastOf(ex, 'job', 'backup')),
        dir: config.backup.dir,
        maxAgeMs: config.backup.maxAge,
      };
    } catch (err) {
      backup = { error: (err as Error).message };
    }
    let incidentSummary: DigestData['incidents'] = null;
    if (this.opts.incidentsTracked) {
      try {
        const recent = await incidents.countRecent(now - DAY_MS);
        const open = await incidents.open();
        incidentSummary = {
          open: open.length,
          acknowledged24h: recent.acknowledged ?? 0,
          breached24h: recent.breached ?? 0,
          waiting: open.slice(0, OPEN_LISTED).map((i) => ({
            priority: i.priority,
            link: incidentLink(i),
            openedAt: i.created_at,
            status: i.status === 'acknowledged' ? 'acknowledged' : 'triggered',
            breached: i.sla_state === 'breached',
          })),
        };
      } catch (err) {
        incidentSummary = { error: (err as Error).message };
      }
    }
    // A true trailing 24 h: counting since the previous digest let a manual digest at 08:55 hide a night of failures.
    const failedJobs = (await executions.problemsSince(ex, 'job', now - DAY_MS)).map((e) => ({ job: e.name, at: e.at, error: e.error }));
    return {
      now,
      timeZone: config.timezone,
      healthUrl: redactCredentials(config.service.healthUrl),
      status,
      systemd,
      systemdUnit: config.service.systemdUnit,
      last24h: { ...(await this.store.stats(ex, now - DAY_MS)), ...this.expectedChecks() },
      logs,
      backup,
      incidents: incidentSummary,
      failedJobs,
      onCall: (await this.opts.onCall?.(ex)) ?? null,
      links: linksLine(config.links),
      tls,
      host: hostFacts([
        { label: 'database folder', path: dirname(config.service.database) },
        { label: 'backups', path: config.backup.dir },
      ]),
      reviewed: null,
      audit: await this.opts.audit.verify(),
      ...(anchorCheck ? { anchorCheck } : {}),
    };
  }

  /**
   * Reads the previous digest back from Slack and checks the trail still holds the head it posted, at the same
   * id. A hash chain alone cannot show its newest entries deleted (or, unkeyed, everything recomputed); a copy
   * of the head outside the database can. Read before the new digest is posted, so it finds the previous one.
   */
  private async checkAnchor(): Promise<AnchorCheck | undefined> {
    const { readAnchor, config } = this.opts;
    const channel = config.channels.digest ?? config.channels.ops;
    if (!readAnchor || !channel) return undefined;
    const previous = await readAnchor(channel);
    if (previous.state !== 'found') return previous;
    const reason = await anchorMismatch(this.opts.audit, previous.anchor);
    return reason === undefined ? { state: 'held', anchor: previous.anchor } : { state: 'broken', anchor: previous.anchor, reason };
  }

  /** Tampering the digest found goes to the security channel too (else alerts): the digest channel is for the daily check. */
  private async raiseAuditAlarm(tx: Transaction<Schema>, data: DigestData): Promise<void> {
    const { config, outbox, logger } = this.opts;
    const problems: string[] = [];
    if (data.anchorCheck?.state === 'broken') {
      problems.push(`the head the previous digest posted (entry #${data.anchorCheck.anchor.id}, \`${data.anchorCheck.anchor.head}\`) no longer holds: ${escapeMrkdwn(data.anchorCheck.reason)}`);
    }
    if (data.audit && !data.audit.ok) problems.push(`the chain is broken at ${brokenEntryText(data.audit)}: ${escapeMrkdwn(data.audit.reason)}`);
    if (problems.length === 0) return;
    logger.error({ anchorCheck: data.anchorCheck, audit: data.audit }, 'the audit trail was tampered with');
    const channel = config.channels.security ?? config.channels.alerts;
    if (!channel) return;
    const text = `🚨 *Audit trail tampered with*: ${problems.join('; and ')}. Treat this as a security incident: compare the trail with the database backups and \`/waygate audit export\`s taken before.`;
    await outbox.enqueue(tx, { kind: 'post', payload: { channel, text }, urgent: true });
  }

  /**
   * Builds and posts the digest; the log is read from where the previous scheduled digest stopped. Only a
   * scheduled digest moves that point, so a digest asked for by hand neither shortens nor hides the next
   * morning's window.
   */
  async postDigest({ scheduled = true }: { scheduled?: boolean } = {}): Promise<{ id: number; data: DigestData; channel: string | null }> {
    const data = await this.digestData();
    const { outbox, config, clock } = this.opts;
    const channel = config.channels.digest ?? config.channels.ops ?? null;
    const id = await this.data.transaction(async (tx) => {
      const row = await first(tx, sql<{ id: number }>`INSERT INTO digests (at, channel, data) VALUES (${clock.nowMs()}, ${channel}, ${JSON.stringify(data)}) RETURNING id`);
      const digestId = Number(row?.id);
      if (scheduled && 'nextOffset' in data.logs) {
        await this.store.set(tx, LOG_OFFSET_KEY, String(data.logs.nextOffset));
        if (data.logs.exists) await this.store.recordErrorCount(tx, data.now, data.logs.errorLines);
      }
      if (channel) await outbox.enqueue(tx, { kind: 'post', payload: { channel, ...renderDigest(data, digestId) }, messageKey: digestKey(digestId) });
      await this.raiseAuditAlarm(tx, data);
      return digestId;
    });
    return { id, data, channel };
  }

  /** The SOP's "document status": records who reviewed the digest and shows it on the message. */
  async markReviewed(id: number, userId: string): Promise<'reviewed' | 'already' | 'not_found'> {
    const { outbox, clock, audit } = this.opts;
    return this.data.transaction(async (tx) => {
      const row = await first(tx, sql<{ channel: string | null; data: string; reviewed_by: string | null }>`SELECT channel, data, reviewed_by FROM digests WHERE id = ${id}`);
      if (!row) return 'not_found';
      if (row.reviewed_by) return 'already';
      const at = clock.nowMs();
      // Only the first of two clicks at once marks it: on PostgreSQL both could have read it unreviewed.
      const marked = await run(tx, sql`UPDATE digests SET reviewed_by = ${userId}, reviewed_at = ${at} WHERE id = ${id} AND reviewed_by IS NULL`);
      if (marked === 0) return 'already';
      await audit.record(tx, { actor: userId, action: 'digest.reviewed', subject: `digest #${id}` });
      const data = { ...(JSON.parse(row.data) as DigestData), reviewed: { by: userId, at } };
      if (row.channel) await outbox.enqueue(tx, { kind: 'update', payload: { channel: row.channel, messageKey: digestKey(id), ...renderDigest(data, id) } });
      return 'reviewed';
    });
  }
}
