import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { incidentNumberArg } from '../src/commands/args.js';
import { editReplies } from '../src/incidents/edit-replies.js';

export const escalate: Command = defineCommand({
  name: 'escalate',
  usage: `${SLASH_COMMAND} escalate <#number>`,
  summary: 'Call the next escalation step’s people now, without waiting for the SLA',
  roles: ['oncall', 'lead', 'ops'],
  args: z.tuple([incidentNumberArg]),
  async run(ctx, [number]) {
    const incident = await ctx.incidents.findByNumber(number);
    if (!incident) return { text: editReplies.noIncident(number) };
    return { text: editReplies.escalate(await ctx.incidents.escalateNow(incident.id, ctx.userId)) };
  },
});
