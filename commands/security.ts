import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { proseArg } from '../src/commands/args.js';
import { escapeMrkdwn } from '../src/core/text.js';
import { startRun } from './sop.js';

/**
 * SOP-SEC-001: opens a security incident run (the six phases as checklists) in `channels.security`; with
 * PagerDuty configured, a P1 is also triggered through the Events API so someone is paged.
 */
export const security: Command = defineCommand({
  name: 'security',
  usage: `${SLASH_COMMAND} security <summary>`,
  summary: 'Open a security incident (SOP-SEC-001): the six phases as checklists, a P1 in PagerDuty when configured',
  roles: ['security', 'lead', 'oncall'],
  freeTextAfter: 0,
  args: z
    .array(z.string())
    .refine((words) => words.length === 1, { message: 'expected a summary of what happened' })
    .pipe(z.tuple([proseArg('a summary', 500)])),
  async run(ctx, [summary]) {
    const reply = await startRun(ctx, 'security-incident', { summary }, `🛡️ *Security incident* reported by <@${ctx.userId}>: ${escapeMrkdwn(summary)}`);
    if (!reply.text.startsWith('Started')) return reply;
    if (!ctx.config.file.service.pagerDutyRoutingKey) return reply;
    await ctx.incidents.declare({ priority: 'P1', title: `Security incident: ${summary}`, slackUser: ctx.userId });
    return { text: `${reply.text} A P1 was triggered in PagerDuty.` };
  },
});
