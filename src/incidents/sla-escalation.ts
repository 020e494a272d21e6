import type { AuditLog } from '../audit/audit-log.js';
import type { Executor } from '../db/data-layer.js';
import { LATE_AFTER_MS, type Deadlines, type DueDeadline } from '../core/deadlines.js';
import { formatRemaining } from './sla.js';
import { incidentLink } from './alert-message.js';
import type { Incident, IncidentRepository } from './incident-repository.js';
import type { AlertPublisher } from './alert-publisher.js';
import type { Change } from './lifecycle.js';
import { formatDuration } from '../core/text.js';
import type { EscalationStep } from '../oncall/schema.js';

/** The deadline owner of SLA reminders and escalations. */
export const SLA_DEADLINES = 'incident-sla';
/** From this many reminders or breaches falling due together, one grouped message replaces one each. */
const GROUP_FROM = 4;

const warnKey = (id: string): string => `${id}:warn`;
const breachKey = (id: string): string => `${id}:breach`;
const stepKey = (id: string): string => `${id}:step`;

export interface SlaEscalationOptions {
  repo: IncidentRepository;
  deadlines: Deadlines;
  audit: AuditLog;
  publisher: AlertPublisher;
  /** The escalation ladder (YAML `escalation:`): each step's multiple of the SLA window and its audiences. */
  ladder: readonly EscalationStep[];
  /** The one person on call now (rotation or override), if there is one. */
  onCall: (ex: Executor) => Promise<string | undefined>;
  /** `<@U…>` / `<!subteam^S…>` of a role's members. */
  mentionsFor: (roles: readonly string[]) => string[];
  /** Sends a direct message (through the outbox, in the caller's transaction `tx`). */
  dm: (tx: Executor, userId: string, text: string) => Promise<void>;
}

/**
 * SLA reminders and escalations of SOP-MON-001 on the durable deadlines: each unacknowledged incident has
 * a reminder (at `warnAt` of the window) and a breach deadline, kept in step with its state by sync().
 */
export class SlaEscalation {
  constructor(private readonly opts: SlaEscalationOptions) {
    opts.deadlines.on(SLA_DEADLINES, (due, now, tx) => this.fire(tx, due, now));
  }

  /** Brings the incidents' deadlines in line with their state; call in the transaction of the changes. */
  async follow(tx: Executor, changes: readonly Change[]): Promise<void> {
    const ids = new Set<string>();
    for (const change of changes) if (change.kind !== 'note' && change.kind !== 'pd_change') ids.add(change.incidentId);
    if (ids.size === 0) return;
    // Read together and cancelled together: a bulk acknowledgement follows hundreds of incidents at once, and on
    // PostgreSQL each statement is a round trip.
    const incidents = await this.opts.repo.getMany(tx, [...ids]);
    const cancel: string[] = [];
    for (const id of ids) {
      const incident = incidents.get(id);
      if (incident) await this.sync(tx, incident, cancel);
    }
    await this.opts.deadlines.cancelMany(tx, SLA_DEADLINES, cancel);
  }

  /** Schedules the incident's deadlines its state calls for; adds the keys of those it does not to `cancel`. */
  private async sync(tx: Executor, incident: Incident, cancel: string[]): Promise<void> {
    const { deadlines } = this.opts;
    const open = incident.status === 'triggered';
    if (open && incident.sla_state === 'running' && incident.sla_warn_at !== null) await deadlines.schedule(tx, SLA_DEADLINES, warnKey(incident.id), incident.sla_warn_at);
    else cancel.push(warnKey(incident.id));
    if (open && (incident.sla_state === 'running' || incident.sla_state === 'warned') && incident.sla_deadline !== null) {
      await deadlines.schedule(tx, SLA_DEADLINES, breachKey(incident.id), incident.sla_deadline);
    } else cancel.push(breachKey(incident.id));
    const next = open ? this.stepAt(incident, incident.escalations) : null;
    // A first step due by the breach is fired by the breach deadline itself: one deadline row less per new
    // incident, which a webhook flood writes thousands of times a minute.
    const firedByBreach =
      incident.escalations === 0 && incident.sla_state !== 'breached' && incident.sla_deadline !== null && next !== null && next <= incident.sla_deadline;
    if (next !== null && !firedByBreach) await deadlines.schedule(tx, SLA_DEADLINES, stepKey(incident.id), next);
    else cancel.push(stepKey(incident.id));
  }

  /**
   * When escalation step `level` (0-based: how many have fired) falls due: its multiple of the incident's SLA
   * window after it opened. Past the ladder's end the last step repeats every window.
   */
  private stepAt(incident: Incident, level: number): number | null {
    const { ladder } = this.opts;
    if (incident.sla_deadline === null || ladder.length === 0) return null;
    const window = incident.sla_deadline - incident.created_at;
    if (window <= 0) return null;
    const last = ladder.length - 1;
    const after = level <= last ? ladder[level]!.after : ladder[last]!.after + (level - last);
    return incident.created_at + Math.round(after * window);
  }

