import type { MessageContent } from '../outbox/types.js';
import { slackDate } from '../slack/format.js';
import type { Incident } from './incident-repository.js';
import { INCIDENT_ACTIONS } from './actions.js';
import { escapeMrkdwn, formatDuration, truncate } from '../core/text.js';
import { actions, button, context, section, type Block } from '../core/blocks.js';
import type { Button } from '@slack/types';

const PRIORITY_ICON: Record<string, string> = { P1: '🔴', P2: '🟠', P3: '🟡', P4: '🔵', P5: '⚪' };

/** `<@U…>` for Slack users, plain text for PagerDuty names. */
export function who(actor: string | null): string {
  if (!actor) return 'someone';
  return /^[UW][A-Z0-9]{2,}$/.test(actor) ? `<@${actor}>` : escapeMrkdwn(actor);
}

function assigneesOf(incident: Incident): string {
  const names = JSON.parse(incident.assignees) as string[];
  return names.length > 0 ? names.map(escapeMrkdwn).join(', ') : '_nobody_';
}

export function incidentLink(incident: Incident): string {
  const label = `#${incident.number} ${escapeMrkdwn(truncate(incident.title, 200))}`;
  return incident.html_url ? `<${incident.html_url}|${label}>` : label;
}

/** Incidents by number for a summary line: the first `max`, then how many more ("#12, #13 and 40 more"). */
export function listNumbers(incidents: ReadonlyArray<Pick<Incident, 'number'>>, max = 10): string {
  const shown = incidents.slice(0, max).map((i) => `#${i.number}`);
  const more = incidents.length - shown.length;
  if (more > 0) return `${shown.join(', ')} and ${more.toLocaleString('en-US')} more`;
  return shown.length > 1 ? `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1] ?? ''}` : (shown[0] ?? '');
}

/** One line of where the incident stands, for the alert message and for lists. */
export function statusLine(incident: Incident): string {
  const deadline = incident.sla_deadline ? slackDate(new Date(incident.sla_deadline)) : null;
  switch (incident.status) {
    case 'triggered': {
      if (incident.sla_state === 'breached') return `🚨 *Unacknowledged — SLA breached* (deadline was ${deadline})`;
      return `⏳ *Unacknowledged* — acknowledge by ${deadline}`;
    }
    case 'acknowledged': {
      const took = incident.acknowledged_at ? formatDuration(incident.acknowledged_at - incident.created_at) : '?';
      const within =
        incident.sla_deadline && incident.acknowledged_at
          ? incident.acknowledged_at <= incident.sla_deadline
            ? 'within SLA'
            : 'outside SLA'
          : '';
      return `✅ *Acknowledged* by ${who(incident.acknowledged_by)} after ${took}${within ? ` (${within})` : ''}`;
    }
    case 'resolved':
      return `☑️ *Resolved*${incident.resolved_by ? ` by ${who(incident.resolved_by)}` : ''}${
        incident.resolved_at ? ` ${slackDate(new Date(incident.resolved_at))}` : ''
      }`;
  }
}

function syncLine(incident: Incident): string | null {
  if (incident.pd_sync === 'pending') return '🔄 Syncing to PagerDuty…';
  if (incident.pd_sync === 'failed') return '⚠️ PagerDuty did not accept the change made here; check the incident there.';
  return null;
}

/** The alert message in the alerts channel, rebuilt from the incident on every change. */
export function renderAlert(incident: Incident): MessageContent {
  const icon = PRIORITY_ICON[incident.priority] ?? '⚪';
  const urgency = incident.urgency ? ` · ${incident.urgency} urgency` : '';
  const headline = `${icon} *${incident.priority}*${urgency} · ${incidentLink(incident)}`;
  const details = [
    `*Service:* ${escapeMrkdwn(incident.service ?? 'unknown')}`,
    `*Assigned:* ${assigneesOf(incident)}`,
    `*Opened:* ${slackDate(new Date(incident.created_at))}`,
  ].join('   ');
  const notes = [syncLine(incident), incident.escalations > 0 && incident.status === 'triggered' ? `Escalated ${incident.escalations}×` : null]
    .filter((n): n is string => Boolean(n));
  const buttons: Button[] = [];
  if (incident.status === 'triggered') {
    buttons.push(button({ actionId: INCIDENT_ACTIONS.acknowledge, text: 'Acknowledge', style: 'primary', value: incident.id }));
  }
  if (incident.status !== 'resolved') {
    buttons.push(button({ actionId: INCIDENT_ACTIONS.resolve, text: 'Resolve', style: 'danger', value: incident.id }));
  }
  if (incident.html_url) {
    buttons.push(button({ actionId: INCIDENT_ACTIONS.openInPagerDuty, text: 'Open in PagerDuty', url: incident.html_url }));
  }
  const blocks: Block[] = [section(`${headline}\n${statusLine(incident)}`), section(details)];
  if (notes.length > 0) blocks.push(context(...notes));
  if (buttons.length > 0) blocks.push(actions(`incident:${incident.id}`, buttons));
  const text = `${incident.priority} #${incident.number} ${incident.title}: ${incident.status}`;
  return { text: truncate(text, 3000), blocks };
}
