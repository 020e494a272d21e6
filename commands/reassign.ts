import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { incidentNumberArg, userArg } from '../src/commands/args.js';
import { editReplies } from '../src/incidents/edit-replies.js';

export const reassign: Command = defineCommand({
  name: 'reassign',
  usage: `${SLASH_COMMAND} reassign <#number> <@person | oncall>`,
  summary: 'Assign an incident to someone, or to whoever is on call',
  roles: ['oncall', 'lead', 'ops'],
  args: z.tuple([incidentNumberArg, z.union([z.literal('oncall').transform(() => 'oncall' as const), userArg], { message: 'expected @person or oncall' })]),
  async run(ctx, [number, who]) {
    const incident = await ctx.incidents.findByNumber(number);
    if (!incident) return { text: editReplies.noIncident(number) };
    const assignee = who === 'oncall' ? (await ctx.oncall.at())?.userId : who;
    if (!assignee) return { text: `Nobody is on call now (see \`${SLASH_COMMAND} oncall\`); name the person instead.` };
    return { text: editReplies.reassign(await ctx.incidents.reassign(incident.id, ctx.userId, assignee), assignee, ctx.incidents.syncsToPagerDuty(incident)) };
  },
});