  /** The mentions of one step's audiences: the on-call person (or the oncall role), roles, the channel. */
  private async audience(tx: Executor, step: EscalationStep): Promise<string[]> {
    const mentions = new Set<string>();
    for (const who of step.notify) {
      if (who === 'channel') mentions.add('<!channel>');
      else if (who === 'oncall') {
        const person = await this.opts.onCall(tx);
        for (const m of person ? [`<@${person}>`] : this.opts.mentionsFor(['oncall'])) mentions.add(m);
      } else for (const m of this.opts.mentionsFor([who])) mentions.add(m);
    }
    return [...mentions];
  }

  private stepOf(level: number): EscalationStep {
    const { ladder } = this.opts;
    return ladder[Math.min(level, ladder.length - 1)]!;
  }

  /**
   * Someone asked for the next step now (`/waygate escalate`, the card's menu): its audiences are called
   * at once, and the ladder goes on from the level reached. Returns the level reached.
   */
  async escalateNow(tx: Executor, incident: Incident, by: string, now: number): Promise<number> {
    const { repo, audit, publisher, deadlines, ladder } = this.opts;
    const level = incident.escalations + 1;
    const mentions = await this.audience(tx, this.stepOf(incident.escalations));
    await repo.update(tx, incident.id, { escalations: level, updated_at: now });
    const next = incident.status === 'triggered' ? this.stepAt(incident, level) : null;
    if (next !== null) await deadlines.schedule(tx, SLA_DEADLINES, stepKey(incident.id), next);
    await audit.record(tx, { actor: by, action: 'incident.escalated', subject: `#${incident.number}`, details: { id: incident.id, level, notified: mentions, manual: true } });
    await publisher.publish(tx, [{ kind: 'changed', incidentId: incident.id }], now);
    const who = mentions.join(' ') || '(nobody to notify: configure oncall and lead)';
    const step = level <= ladder.length ? `escalation ${level} of ${ladder.length}` : `escalation ${level}`;
    await publisher.threadNote(tx, (await repo.get(tx, incident.id)) ?? incident, `📣 <@${by}> escalated ${incident.priority} ${incidentLink(incident)} now (${step}). ${who} please respond.`, true, true);
    const person = await this.opts.onCall(tx);
    if (person && person !== by) await this.opts.dm(tx, person, `📣 <@${by}> escalated ${incident.priority} ${incidentLink(incident)} to you (${step}). See its thread in the alerts channel.`);
    return level;
  }

  /** Runs inside the transaction that marks the deadlines fired. */
  private async fire(tx: Executor, due: readonly DueDeadline[], now: number): Promise<void> {
    const ids = [...new Set(due.map((d) => d.key.slice(0, d.key.lastIndexOf(':'))))];
    const found: Array<Incident | undefined> = [];
    for (const id of ids) found.push(await this.opts.repo.get(tx, id));
    const incidents = found
      .filter((i): i is Incident => i !== undefined && i.status === 'triggered')
      .sort((a, b) => (a.sla_deadline ?? 0) - (b.sla_deadline ?? 0));
    const live = incidents.filter((i) => i.sla_state === 'running' || i.sla_state === 'warned');
    const breaches = live.filter((i) => (i.sla_deadline ?? Infinity) <= now);
    const reminders = live.filter((i) => (i.sla_deadline ?? Infinity) > now && i.sla_state === 'running');
    await this.breach(tx, breaches, now);
    await this.remind(tx, reminders, now);
    // The breach above changes neither an incident's escalations nor its window, which is all stepAt reads.
    const stepping = incidents.filter((i) => {
      const at = this.stepAt(i, i.escalations);
      return at !== null && at <= now;
    });
    await this.escalate(tx, stepping, now);
  }

  private async remind(tx: Executor, incidents: Incident[], now: number): Promise<void> {
    const { repo, publisher } = this.opts;
    for (const incident of incidents) await repo.update(tx, incident.id, { sla_state: 'warned', updated_at: now });
    // A reminder nobody is notified of is no reminder: it names the on-call and is shown in the channel.
    const who = (await this.audience(tx, { after: 0, notify: ['oncall'] })).join(' ');
    const mention = who ? `${who} ` : '';
    if (incidents.length >= GROUP_FROM) {
      const earliest = Math.min(...incidents.map((i) => i.sla_deadline ?? now));
      await publisher.groupNote(tx, `⏰ ${mention}${incidents.length} incidents are still unacknowledged; the first SLA deadline is in ${formatRemaining(earliest - now)}:`, incidents, true);
      return;
    }
    for (const incident of incidents) {
      const left = formatRemaining((incident.sla_deadline ?? now) - now);
      await publisher.threadNote(tx, incident, `⏰ ${mention}Still unacknowledged: ${left} left to acknowledge ${incident.priority} #${incident.number} within the SLA.`, true, true);
    }
  }

