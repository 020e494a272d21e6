import type { Db } from '../db/database.js';
import type { Clock } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { Outbox } from '../outbox/outbox.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { RoleResolver } from '../auth/roles.js';
import type { Priority, SlaPolicy } from '../config/sla-schema.js';
import type { BusinessCalendar } from './business-calendar.js';
import { formatRemaining, priorityFromIncident, slaOutcome, slaTimes } from './sla.js';
import { IncidentRepository, type Incident, type IncidentStatus } from './incident-repository.js';
import { WebhookInbox } from './webhook-inbox.js';
import { incidentLink, renderAlert, who } from './alert-message.js';
import { renderStorm } from './storm-message.js';
import { escapeMrkdwn, truncate } from '../slack/format.js';
import { formatDuration } from '../config/duration.js';
import type { MessageContent } from '../outbox/types.js';

/** An incident as PagerDuty describes it in a webhook, normalised (see src/pagerduty/webhook-events.ts). */
export interface IncidentSnapshot {
  id: string;
  number: number;
  title: string;
  status: IncidentStatus;
  priorityName: string | null;
  urgency: string | null;
  service: string | null;
  htmlUrl: string | null;
  assignees: string[];
  createdAt: number;
}

export interface IncidentEvent {
  eventId: string;
  type: string;
  occurredAt: number;
  /** Who did it in PagerDuty (a user's name), when known. */
  agentName: string | null;
  incidentId: string | null;
  incident?: IncidentSnapshot;
  /** The text of an `incident.annotated` note. */
  note?: string;
}

export type ApplyResult = 'applied' | 'stale' | 'ignored';

export type AckResult =
  | { outcome: 'acknowledged' | 'resolved'; incident: Incident }
  | { outcome: 'already_acknowledged' | 'already_resolved'; incident: Incident }
  | { outcome: 'not_found'; id: string };

export interface IncidentServiceOptions {
  db: Db;
  clock: Clock;
  outbox: Outbox;
  audit: AuditLog;
  roles: RoleResolver;
  logger: Logger;
  alertsChannel: string | undefined;
  sla: SlaPolicy;
  calendar: BusinessCalendar;
  urgencyPriority: Record<string, Priority>;
  stormThreshold: number;
  /** Whether Slack-side changes are sent to PagerDuty (an API token is configured). */
  syncToPagerDuty: boolean;
  /** Called after every change that may move the earliest SLA deadline. */
  onScheduleChange?: () => void;
  /** Called after a webhook event was committed to the inbox (wakes the InboxProcessor). */
  onAccepted?: () => void;
  /** Called with the outcome of each applied inbox event (metrics). */
  onProcessed?: (result: string) => void;
}

/** A deadline handled more than this after it passed was missed while Waygate was down. */
const LATE_AFTER_MS = 60_000;
/** From this many reminders or breaches falling due together, one grouped message replaces one each. */
const GROUP_FROM = 4;
const GROUP_LISTED = 300;

export const alertKey = (incidentId: string): string => `incident:${incidentId}`;
export const stormKey = (stormId: number): string => `storm:${stormId}`;

/**
 * The incident domain of SOP-MON-001: PagerDuty events in, acknowledgements from Slack, SLA reminders and
 * escalations, and the alert messages that mirror all of it. Every method changes state and queues the
 * resulting messages in one transaction.
 */
export class IncidentService {
  readonly repo: IncidentRepository;
  readonly inbox: WebhookInbox;

  constructor(private readonly opts: IncidentServiceOptions) {
    this.repo = new IncidentRepository(opts.db);
    this.inbox = new WebhookInbox(opts.db);
  }

  // ---------------------------------------------------------------------------------------------- PagerDuty in

  /**
   * Commits a verified webhook event to the inbox (before PagerDuty's 2xx) and wakes the processor.
   * A redelivered event id changes nothing.
   */
  async accept(event: IncidentEvent): Promise<'accepted' | 'duplicate'> {
    const fresh = await this.inbox.acceptSoon(event, this.opts.clock.nowMs());
    if (fresh) this.opts.onAccepted?.();
    return fresh ? 'accepted' : 'duplicate';
  }

