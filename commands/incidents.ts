import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { formatRemaining } from '../src/incidents/sla.js';
import { incidentLink } from '../src/incidents/alert-message.js';
import type { Incident } from '../src/incidents/incident-repository.js';
import { formatDuration } from '../src/core/text.js';
import { context, section } from '../src/core/blocks.js';

function line(incident: Incident, now: number): string {
  const age = formatDuration(now - incident.created_at);
  let sla: string;
  if (incident.status === 'acknowledged') sla = `acknowledged (${incident.sla_state === 'met' ? 'within' : 'outside'} SLA)`;
  else if (incident.sla_deadline === null) sla = 'no SLA';
  else if (incident.sla_state === 'breached') sla = `🚨 SLA breached, ${formatRemaining(incident.sla_deadline - now)}`;
  else sla = `⏳ ${formatRemaining(incident.sla_deadline - now)} left`;
  return `• *${incident.priority}* ${incidentLink(incident)} · open ${age} · ${sla}`;
}

export const incidents: Command = defineCommand({
  name: 'incidents',
  usage: `${SLASH_COMMAND} incidents`,
  summary: 'Open incidents with priority, age and SLA time left',
  roles: 'everyone',
  args: z.tuple([], { message: 'incidents takes no arguments' }),
  async run(ctx) {
    const open = await ctx.incidents.open();
    if (open.length === 0) return { text: 'No open incidents. 🎉' };
    const now = ctx.clock.nowMs();
    const lines = open.slice(0, 60).map((i) => line(i, now));
    const blocks = [];
    for (let i = 0; i < lines.length; i += 12) blocks.push(section(lines.slice(i, i + 12).join('\n')));
    if (open.length > 60) blocks.push(context(`${open.length - 60} more not shown.`));
    blocks.push(context(`Acknowledge with \`${SLASH_COMMAND} ack P1\` or \`${SLASH_COMMAND} ack <number>\`.`));
    return { text: `${open.length} open incident(s)`, blocks };
  },
});