  /** The SLA is breached: state, audit and card; the escalation step due at the same time does the calling. */
  private async breach(tx: Executor, incidents: Incident[], now: number): Promise<void> {
    const { repo, audit, publisher, deadlines } = this.opts;
    for (const incident of incidents) {
      const late = now - (incident.sla_deadline ?? now) > LATE_AFTER_MS;
      await repo.update(tx, incident.id, { sla_state: 'breached', breached_at: now, updated_at: now });
      await deadlines.cancel(tx, SLA_DEADLINES, warnKey(incident.id));
      await audit.record(tx, {
        actor: 'waygate',
        action: 'incident.sla_breached',
        subject: `#${incident.number}`,
        details: { id: incident.id, priority: incident.priority, late },
      });
      await publisher.publish(tx, [{ kind: 'changed', incidentId: incident.id }], now);
    }
  }

  /**
   * Climbs one step of the ladder for each incident whose next step is due: mentions that step's audiences
   * (in one message when many fall due together, so a storm does not become a mention storm), sends the
   * on-call a direct message, audits it, and schedules the next step.
   */
  private async escalate(tx: Executor, incidents: Incident[], now: number): Promise<void> {
    if (incidents.length === 0) return;
    const { repo, audit, publisher, deadlines, ladder } = this.opts;
    const lateNote = (deadline: number) =>
      now - deadline > LATE_AFTER_MS
        ? ` _(noticed late: Waygate was not running when the deadline passed ${formatRemaining(deadline - now).replace('overdue by ', '')} ago)_`
        : '';
    const notices: Array<{ incident: Incident; level: number; mentions: string[]; dueAt: number; missedSince: number; announced: boolean }> = [];
    for (const incident of incidents) {
      // Steps missed while the bot was down are not sent one after another: the highest one due is.
      let step = incident.escalations;
      while ((this.stepAt(incident, step + 1) ?? Infinity) <= now) step++;
      const level = step + 1;
      const dueAt = this.stepAt(incident, step) ?? now;
      const mentions = await this.audience(tx, this.stepOf(step));
      await repo.update(tx, incident.id, { escalations: level, updated_at: now });
      const next = this.stepAt(incident, level);
      if (next !== null) await deadlines.schedule(tx, SLA_DEADLINES, stepKey(incident.id), next);
      await audit.record(tx, { actor: 'waygate', action: 'incident.escalated', subject: `#${incident.number}`, details: { id: incident.id, level, notified: mentions } });
      await publisher.publish(tx, [{ kind: 'changed', incidentId: incident.id }], now);
      // "Noticed late" counts from the first step that was missed, not the one reached.
      const missedSince = this.stepAt(incident, incident.escalations) ?? dueAt;
      notices.push({ incident, level, mentions, dueAt, missedSince, announced: incident.escalations > 0 });
    }
    const stepName = (level: number) => (level <= ladder.length ? `escalation ${level} of ${ladder.length}` : `escalation ${level} (repeating step ${ladder.length})`);
    const person = await this.opts.onCall(tx);
    if (notices.length >= GROUP_FROM) {
      const mentions = [...new Set(notices.flatMap((n) => n.mentions))].join(' ') || '(nobody to notify: configure oncall and lead)';
      const earliest = Math.min(...notices.map((n) => n.missedSince));
      const first = notices.every((n) => !n.announced);
      const headline = first ? `🚨 SLA breached for ${notices.length} incidents.` : `🚨 ${notices.length} incidents are still unacknowledged past their SLA.`;
      await publisher.groupNote(tx, `${headline} ${mentions} please respond.${lateNote(earliest)}`, notices.map((n) => n.incident), true);
      if (person) await this.opts.dm(tx, person, `🚨 ${notices.length} incidents are still unacknowledged past their SLA. See the alerts channel, or \`/waygate incidents\`.`);
      return;
    }
    for (const { incident, level, mentions, dueAt, missedSince, announced } of notices) {
      const who = mentions.join(' ') || '(nobody to notify: configure oncall and lead)';
      const waited = formatDuration(dueAt - incident.created_at);
      const text = !announced
        ? `🚨 SLA breached: ${incident.priority} ${incidentLink(incident)} was not acknowledged within ${formatDuration((incident.sla_deadline ?? dueAt) - incident.created_at)}${level > 1 ? ` (${stepName(level)})` : ''}. ${who} please respond.${lateNote(missedSince)}`
          : `🚨 Still unacknowledged after ${waited} (${stepName(level)}): ${incident.priority} ${incidentLink(incident)}. ${who} please respond.${lateNote(missedSince)}`;
      if (incident.alert_channel) await publisher.postTo(tx, incident.alert_channel, text, true);
      else await publisher.post(tx, text, undefined, true);
      if (person) await this.opts.dm(tx, person, `🚨 ${incident.priority} ${incidentLink(incident)} is unacknowledged after ${waited} (${stepName(level)}). Acknowledge it in the alerts channel or with \`/waygate ack ${incident.number}\`.`);
    }
  }
}