  /** Applies up to `limit` queued events in arrival order, in one transaction; returns how many. */
  processInbox(limit: number): number {
    const now = this.opts.clock.nowMs();
    let changed = false;
    const count = this.opts.db.transaction(() => {
      const entries = this.inbox.pending(limit);
      for (const { seq, event } of entries) {
        let result: string;
        try {
          // A savepoint per event: one malformed event is recorded as failed without undoing the batch.
          result = this.opts.db.transaction(() => this.apply(event, now))();
        } catch (err) {
          this.opts.logger.error({ err, eventId: event.eventId, type: event.type }, 'PagerDuty event could not be applied');
          result = `failed: ${(err as Error).message}`.slice(0, 500);
        }
        if (result === 'applied') changed = true;
        this.opts.onProcessed?.(result);
        this.inbox.markProcessed(seq, result, now);
      }
      return entries.length;
    })();
    if (changed) this.opts.onScheduleChange?.();
    return count;
  }

  private apply(event: IncidentEvent, now: number): ApplyResult {
    if (event.type === 'incident.annotated') return this.annotate(event);
    const snap = event.incident;
    if (!snap) return 'ignored';
    const existing = this.repo.get(snap.id);
    if (!existing) {
      this.create(snap, event, now);
      return 'applied';
    }
    // Deliveries can arrive out of order: an event older than the newest change applied must not undo it.
    if (event.occurredAt < existing.last_event_at) return 'stale';
    const changes: Partial<Incident> = {
      title: snap.title,
      urgency: snap.urgency,
      service: snap.service,
      html_url: snap.htmlUrl,
      assignees: JSON.stringify(snap.assignees),
      last_event_at: event.occurredAt,
      updated_at: now,
    };
    const agent = event.agentName ?? 'PagerDuty';
    switch (event.type) {
      case 'incident.acknowledged':
        if (existing.status === 'triggered') this.markAcknowledged(existing, event.occurredAt, agent, 'pagerduty');
        else if (existing.pd_sync === 'pending') changes.pd_sync = 'synced';
        break;
      case 'incident.unacknowledged':
        if (existing.status === 'acknowledged') {
          Object.assign(changes, this.restartSla(existing.priority, event.occurredAt), {
            status: 'triggered',
            acknowledged_at: null,
            acknowledged_by: null,
          });
          this.threadNote(existing, `↩️ The acknowledgement expired in PagerDuty; the SLA clock starts again.`);
        }
        break;
      case 'incident.resolved':
        if (existing.status !== 'resolved') {
          Object.assign(changes, this.resolvedChanges(existing, event.occurredAt, agent));
          this.opts.audit.record({ actor: agent, action: 'incident.resolved', subject: `#${existing.number}`, details: { id: existing.id, source: 'pagerduty' } });
        } else if (existing.pd_sync === 'pending') changes.pd_sync = 'synced';
        break;
      case 'incident.reopened':
        if (existing.status === 'resolved') {
          Object.assign(changes, this.restartSla(existing.priority, event.occurredAt), {
            status: 'triggered',
            resolved_at: null,
            resolved_by: null,
            acknowledged_at: null,
            acknowledged_by: null,
          });
          this.threadNote(existing, `🔁 Reopened in PagerDuty by ${escapeMrkdwn(agent)}.`);
        }
        break;
      case 'incident.priority_updated': {
        const priority = priorityFromIncident(snap.priorityName, snap.urgency, this.opts.urgencyPriority);
        changes.priority = priority;
        changes.pd_priority = snap.priorityName;
        if (existing.status === 'triggered' && priority !== existing.priority) {
          const { deadline, warnAt } = slaTimes(this.opts.sla, this.opts.calendar, priority, new Date(existing.created_at));
          changes.sla_deadline = deadline.getTime();
          changes.sla_warn_at = warnAt.getTime();
          if (existing.sla_state !== 'breached') changes.sla_state = existing.sla_state === 'warned' && warnAt.getTime() <= now ? 'warned' : 'running';
          this.threadNote(existing, `Priority changed from ${existing.priority} to ${priority}; acknowledge by the new deadline.`);
        }
        break;
      }
      case 'incident.escalated':
      case 'incident.reassigned':
      case 'incident.delegated': {
        const verb = event.type.slice('incident.'.length);
        const to = snap.assignees.length > 0 ? snap.assignees.map(escapeMrkdwn).join(', ') : 'nobody';
        this.threadNote(existing, `📣 ${verb.charAt(0).toUpperCase()}${verb.slice(1)} in PagerDuty; now assigned to ${to}.`);
        break;
      }
      default:
        break;
    }
    this.repo.update(existing.id, changes);
    this.refresh(existing.id);
    return 'applied';
  }

