import type { Priority } from '../config/sla-schema.js';
import { incidentLink } from './alert-message.js';
import type { SlackEdit } from './facade.js';

/** What the person who changed an incident from Slack (command or menu) is told; one wording for both. */
export const editReplies = {
  note: (r: SlackEdit, synced: boolean): string => `📝 Added your note to ${incidentLink(r.incident)}${synced ? '; the thread shows when PagerDuty has it' : ''}.`,
  reassign: (r: SlackEdit, assignee: string, synced: boolean): string =>
    r.outcome === 'resolved'
      ? `${incidentLink(r.incident)} is resolved; it was not reassigned.`
      : r.outcome === 'unchanged'
        ? `${incidentLink(r.incident)} is already assigned to <@${assignee}>.`
        : `👤 Assigned ${incidentLink(r.incident)} to <@${assignee}>, who has been told${synced ? '; the thread shows when PagerDuty has it' : ''}.`,
  priority: (r: SlackEdit, priority: Priority, synced: boolean): string =>
    r.outcome === 'resolved'
      ? `${incidentLink(r.incident)} is resolved; its priority was not changed.`
      : r.outcome === 'unchanged'
        ? `${incidentLink(r.incident)} is already ${priority}.`
        : `↕️ ${incidentLink(r.incident)} is now ${priority}${r.incident.status === 'triggered' ? '; its SLA follows the new priority' : ''}${synced ? '; the thread shows when PagerDuty has it' : ''}.`,
  escalate: (r: SlackEdit): string =>
    r.outcome === 'resolved' ? `${incidentLink(r.incident)} is resolved; nobody was called.` : `📣 Escalated ${incidentLink(r.incident)} to level ${r.incident.escalations}; see its thread.`,
  noIncident: (number: number): string => `There is no incident #${number}. \`/waygate incidents\` lists the open ones.`,
};
