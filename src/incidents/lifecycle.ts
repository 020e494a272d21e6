import type { Clock } from '../clock/clock.js';
import type { Executor } from '../db/data-layer.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Priority, SlaPolicy } from '../config/sla-schema.js';
import type { BusinessCalendar } from './business-calendar.js';
import { priorityFromIncident, slaOutcome, slaTimes } from './sla.js';
import type { ActorSource, Incident, IncidentRepository } from './incident-repository.js';
import { SERVICE_DOWN_KEY_PREFIX, type ApplyResult, type IncidentEvent, type IncidentSnapshot } from './events.js';
import { escapeMrkdwn, truncate } from '../core/text.js';
import { pagerDutyUrl } from './pagerduty-link.js';
import { createHash, randomUUID } from 'node:crypto';
import { messageKeys, type MessageKey } from '../core/keys.js';
import type { ChangeLine, PagerDutyIncidentChange } from '../outbox/types.js';
import { slackDate } from '../slack/format.js';

/**
 * What a state change means for the world outside the incidents table, in order. The alert publisher turns
 * them into messages, the SLA escalation into deadlines; both run in the transaction of the change.
 */
export type Change =
  /** A new incident to announce (alert or storm summary). */
  | { kind: 'opened'; incidentId: string }
  /** The alert (and storm summary) must be redrawn. */
  | { kind: 'changed'; incidentId: string }
  /**
   * A line in the alert's thread; `urgent` when it asks someone to act now, as a new alert does. `key`: the
   * line is updated later (whether PagerDuty took the change it announces).
   */
  | { kind: 'note'; incidentId: string; text: string; urgent?: boolean; key?: MessageKey }
  /** A change made in Slack beyond status (note, assignment, priority) that PagerDuty must hear about. */
  | { kind: 'pd_change'; incidentId: string; change: PagerDutyIncidentChange; slackUser: string; line?: Omit<ChangeLine, 'channel'> }
  /**
   * A change made in Slack that PagerDuty must hear about. Changes of one user to one state are sent to
   * PagerDuty together, unless `alone` (PagerDuty refused them together).
   */
  | { kind: 'to_pagerduty'; incidentId: string; status: SlackChange; slackUser: string; responseUrl?: string; alone?: true };

export interface LifecycleOptions {
  repo: IncidentRepository;
  clock: Clock;
  audit: AuditLog;
  alertsChannel: string | undefined;
  sla: SlaPolicy;
  calendar: BusinessCalendar;
  urgencyPriority: Record<string, Priority>;
  /** Whether Slack-side changes are sent to PagerDuty (an API token is configured). */
  syncToPagerDuty: boolean;
  /** The account's PagerDuty host (YAML incidents.pagerDutyHost); without it, any *.pagerduty.com. */
  pagerDutyHost?: string | undefined;
}

export type SlackChange = 'acknowledged' | 'resolved';

export type ChangeResult =
  | { outcome: SlackChange; incident: Incident }
  | { outcome: 'already_acknowledged' | 'already_resolved'; incident: Incident }
  | { outcome: 'not_found'; id: string };

/**
 * The incident state machine of SOP-MON-001: PagerDuty events and changes made in Slack move an incident
 * between triggered, acknowledged and resolved; each method writes the incident (and audit rows) and returns
 * the changes others must act on. Callers own the transaction and pass it as `tx`.
 */
export class IncidentLifecycle {
  constructor(private readonly opts: LifecycleOptions) {}

  async applyEvent(tx: Executor, event: IncidentEvent, now: number): Promise<{ result: ApplyResult; changes: Change[] }> {
    const changes: Change[] = [];
    const result = await this.apply(tx, event, now, changes);
    return { result, changes };
  }

