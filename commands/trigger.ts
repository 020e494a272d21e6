import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { priorityArg, proseArg } from '../src/commands/args.js';
import { incidentLink } from '../src/incidents/alert-message.js';
import { escapeMrkdwn } from '../src/core/text.js';

/** PagerDuty's Events API takes a summary of at most 1,024 characters. */
const TITLE_MAX = 1024;

export const trigger: Command = defineCommand({
  name: 'trigger',
  usage: `${SLASH_COMMAND} trigger <P1…P5> <title>`,
  summary: 'Declare an incident: through PagerDuty when it is configured, otherwise here',
  roles: ['oncall', 'lead', 'ops'],
  freeTextAfter: 1,
  args: z
    .array(z.string())
    .refine((words) => words.length === 2, { message: 'expected a priority and a title, e.g. P1 Checkout is failing' })
    .pipe(z.tuple([priorityArg, proseArg('a title', TITLE_MAX)])),
  async run(ctx, [priority, title]) {
    const declared = await ctx.incidents.declare({ priority, title, slackUser: ctx.userId });
    const alerts = ctx.config.file.channels.alerts;
    const where = alerts ? `<#${alerts}>` : 'the alerts channel';
    if (declared.via === 'pagerduty') {
      return { text: `📣 Declared ${priority} “${escapeMrkdwn(title)}” through PagerDuty. Its alert appears in ${where} as soon as PagerDuty opens the incident.` };
    }
    return { text: `📣 Declared ${priority} ${incidentLink(declared.incident)}. Its alert is in ${where}, with the ${priority} SLA and escalation.` };
  },
});
