import type { MessageContent } from '../outbox/types.js';
import { slackDate } from '../slack/format.js';
import type { ActorSource, Incident } from './incident-repository.js';
import { INCIDENT_ACTIONS, menuValue } from './actions.js';
import { escapeMrkdwn, formatCount, formatDuration, truncate } from '../core/text.js';
import { actions, button, context, overflow, section, type Block } from '../core/blocks.js';
import type { Button } from '@slack/types';
import { mrkdwnUrl, pagerDutyUrl } from './pagerduty-link.js';

const PRIORITY_ICON: Record<string, string> = { P1: '🔴', P2: '🟠', P3: '🟡', P4: '🔵', P5: '⚪' };

/**
 * `<@U…>` only for a Slack user id Waygate recorded from Slack itself; anything else, such as a PagerDuty
 * user's name (which anyone with a PagerDuty account can set to `U0ADMIN`), is shown as plain text.
 */
export function who(actor: string | null, source: ActorSource | null): string {
  if (!actor) return 'someone';
  return source === 'slack' && /^[UW][A-Z0-9]{2,}$/.test(actor) ? `<@${actor}>` : escapeMrkdwn(actor);
}

function assigneesOf(incident: Incident): string {
  const names = (JSON.parse(incident.assignees) as string[]).map(escapeMrkdwn).join(', ');
  // A Slack user id recorded from Slack itself (never a PagerDuty name) may be a mention.
  if (incident.assigned_slack) return names ? `<@${incident.assigned_slack}> (PagerDuty: ${names})` : `<@${incident.assigned_slack}>`;
  return names || '_nobody_';
}

/**
 * The link to show, if any. Its host was checked when the event was applied; checking the form again here
 * keeps a row stored before that check from breaking or disguising a message.
 */
function linkOf(incident: Incident): string | null {
  return pagerDutyUrl(incident.html_url, { anyHost: true });
}

export function incidentLink(incident: Incident): string {
  const label = `#${incident.number} ${escapeMrkdwn(truncate(incident.title, 200))}`;
  const url = linkOf(incident);
  return url ? `<${mrkdwnUrl(url)}|${label}>` : label;
}

/** Incidents by number for a summary line: the first `max`, then how many more ("#12, #13 and 40 more"). */
export function listNumbers(incidents: ReadonlyArray<Pick<Incident, 'number'>>, max = 10): string {
  const shown = incidents.slice(0, max).map((i) => `#${i.number}`);
  const more = incidents.length - shown.length;
  if (more > 0) return `${shown.join(', ')} and ${formatCount(more)} more`;
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
      return `✅ *Acknowledged* by ${who(incident.acknowledged_by, incident.acknowledged_source)} after ${took}${within ? ` (${within})` : ''}`;
    }
    case 'resolved':
      return `☑️ *Resolved*${incident.resolved_by ? ` by ${who(incident.resolved_by, incident.resolved_source)}` : ''}${
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
/** `onCall`: the Slack user on call now, shown on an unacknowledged alert so readers know who is on it. */
export function renderAlert(incident: Incident, onCall?: string, links = '', recentChanges = ''): MessageContent {
  const icon = PRIORITY_ICON[incident.priority] ?? '⚪';
  const urgency = incident.urgency ? ` · ${incident.urgency} urgency` : '';
  const headline = `${icon} *${incident.priority}*${urgency} · ${incidentLink(incident)}`;
  const details = [
    `*Service:* ${escapeMrkdwn(incident.service ?? 'unknown')}`,
    `*Assigned:* ${assigneesOf(incident)}`,
    `*Opened:* ${slackDate(new Date(incident.created_at))}`,
  ].join('   ');
  const notes = [
    incident.status === 'triggered' && onCall ? `On call: <@${onCall}>` : null,
    syncLine(incident),
    incident.escalations > 0 && incident.status === 'triggered' ? `🚨 Escalation level ${incident.escalations}` : null,
    incident.status !== 'resolved' && recentChanges ? recentChanges : null,
    incident.status !== 'resolved' && links ? links : null,
  ]
    .filter((n): n is string => Boolean(n));
  const buttons: Button[] = [];
  if (incident.status === 'triggered') {
    buttons.push(button({ actionId: INCIDENT_ACTIONS.acknowledge, text: 'Acknowledge', style: 'primary', value: incident.id }));
  }
  if (incident.status !== 'resolved') {
    buttons.push(button({ actionId: INCIDENT_ACTIONS.resolve, text: 'Resolve', style: 'danger', value: incident.id }));
  }
  const url = linkOf(incident);
  if (url) buttons.push(button({ actionId: INCIDENT_ACTIONS.openInPagerDuty, text: 'Open in PagerDuty', url }));
  const blocks: Block[] = [section(`${headline}\n${statusLine(incident)}`), section(details)];
  if (notes.length > 0) blocks.push(context(...notes));
  const elements: Array<Button | ReturnType<typeof overflow>> = [...buttons];
  if (incident.status !== 'resolved') {
    elements.push(
      overflow({
        actionId: INCIDENT_ACTIONS.more,
        options: [
          { text: '📝 Add a note…', value: menuValue.encode('note', incident.number) },
          { text: '👤 Reassign…', value: menuValue.encode('reassign', incident.number) },
          { text: '↕️ Change priority…', value: menuValue.encode('priority', incident.number) },
          { text: '📣 Escalate now', value: menuValue.encode('escalate', incident.number) },
        ],
      }),
    );
  }
  if (elements.length > 0) blocks.push(actions(`incident:${incident.id}`, elements));
  // The text is what notifications show and Slack parses it like the blocks: a title carrying `<!channel>` must not page anyone.
  const text = `${incident.priority} #${incident.number} ${escapeMrkdwn(incident.title)}: ${incident.status}`;
  return { text: truncate(text, 3000), blocks };
}