  private create(snap: IncidentSnapshot, event: IncidentEvent, now: number): void {
    const priority = priorityFromIncident(snap.priorityName, snap.urgency, this.opts.urgencyPriority);
    const { deadline, warnAt } = slaTimes(this.opts.sla, this.opts.calendar, priority, new Date(snap.createdAt));
    const incident: Incident = {
      id: snap.id,
      number: snap.number,
      title: snap.title,
      status: 'triggered',
      priority,
      pd_priority: snap.priorityName,
      urgency: snap.urgency,
      service: snap.service,
      html_url: snap.htmlUrl,
      assignees: JSON.stringify(snap.assignees),
      created_at: snap.createdAt,
      last_event_at: event.occurredAt,
      acknowledged_at: null,
      acknowledged_by: null,
      resolved_at: null,
      resolved_by: null,
      sla_deadline: deadline.getTime(),
      sla_warn_at: warnAt.getTime(),
      sla_state: 'running',
      breached_at: null,
      escalations: 0,
      alert_channel: this.opts.alertsChannel ?? null,
      alert_posted: 0,
      pd_sync: null,
      storm_id: null,
      updated_at: now,
    };
    this.repo.insert(incident);
    this.opts.audit.record({
      actor: event.agentName ?? 'pagerduty',
      action: 'incident.opened',
      subject: `#${snap.number}`,
      details: { id: snap.id, priority, title: snap.title },
    });
    // The first event we hear of may already be a later state (a lost or reordered trigger).
    const agent = event.agentName ?? 'PagerDuty';
    if (snap.status === 'acknowledged') this.markAcknowledged(incident, event.occurredAt, agent, 'pagerduty');
    if (snap.status === 'resolved') {
      this.repo.update(snap.id, this.resolvedChanges(incident, event.occurredAt, agent));
      return; // nothing for anyone to do: no alert
    }
    this.announce(snap.id, now);
  }

  private annotate(event: IncidentEvent): ApplyResult {
    const incident = event.incidentId ? this.repo.get(event.incidentId) : undefined;
    if (!incident || !event.note) return 'ignored';
    this.threadNote(incident, `📝 Note from ${escapeMrkdwn(event.agentName ?? 'PagerDuty')}: ${escapeMrkdwn(truncate(event.note, 2500))}`);
    return 'applied';
  }

  // ------------------------------------------------------------------------------------------------ from Slack

  /** Acknowledges unacknowledged incidents for a Slack user; PagerDuty is told through the outbox. */
  acknowledge(ids: readonly string[], slackUser: string, responseUrl?: string): AckResult[] {
    return this.changeFromSlack(ids, slackUser, responseUrl, 'acknowledged');
  }

  resolve(ids: readonly string[], slackUser: string, responseUrl?: string): AckResult[] {
    return this.changeFromSlack(ids, slackUser, responseUrl, 'resolved');
  }