  private async apply(tx: Executor, event: IncidentEvent, now: number, out: Change[]): Promise<ApplyResult> {
    const { repo } = this.opts;
    if (event.type === 'incident.annotated') return this.annotate(tx, event, out);
    const snap = event.incident;
    if (!snap) return 'ignored';
    const existing = await repo.get(tx, snap.id);
    if (!existing) {
      await this.create(tx, snap, event, now, out);
      return 'applied';
    }
    // Deliveries can arrive out of order: an event older than the newest PagerDuty event applied must not
    // undo it. Only PagerDuty's own timestamps are compared: a change made in Slack is stamped with the bot's
    // clock, which may run ahead of PagerDuty's, and PagerDuty may have moved on a moment before it heard of
    // that change. PagerDuty's state then wins; a Slack change it has not heard of yet reaches it through the
    // outbox and comes back as an event of its own.
    if (event.occurredAt < existing.last_pd_event_at) return 'stale';
    const update: Partial<Incident> = {
      title: snap.title,
      urgency: snap.urgency,
      service: snap.service,
      html_url: pagerDutyUrl(snap.htmlUrl, { accountHost: this.opts.pagerDutyHost }),
      assignees: JSON.stringify(snap.assignees),
      last_event_at: Math.max(existing.last_event_at, event.occurredAt),
      last_pd_event_at: event.occurredAt,
      updated_at: now,
    };
    const agent = event.agentName ?? 'PagerDuty';
    const note = (text: string, urgent = false) => out.push({ kind: 'note', incidentId: existing.id, text, ...(urgent ? { urgent } : {}) });
    switch (event.type) {
      case 'incident.acknowledged':
        if (existing.status === 'triggered') await this.markAcknowledged(tx, existing, event.occurredAt, agent, 'pagerduty');
        // Only an acknowledgement made here is confirmed by this; a resolve made here is still on its way.
        else if (existing.status === 'acknowledged' && existing.pd_sync === 'pending') update.pd_sync = 'synced';
        break;
      case 'incident.unacknowledged':
        if (existing.status === 'acknowledged') {
          Object.assign(update, this.restartSla(existing.priority, event.occurredAt), {
            status: 'triggered',
            acknowledged_at: null,
            acknowledged_by: null,
            acknowledged_source: null,
          });
          note(`↩️ The acknowledgement expired in PagerDuty; the SLA clock starts again.`, true);
        }
        break;
      case 'incident.resolved':
        if (existing.status !== 'resolved') {
          // An acknowledgement made here that PagerDuty has not taken (or refused) is moot now.
          Object.assign(update, resolvedChanges(existing, event.occurredAt, agent, 'pagerduty'), { pd_sync: null });
          await this.opts.audit.record(tx, { actor: agent, action: 'incident.resolved', subject: `#${existing.number}`, details: { id: existing.id, source: 'pagerduty' } });
        } else if (existing.pd_sync === 'pending') update.pd_sync = 'synced';
        break;
      case 'incident.reopened':
        if (existing.status === 'resolved') {
          Object.assign(update, this.restartSla(existing.priority, event.occurredAt), {
            status: 'triggered',
            resolved_at: null,
            resolved_by: null,
            resolved_source: null,
            acknowledged_at: null,
            acknowledged_by: null,
            acknowledged_source: null,
          });
          note(`🔁 Reopened in PagerDuty by ${escapeMrkdwn(agent)}.`, true);
        }
        break;
      case 'incident.priority_updated': {
        const priority = await this.priorityOf(tx, snap);
        update.priority = priority;
        update.pd_priority = snap.priorityName;
        if (existing.status === 'triggered' && priority !== existing.priority) {
          Object.assign(update, this.slaFor(existing, priority, now));
          note(`Priority changed from ${existing.priority} to ${priority}; acknowledge by the new deadline.`);
        }
        break;
      }
      case 'incident.escalated':
      case 'incident.reassigned':
      case 'incident.delegated': {
        // The echo of an assignment made in Slack: the thread said so when it was made.
        if (event.type === 'incident.reassigned' && (await repo.takeEcho(tx, existing.id, 'reassign', ''))) break;
        // PagerDuty assigned someone of its own accord: its assignees are the truth now.
        update.assigned_slack = null;
        const verb = event.type.slice('incident.'.length);
        const to = snap.assignees.length > 0 ? snap.assignees.map(escapeMrkdwn).join(', ') : 'nobody';
        note(`📣 ${verb.charAt(0).toUpperCase()}${verb.slice(1)} in PagerDuty; now assigned to ${to}.`);
        break;
      }
      default:
        break;
    }
    await repo.update(tx, existing.id, update);
    out.push({ kind: 'changed', incidentId: existing.id });
    return 'applied';
  }

