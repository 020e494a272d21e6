import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { startRun } from './sop.js';

/** SOP-DEV-002: the review checklist of a pull request, for a reviewer to tick; the 24 h target is reminded. */
export const review: Command = defineCommand({
  name: 'review',
  usage: `${SLASH_COMMAND} review <pull request link>`,
  summary: 'Post the code review checklist for a pull request (SOP-DEV-002)',
  roles: ['lead', 'ops', 'oncall'],
  // Slack sends a pasted link as <https://…>; the link itself is what is checked.
  args: z.tuple([z.string().transform((t) => (t.startsWith('<') && t.endsWith('>') ? t.slice(1, -1).split('|')[0]! : t))]),
  run(ctx, [pr]) {
    return startRun(ctx, 'code-review', { pr }, `🔍 Review asked for by <@${ctx.userId}>: ${pr}`);
  },
});
