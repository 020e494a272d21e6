import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { incidentNumberArg, priorityArg } from '../src/commands/args.js';
import { editReplies } from '../src/incidents/edit-replies.js';

export const priority: Command = defineCommand({
  name: 'priority',
  usage: `${SLASH_COMMAND} priority <#number> <P1…P5>`,
  summary: 'Change an incident’s priority; its SLA follows the new one',
  roles: ['oncall', 'lead', 'ops'],
  args: z.tuple([incidentNumberArg, priorityArg]),
  async run(ctx, [number, to]) {
    const incident = await ctx.incidents.findByNumber(number);
    if (!incident) return { text: editReplies.noIncident(number) };
    return { text: editReplies.priority(await ctx.incidents.setPriority(incident.id, ctx.userId, to), to, ctx.incidents.syncsToPagerDuty(incident)) };
  },
});