  /**
   * PagerDuty's priority (P1…P5), else the urgency mapping; Waygate's own "service down" alert (its dedup
   * key) is a P1 unless someone gave it a priority in PagerDuty, since PagerDuty files it by urgency alone.
   */
  private async priorityOf(tx: Executor, snap: IncidentSnapshot): Promise<Priority> {
    if (!snap.priorityName && snap.incidentKey?.startsWith(SERVICE_DOWN_KEY_PREFIX)) return 'P1';
    // Declared from Slack through the Events API, which cannot carry a priority: the declaration has it.
    const declared = !snap.priorityName && snap.incidentKey?.startsWith(DECLARED_KEY_PREFIX) ? await this.opts.repo.declaration(tx, snap.incidentKey) : undefined;
    if (declared) return declared.priority;
    return priorityFromIncident(snap.priorityName, snap.urgency, this.opts.urgencyPriority);
  }

  private async create(tx: Executor, snap: IncidentSnapshot, event: IncidentEvent, now: number, out: Change[]): Promise<void> {
    const { repo } = this.opts;
    const priority = await this.priorityOf(tx, snap);
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
      html_url: pagerDutyUrl(snap.htmlUrl, { accountHost: this.opts.pagerDutyHost }),
      assignees: JSON.stringify(snap.assignees),
      created_at: snap.createdAt,
      last_event_at: event.occurredAt,
      last_pd_event_at: event.occurredAt,
      acknowledged_at: null,
      acknowledged_by: null,
      acknowledged_source: null,
      resolved_at: null,
      resolved_by: null,
      resolved_source: null,
      sla_deadline: deadline.getTime(),
      sla_warn_at: warnAt.getTime(),
      sla_state: 'running',
      breached_at: null,
      escalations: 0,
      alert_channel: this.opts.alertsChannel ?? null,
      alert_posted: 0,
      pd_sync: null,
      storm_id: null,
      storm_seq: null,
      assigned_slack: null,
      updated_at: now,
    };
    await repo.insert(tx, incident);
    await this.opts.audit.record(tx, {
      actor: event.agentName ?? 'pagerduty',
      action: 'incident.opened',
      subject: `#${snap.number}`,
      details: { id: snap.id, priority, title: snap.title },
    });
    // The first event we hear of may already be a later state (a lost or reordered trigger).
    const agent = event.agentName ?? 'PagerDuty';
    if (snap.status === 'acknowledged') await this.markAcknowledged(tx, incident, event.occurredAt, agent, 'pagerduty');
    if (snap.status === 'resolved') {
      await repo.update(tx, snap.id, resolvedChanges(incident, event.occurredAt, agent, 'pagerduty'));
      return; // nothing for anyone to do: no alert
    }
    out.push({ kind: 'opened', incidentId: snap.id });
    const declared = snap.incidentKey?.startsWith(DECLARED_KEY_PREFIX) ? await repo.declaration(tx, snap.incidentKey) : undefined;
    if (declared) out.push({ kind: 'note', incidentId: snap.id, text: `📣 Declared from Slack by <@${declared.slack_user}>.` });
  }

  private async annotate(tx: Executor, event: IncidentEvent, out: Change[]): Promise<ApplyResult> {
    const incident = event.incidentId ? await this.opts.repo.get(tx, event.incidentId) : undefined;
    if (!incident || !event.note) return 'ignored';
    // A note added from Slack is in the thread already.
    if (await this.opts.repo.takeEcho(tx, incident.id, 'note', noteFingerprint(event.note))) return 'applied';
    out.push({
      kind: 'note',
      incidentId: incident.id,
      text: `📝 Note from ${escapeMrkdwn(event.agentName ?? 'PagerDuty')}: ${escapeMrkdwn(truncate(event.note, 2500))}`,
    });
    return 'applied';
  }

  /** Acknowledges or resolves incidents for a Slack user; PagerDuty hears of it through the changes. */
  async changeFromSlack(
    tx: Executor,
    ids: readonly string[],
    slackUser: string,
    responseUrl: string | undefined,
    to: SlackChange,
    now: number,
  ): Promise<{ results: ChangeResult[]; changes: Change[] }> {
    const changes: Change[] = [];
    const results: ChangeResult[] = [];
    // Read in one go (a bulk acknowledgement changes a hundred at a time), and kept current as they change: an
    // id named twice finds its first change done.
    const incidents = await this.opts.repo.getMany(tx, ids);
    for (const id of ids) {
      const result = await this.changeOneFromSlack(tx, incidents.get(id), id, slackUser, responseUrl, to, now, changes);
      if (result.outcome === to) incidents.set(id, result.incident);
      results.push(result);
    }
    return { results, changes };
  }

  private async changeOneFromSlack(
    tx: Executor,
    incident: Incident | undefined,
    id: string,
    slackUser: string,
    responseUrl: string | undefined,
    to: SlackChange,
    now: number,
    changes: Change[],
  ): Promise<ChangeResult> {
    const { repo } = this.opts;
    if (!incident) return { outcome: 'not_found', id };
    if (incident.status === 'resolved') return { outcome: 'already_resolved', incident };
    if (to === 'acknowledged' && incident.status === 'acknowledged') return { outcome: 'already_acknowledged', incident };
    const toPagerDuty = this.opts.syncToPagerDuty && !isLocalIncident(id);
    // One UPDATE with everything the change sets: a bulk acknowledgement runs this thousands of times, and on
    // PostgreSQL each statement is a round trip. last_pd_event_at stays: PagerDuty's later events are ordered
    // against PagerDuty's clock only.
    const also: Partial<Incident> = { last_event_at: Math.max(incident.last_event_at, now), updated_at: now, ...(toPagerDuty ? { pd_sync: 'pending' as const } : {}) };
    let set: Partial<Incident>;
    if (to === 'acknowledged') set = await this.markAcknowledged(tx, incident, now, slackUser, 'slack', also);
    else {
      set = { ...resolvedChanges(incident, now, slackUser, 'slack'), ...also };
      await repo.update(tx, id, set);
      await this.opts.audit.record(tx, { actor: slackUser, action: 'incident.resolved', subject: `#${incident.number}`, details: { id, source: 'slack' } });
    }
    if (toPagerDuty) changes.push({ kind: 'to_pagerduty', incidentId: id, status: to, slackUser, ...(responseUrl ? { responseUrl } : {}) });
    changes.push({ kind: 'changed', incidentId: id });
    return { outcome: to, incident: { ...incident, ...set } };
  }

  /**
   * PagerDuty took a change made in Slack for many incidents at once. An incident changed here again since
   * (say, resolved after this acknowledgement) still has that later change on its way.
   */
  async pagerDutySyncedMany(tx: Executor, ids: readonly string[], status: SlackChange, now: number): Promise<Change[]> {
    const synced = await this.opts.repo.markSynced(tx, ids, status, now);
    return synced.map((id) => ({ kind: 'changed', incidentId: id }));
  }

  /**
   * PagerDuty refused a change for many incidents at once (one of them may have moved on in PagerDuty): the
   * incidents still waiting for that change are sent again one at a time.
   */
  async pagerDutyBulkRefused(tx: Executor, ids: readonly string[], status: SlackChange, slackUser: string): Promise<Change[]> {
    const changes: Change[] = [];
    for (const id of ids) {
      const incident = await this.opts.repo.get(tx, id);
      if (incident?.status === status && incident.pd_sync === 'pending') changes.push({ kind: 'to_pagerduty', incidentId: id, status, slackUser, alone: true });
    }
    return changes;
  }

  /**
   * PagerDuty accepted (or finally refused) a change made in Slack. Nothing is waiting when PagerDuty's own
   * resolve made the change moot first.
   */
  async pagerDutySynced(tx: Executor, incidentId: string, ok: boolean, now: number): Promise<Change[]> {
    const incident = await this.opts.repo.get(tx, incidentId);
    if (!incident || incident.pd_sync === null) return [];
    await this.opts.repo.update(tx, incidentId, { pd_sync: ok ? 'synced' : 'failed', updated_at: now });
    return [{ kind: 'changed', incidentId }];
  }

  /** The SLA of an unacknowledged incident whose priority changed: the new window, counted from when it opened. */
  private slaFor(existing: Incident, priority: Priority, now: number): Partial<Incident> {
    const { deadline, warnAt } = slaTimes(this.opts.sla, this.opts.calendar, priority, new Date(existing.created_at));
    const update: Partial<Incident> = { sla_deadline: deadline.getTime(), sla_warn_at: warnAt.getTime() };
    if (existing.sla_state !== 'breached') update.sla_state = existing.sla_state === 'warned' && warnAt.getTime() <= now ? 'warned' : 'running';
    return update;
  }

  /** Whether a change made here goes to PagerDuty too. */
  synced(incident: Incident): boolean {
    return this.opts.syncToPagerDuty && !isLocalIncident(incident.id);
  }

  /**
   * The thread line announcing a change made here and, when PagerDuty must hear of it, the change on its way
   * there; the line then says whether PagerDuty took it.
   */
  private announce(incident: Incident, text: string, slackUser: string, change: PagerDutyIncidentChange | null, out: Change[]): void {
    if (!change || !this.synced(incident)) {
      out.push({ kind: 'note', incidentId: incident.id, text });
      return;
    }
    const key = messageKeys.change(randomUUID());
    out.push({ kind: 'note', incidentId: incident.id, text: `${text} · _sending to PagerDuty…_`, key });
    out.push({ kind: 'pd_change', incidentId: incident.id, change, slackUser, line: { messageKey: key, text } });
  }

  /** A note from Slack: in the thread at once, and in PagerDuty's incident log. */
  async noteFromSlack(tx: Executor, incident: Incident, slackUser: string, content: string, now: number): Promise<Change[]> {
    const out: Change[] = [];
    await this.opts.audit.record(tx, { actor: slackUser, action: 'incident.note_added', subject: `#${incident.number}`, details: { id: incident.id, note: truncate(content, 500) } });
    if (this.synced(incident)) await this.opts.repo.expectEcho(tx, incident.id, 'note', noteFingerprint(content), now);
    this.announce(incident, `📝 Note from <@${slackUser}>: ${escapeMrkdwn(truncate(content, 2500))}`, slackUser, { kind: 'note', content }, out);
    await this.opts.repo.update(tx, incident.id, { updated_at: now });
    return out;
  }

  /** Assigns it to a Slack user (in PagerDuty, the user with the same e-mail). */
  async reassignFromSlack(tx: Executor, incident: Incident, slackUser: string, assignee: string, now: number): Promise<Change[]> {
    const out: Change[] = [];
    await this.opts.repo.update(tx, incident.id, { assigned_slack: assignee, updated_at: now });
    await this.opts.audit.record(tx, { actor: slackUser, action: 'incident.reassigned', subject: `#${incident.number}`, details: { id: incident.id, assignee } });
    if (this.synced(incident)) await this.opts.repo.expectEcho(tx, incident.id, 'reassign', '', now);
    this.announce(incident, `👤 <@${slackUser}> assigned #${incident.number} to <@${assignee}>.`, slackUser, { kind: 'reassign', slackAssignee: assignee }, out);
    out.push({ kind: 'changed', incidentId: incident.id });
    return out;
  }

  /** A new priority: its SLA window replaces the old one (counted from when the incident opened). */
  async priorityFromSlack(tx: Executor, incident: Incident, slackUser: string, priority: Priority, now: number): Promise<Change[]> {
    const out: Change[] = [];
    const update: Partial<Incident> = { priority, updated_at: now };
    if (incident.status === 'triggered') Object.assign(update, this.slaFor(incident, priority, now));
    await this.opts.repo.update(tx, incident.id, update);
    await this.opts.audit.record(tx, { actor: slackUser, action: 'incident.priority_changed', subject: `#${incident.number}`, details: { id: incident.id, from: incident.priority, to: priority } });
    const deadline = update.sla_deadline;
    const sla =
      deadline === undefined || deadline === null ? '' : deadline <= now ? ' The new SLA window has already passed.' : ` Acknowledge by ${slackDate(new Date(deadline))}.`;
    this.announce(incident, `↕️ <@${slackUser}> changed the priority of #${incident.number} from ${incident.priority} to ${priority}.${sla}`, slackUser, { kind: 'priority', priority }, out);
    out.push({ kind: 'changed', incidentId: incident.id });
    return out;
  }

  /** Returns what it set on the incident's row, `also` included (set in the same statement). */
  private async markAcknowledged(tx: Executor, incident: Incident, at: number, by: string, source: ActorSource, also: Partial<Incident> = {}): Promise<Partial<Incident>> {
    const outcome = incident.sla_deadline ? slaOutcome(new Date(incident.sla_deadline), new Date(at)) : 'met';
    const set: Partial<Incident> = {
      status: 'acknowledged',
      acknowledged_at: at,
      acknowledged_by: by,
      acknowledged_source: source,
      sla_state: outcome === 'met' && incident.sla_state !== 'breached' ? 'met' : 'breached',
      ...also,
    };
    await this.opts.repo.update(tx, incident.id, set);
    const timeToAckMs = Math.max(0, at - incident.created_at);
    await this.opts.repo.recordAck(tx, { incidentId: incident.id, ackedBy: by, source, ackedAt: at, timeToAckMs, outcome });
    await this.opts.audit.record(tx, {
      actor: by,
      action: 'incident.acknowledged',
      subject: `#${incident.number}`,
      details: { id: incident.id, source, timeToAckMs, sla: outcome },
    });
    return set;
  }

  private restartSla(priority: Priority, from: number): Partial<Incident> {
    const { deadline, warnAt } = slaTimes(this.opts.sla, this.opts.calendar, priority, new Date(from));
    return { sla_deadline: deadline.getTime(), sla_warn_at: warnAt.getTime(), sla_state: 'running', breached_at: null };
  }
}

function resolvedChanges(incident: Incident, at: number, by: string, source: ActorSource): Partial<Incident> {
  const slaOpen = incident.sla_state === 'running' || incident.sla_state === 'warned';
  return { status: 'resolved', resolved_at: at, resolved_by: by, resolved_source: source, ...(slaOpen ? { sla_state: 'stopped' as const } : {}) };
}

/** The dedup key prefix of incidents declared from Slack through the Events API. */
export const DECLARED_KEY_PREFIX = 'waygate-declared:';

/** A new dedup key for a declaration. */
export function declaredKey(): string {
  return `${DECLARED_KEY_PREFIX}${randomUUID()}`;
}

/** How a note is recognised when PagerDuty sends it back (content only: PagerDuty keeps it as sent). */
function noteFingerprint(content: string): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Incidents Waygate opened itself (no PagerDuty routing key): PagerDuty has never heard of them. */
export const LOCAL_INCIDENT_PREFIX = 'local:';
export function isLocalIncident(id: string): boolean {
  return id.startsWith(LOCAL_INCIDENT_PREFIX);
}