  private changeFromSlack(ids: readonly string[], slackUser: string, responseUrl: string | undefined, to: 'acknowledged' | 'resolved'): AckResult[] {
    const now = this.opts.clock.nowMs();
    const results = this.opts.db.transaction(() =>
      ids.map((id): AckResult => {
        const incident = this.repo.get(id);
        if (!incident) return { outcome: 'not_found', id };
        if (incident.status === 'resolved') return { outcome: 'already_resolved', incident };
        if (to === 'acknowledged' && incident.status === 'acknowledged') return { outcome: 'already_acknowledged', incident };
        if (to === 'acknowledged') this.markAcknowledged(incident, now, slackUser, 'slack');
        else {
          this.repo.update(id, this.resolvedChanges(incident, now, slackUser));
          this.opts.audit.record({ actor: slackUser, action: 'incident.resolved', subject: `#${incident.number}`, details: { id, source: 'slack' } });
        }
        this.repo.update(id, { last_event_at: Math.max(incident.last_event_at, now), updated_at: now });
        if (this.opts.syncToPagerDuty) {
          this.repo.update(id, { pd_sync: 'pending' });
          this.opts.outbox.enqueue({
            kind: 'pd_status',
            payload: { incidentId: id, number: incident.number, status: to, slackUser, ...(responseUrl ? { responseUrl } : {}) },
          });
        }
        this.refresh(id);
        const updated = this.repo.get(id) ?? incident;
        return { outcome: to, incident: updated };
      }),
    )();
    this.opts.onScheduleChange?.();
    return results;
  }

  /** Called by the outbox once PagerDuty accepted (or finally refused) a change made in Slack. */
  pagerDutySynced(incidentId: string, ok: boolean): void {
    this.opts.db.transaction(() => {
      const incident = this.repo.get(incidentId);
      if (!incident) return;
      this.repo.update(incidentId, { pd_sync: ok ? 'synced' : 'failed', updated_at: this.opts.clock.nowMs() });
      this.refresh(incidentId);
    })();
  }

  private markAcknowledged(incident: Incident, at: number, by: string, source: 'slack' | 'pagerduty'): void {
    const outcome = incident.sla_deadline ? slaOutcome(new Date(incident.sla_deadline), new Date(at)) : 'met';
    this.repo.update(incident.id, {
      status: 'acknowledged',
      acknowledged_at: at,
      acknowledged_by: by,
      sla_state: outcome === 'met' && incident.sla_state !== 'breached' ? 'met' : 'breached',
    });
    const timeToAckMs = Math.max(0, at - incident.created_at);
    this.repo.recordAck({ incidentId: incident.id, ackedBy: by, source, ackedAt: at, timeToAckMs, outcome });
    this.opts.audit.record({
      actor: by,
      action: 'incident.acknowledged',
      subject: `#${incident.number}`,
      details: { id: incident.id, source, timeToAckMs, sla: outcome },
    });
  }

  private resolvedChanges(incident: Incident, at: number, by: string): Partial<Incident> {
    const slaOpen = incident.sla_state === 'running' || incident.sla_state === 'warned';
    return { status: 'resolved', resolved_at: at, resolved_by: by, ...(slaOpen ? { sla_state: 'stopped' as const } : {}) };
  }

  private restartSla(priority: Priority, from: number): Partial<Incident> {
    const { deadline, warnAt } = slaTimes(this.opts.sla, this.opts.calendar, priority, new Date(from));
    return { sla_deadline: deadline.getTime(), sla_warn_at: warnAt.getTime(), sla_state: 'running', breached_at: null };
  }

  // ------------------------------------------------------------------------------------------------------ SLA

  /** Posts the reminders and escalations that are due. Safe to call any time; returns how many fired. */
  processDue(): number {
    const now = this.opts.clock.nowMs();
    const fired = this.opts.db.transaction(() => {
      const due = this.repo.due(now);
      const breaches = due.filter((i) => (i.sla_deadline ?? Infinity) <= now);
      const reminders = due.filter((i) => (i.sla_deadline ?? Infinity) > now);
      this.breach(breaches, now);
      this.remind(reminders, now);
      return due.length;
    })();
    if (fired > 0) this.opts.onScheduleChange?.();
    return fired;
  }

  private remind(incidents: Incident[], now: number): void {
    for (const incident of incidents) this.repo.update(incident.id, { sla_state: 'warned', updated_at: now });
    if (incidents.length >= GROUP_FROM) {
      const earliest = Math.min(...incidents.map((i) => i.sla_deadline ?? now));
      this.groupNote(`⏰ ${incidents.length} incidents are still unacknowledged; the first SLA deadline is in ${formatRemaining(earliest - now)}:`, incidents);
      return;
    }
    for (const incident of incidents) {
      const left = formatRemaining((incident.sla_deadline ?? now) - now);
      this.threadNote(incident, `⏰ Still unacknowledged: ${left} left to acknowledge ${incident.priority} #${incident.number} within the SLA.`);
    }
  }

