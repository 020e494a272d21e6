import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';

export const resolve: Command = defineCommand({
  name: 'resolve',
  usage: `${SLASH_COMMAND} resolve <incident number>`,
  summary: 'Resolve an incident here and in PagerDuty',
  roles: ['oncall', 'lead', 'ops'],
  args: z.tuple([z.string().regex(/^#?\d+$/).transform((n) => Number(n.replace('#', '')))], {
    message: 'expected one incident number',
  }),
  async run(ctx, [number]) {
    const incident = await ctx.incidents.findByNumber(number);
    if (!incident) return { text: `There is no incident #${number}. \`${SLASH_COMMAND} incidents\` lists the open ones.` };
    const [result] = await ctx.incidents.resolve([incident.id], ctx.userId, ctx.responseUrl);
    return { text: result ? ctx.incidents.describeAck(result) : 'Nothing changed.' };
  },
});
