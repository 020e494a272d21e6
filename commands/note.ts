import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { incidentNumberArg, proseArg } from '../src/commands/args.js';
import { editReplies } from '../src/incidents/edit-replies.js';

export const note: Command = defineCommand({
  name: 'note',
  usage: `${SLASH_COMMAND} note <#number> <text>`,
  summary: 'Add a note to an incident: in its thread, and in PagerDuty when it is PagerDuty’s',
  roles: ['oncall', 'lead', 'ops'],
  freeTextAfter: 1,
  args: z
    .array(z.string())
    .refine((words) => words.length === 2, { message: 'expected an incident number and the note' })
    .pipe(z.tuple([incidentNumberArg, proseArg('the note', 2500)])),
  async run(ctx, [number, text]) {
    const incident = await ctx.incidents.findByNumber(number);
    if (!incident) return { text: editReplies.noIncident(number) };
    return { text: editReplies.note(await ctx.incidents.addNote(incident.id, ctx.userId, text), ctx.incidents.syncsToPagerDuty(incident)) };
  },
});