  private breach(incidents: Incident[], now: number): void {
    if (incidents.length === 0) return;
    const mentions = this.opts.roles.mentionsFor(['oncall', 'lead']).join(' ') || '(no oncall or lead configured)';
    const lateNote = (deadline: number) =>
      now - deadline > LATE_AFTER_MS
        ? ` _(noticed late: Waygate was not running when the deadline passed ${formatRemaining(deadline - now).replace('overdue by ', '')} ago)_`
        : '';
    for (const incident of incidents) {
      const late = now - (incident.sla_deadline ?? now) > LATE_AFTER_MS;
      this.repo.update(incident.id, { sla_state: 'breached', breached_at: now, escalations: incident.escalations + 1, updated_at: now });
      this.opts.audit.record({
        actor: 'waygate',
        action: 'incident.sla_breached',
        subject: `#${incident.number}`,
        details: { id: incident.id, priority: incident.priority, late },
      });
      this.refresh(incident.id);
    }
    if (incidents.length >= GROUP_FROM) {
      const earliest = Math.min(...incidents.map((i) => i.sla_deadline ?? now));
      this.groupNote(`🚨 SLA breached for ${incidents.length} incidents. ${mentions} please respond.${lateNote(earliest)}`, incidents);
      return;
    }
    for (const incident of incidents) {
      const deadline = incident.sla_deadline ?? now;
      const channel = incident.alert_channel ?? this.opts.alertsChannel;
      if (!channel) continue;
      this.opts.outbox.enqueue({
        kind: 'post',
        payload: {
          channel,
          text: `🚨 SLA breached: ${incident.priority} ${incidentLink(incident)} was not acknowledged within ${formatDuration(deadline - incident.created_at)}. ${mentions} please respond.${lateNote(deadline)}`,
        },
      });
    }
  }

  /**
   * One message for many incidents at once (a storm's reminders or breaches), listing them by priority and
   * number, instead of one message each that would queue behind Slack's pace for minutes.
   */
  private groupNote(headline: string, incidents: Incident[]): void {
    const channel = this.opts.alertsChannel ?? incidents[0]?.alert_channel;
    if (!channel) return;
    const listed = incidents.slice(0, GROUP_LISTED).map((i) => `${i.priority} #${i.number}`).join(', ');
    const more = incidents.length > GROUP_LISTED ? ` and ${incidents.length - GROUP_LISTED} more` : '';
    this.opts.outbox.enqueue({ kind: 'post', payload: { channel, text: `${headline}\n${listed}${more}` } });
  }

  // ---------------------------------------------------------------------------------------------------- Slack

  /** Posts the alert, or folds it into a storm summary when the channel is backed up. */
  private announce(incidentId: string, now: number): void {
    const channel = this.opts.alertsChannel;
    if (!channel) return;
    let storm = this.repo.activeStorm(channel);
    if (!storm && this.opts.outbox.pendingInLane(`channel:${channel}`) < this.opts.stormThreshold) {
      this.postAlert(incidentId);
      return;
    }
    const starting = !storm;
    storm ??= this.repo.startStorm(channel, now);
    this.repo.update(incidentId, { storm_id: storm.id });
    if (starting) {
      const content = renderStorm(storm, this.repo.stormIncidents(storm.id));
      this.opts.outbox.enqueue({ kind: 'post', payload: { channel, ...content }, messageKey: stormKey(storm.id) });
    } else {
      this.updateStorm(channel, storm.id);
    }
  }

  private postAlert(incidentId: string): void {
    const channel = this.opts.alertsChannel;
    if (!channel) return;
    this.repo.update(incidentId, { alert_posted: 1, alert_channel: channel });
    const incident = this.repo.get(incidentId);
    if (!incident) return;
    this.opts.outbox.enqueue({ kind: 'post', payload: { channel, ...renderAlert(incident) }, messageKey: alertKey(incidentId) });
  }

