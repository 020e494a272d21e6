import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { proseArg } from '../src/commands/args.js';
import { escapeMrkdwn } from '../src/core/text.js';
import { incidentLink } from '../src/incidents/alert-message.js';
import { startRun } from './sop.js';

/**
 * SOP-OPS-002: a hotfix request. The ref is checked by the procedure's rule before anything exists; the
 * request names the open P1 it most likely relates to.
 */
export const hotfix: Command = defineCommand({
  name: 'hotfix',
  usage: `${SLASH_COMMAND} hotfix <branch or tag> <description>`,
  summary: 'Ask a lead to approve an emergency deploy of a branch or tag (SOP-OPS-002)',
  roles: ['oncall', 'lead', 'ops'],
  freeTextAfter: 1,
  args: z
    .array(z.string())
    .refine((words) => words.length === 2, { message: 'expected a branch or tag and a description' })
    .pipe(z.tuple([z.string(), proseArg('a description', 500)])),
  async run(ctx, [ref, description]) {
    const p1 = (await ctx.incidents.open('P1'))[0];
    const note = `*Hotfix* \`${escapeMrkdwn(ref)}\` requested by <@${ctx.userId}>: ${escapeMrkdwn(description)}${p1 ? `\nRelated open P1: ${incidentLink(p1)}` : ''}`;
    return startRun(ctx, 'hotfix', { ref, description }, note);
  },
});
