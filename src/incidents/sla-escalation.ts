import type { AuditLog } from '../audit/audit-log.js';
import { LATE_AFTER_MS, type Deadlines, type DueDeadline } from '../core/deadlines.js';
import { formatRemaining } from './sla.js';
import { incidentLink } from './alert-message.js';
import type { Incident, IncidentRepository } from './incident-repository.js';
import type { AlertPublisher } from './alert-publisher.js';
import type { Change } from './lifecycle.js';
import { formatDuration } from '../core/text.js';

/** The deadline owner of SLA reminders and escalations. */
export const SLA_DEADLINES = 'incident-sla';
/** From this many reminders or breaches falling due together, one grouped message replaces one each. */
const GROUP_FROM = 4;

const warnKey = (id: string): string => `${id}:warn`;
const breachKey = (id: string): string => `${id}:breach`;

export interface SlaEscalationOptions {
  repo: IncidentRepository;
  deadlines: Deadlines;
  audit: AuditLog;
  publisher: AlertPublisher;
  /** `<@U…>` / `<!subteam^S…>` of the people to call when an SLA is breached. */
  escalateTo: () => string[];
}

/**
 * SLA reminders and escalations of SOP-MON-001 on the durable deadlines: each unacknowledged incident has
 * a reminder (at `warnAt` of the window) and a breach deadline, kept in step with its state by sync().
 */
export class SlaEscalation {
  constructor(private readonly opts: SlaEscalationOptions) {
    opts.deadlines.on(SLA_DEADLINES, (due, now) => this.fire(due, now));
  }

  /** Brings the incidents' deadlines in line with their state; call in the transaction of the changes. */
  follow(changes: readonly Change[]): void {
    const seen = new Set<string>();
    for (const change of changes) {
      if (change.kind === 'note' || seen.has(change.incidentId)) continue;
      seen.add(change.incidentId);
      const incident = this.opts.repo.get(change.incidentId);
      if (incident) this.sync(incident);
    }
  }

  private sync(incident: Incident): void {
    const { deadlines } = this.opts;
    const open = incident.status === 'triggered';
    if (open && incident.sla_state === 'running' && incident.sla_warn_at !== null) deadlines.schedule(SLA_DEADLINES, warnKey(incident.id), incident.sla_warn_at);
    else deadlines.cancel(SLA_DEADLINES, warnKey(incident.id));
    if (open && (incident.sla_state === 'running' || incident.sla_state === 'warned') && incident.sla_deadline !== null) {
      deadlines.schedule(SLA_DEADLINES, breachKey(incident.id), incident.sla_deadline);
    } else deadlines.cancel(SLA_DEADLINES, breachKey(incident.id));
  }

  /** Runs inside the transaction that marks the deadlines fired. */
  private fire(due: readonly DueDeadline[], now: number): void {
    const ids = [...new Set(due.map((d) => d.key.slice(0, d.key.lastIndexOf(':'))))];
    const incidents = ids
      .map((id) => this.opts.repo.get(id))
      .filter((i): i is Incident => i !== undefined && i.status === 'triggered' && (i.sla_state === 'running' || i.sla_state === 'warned'))
      .sort((a, b) => (a.sla_deadline ?? 0) - (b.sla_deadline ?? 0));
    const breaches = incidents.filter((i) => (i.sla_deadline ?? Infinity) <= now);
    const reminders = incidents.filter((i) => (i.sla_deadline ?? Infinity) > now && i.sla_state === 'running');
    this.breach(breaches, now);
    this.remind(reminders, now);
  }

  private remind(incidents: Incident[], now: number): void {
    const { repo, publisher } = this.opts;
    for (const incident of incidents) repo.update(incident.id, { sla_state: 'warned', updated_at: now });
    if (incidents.length >= GROUP_FROM) {
      const earliest = Math.min(...incidents.map((i) => i.sla_deadline ?? now));
      publisher.groupNote(`⏰ ${incidents.length} incidents are still unacknowledged; the first SLA deadline is in ${formatRemaining(earliest - now)}:`, incidents, true);
      return;
    }
    for (const incident of incidents) {
      const left = formatRemaining((incident.sla_deadline ?? now) - now);
      publisher.threadNote(incident, `⏰ Still unacknowledged: ${left} left to acknowledge ${incident.priority} #${incident.number} within the SLA.`, true);
    }
  }

  private breach(incidents: Incident[], now: number): void {
    if (incidents.length === 0) return;
    const { repo, audit, publisher, deadlines } = this.opts;
    const mentions = this.opts.escalateTo().join(' ') || '(no oncall or lead configured)';
    const lateNote = (deadline: number) =>
      now - deadline > LATE_AFTER_MS
        ? ` _(noticed late: Waygate was not running when the deadline passed ${formatRemaining(deadline - now).replace('overdue by ', '')} ago)_`
        : '';
    for (const incident of incidents) {
      const late = now - (incident.sla_deadline ?? now) > LATE_AFTER_MS;
      repo.update(incident.id, { sla_state: 'breached', breached_at: now, escalations: incident.escalations + 1, updated_at: now });
      deadlines.cancel(SLA_DEADLINES, warnKey(incident.id));
      audit.record({
        actor: 'waygate',
        action: 'incident.sla_breached',
        subject: `#${incident.number}`,
        details: { id: incident.id, priority: incident.priority, late },
      });
      publisher.publish([{ kind: 'changed', incidentId: incident.id }], now);
    }
    if (incidents.length >= GROUP_FROM) {
      const earliest = Math.min(...incidents.map((i) => i.sla_deadline ?? now));
      publisher.groupNote(`🚨 SLA breached for ${incidents.length} incidents. ${mentions} please respond.${lateNote(earliest)}`, incidents, true);
      return;
    }
    for (const incident of incidents) {
      const deadline = incident.sla_deadline ?? now;
      const text = `🚨 SLA breached: ${incident.priority} ${incidentLink(incident)} was not acknowledged within ${formatDuration(deadline - incident.created_at)}. ${mentions} please respond.${lateNote(deadline)}`;
      if (incident.alert_channel) publisher.postTo(incident.alert_channel, text, true);
      else publisher.post(text, undefined, true);
    }
  }
}