  /**
   * During a storm, called whenever the alerts channel has nothing queued: posts the next incident that
   * only the summary shows, or closes the storm when none is left.
   */
  drainStorm(): void {
    const channel = this.opts.alertsChannel;
    if (!channel || this.opts.outbox.pendingInLane(`channel:${channel}`) > 0) return;
    this.opts.db.transaction(() => {
      const storm = this.repo.activeStorm(channel);
      if (!storm) return;
      const next = this.repo.nextUnposted(storm.id);
      if (next) {
        this.postAlert(next.id);
        return;
      }
      this.repo.endStorm(storm.id, this.opts.clock.nowMs());
      const ended = { ...storm, ended_at: this.opts.clock.nowMs() };
      this.opts.outbox.enqueue({
        kind: 'update',
        payload: { channel, messageKey: stormKey(storm.id), ...renderStorm(ended, this.repo.stormIncidents(storm.id)) },
      });
    })();
  }

  /** Re-renders an incident's alert (and its storm summary) after a change. */
  private refresh(incidentId: string): void {
    const incident = this.repo.get(incidentId);
    if (!incident?.alert_channel) return;
    if (incident.alert_posted) {
      this.opts.outbox.enqueue({
        kind: 'update',
        payload: { channel: incident.alert_channel, messageKey: alertKey(incidentId), ...renderAlert(incident) },
      });
    }
    if (incident.storm_id !== null) {
      const storm = this.repo.activeStorm(incident.alert_channel);
      if (storm?.id === incident.storm_id) this.updateStorm(incident.alert_channel, storm.id);
    }
  }

  /**
   * Storm summaries change with every alert in a storm: queue one deferred update (rendered when sent, at
   * most once per pacing interval) instead of rendering hundreds of incidents per webhook.
   */
  private updateStorm(channel: string, stormId: number): void {
    this.opts.outbox.enqueueDeferredUpdate({ channel, messageKey: stormKey(stormId), renderKey: stormKey(stormId) });
  }

  /** Renders a deferred update queued by this service (see updateStorm); null for unknown keys. */
  renderDeferred(renderKey: string): MessageContent | null {
    const match = /^storm:(\d+)$/.exec(renderKey);
    if (!match) return null;
    const storm = this.repo.getStorm(Number(match[1]));
    return storm ? renderStorm(storm, this.repo.stormIncidents(storm.id)) : null;
  }

  /** A line in the alert's thread, or in the channel when the alert has no message yet. */
  private threadNote(incident: Incident, text: string): void {
    const channel = incident.alert_channel;
    if (!channel) return;
    this.opts.outbox.enqueue({
      kind: 'post',
      payload: incident.alert_posted
        ? { channel, text, threadKey: alertKey(incident.id) }
        : { channel, text: `${incident.priority} #${incident.number}: ${text}` },
    });
  }

  // ---------------------------------------------------------------------------------------------------- reads

  open(priority?: Priority): Incident[] {
    return this.repo.listOpen(priority);
  }

  findByNumber(number: number): Incident | undefined {
    return this.repo.getByNumber(number);
  }

  describeAck(result: AckResult): string {
    switch (result.outcome) {
      case 'not_found':
        return `No incident ${result.id}.`;
      case 'already_acknowledged':
        return `${incidentLink(result.incident)} was already acknowledged by ${who(result.incident.acknowledged_by)}.`;
      case 'already_resolved':
        return `${incidentLink(result.incident)} is already resolved.`;
      case 'acknowledged': {
        const i = result.incident;
        const took = formatDuration((i.acknowledged_at ?? 0) - i.created_at);
        const sla = i.sla_state === 'met' ? 'within SLA' : 'outside SLA';
        return `✅ Acknowledged ${i.priority} ${incidentLink(i)} after ${took} (${sla}).`;
      }
      case 'resolved':
        return `☑️ Resolved ${result.incident.priority} ${incidentLink(result.incident)}.`;
    }
  }
}
