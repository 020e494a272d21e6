import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { escapeMrkdwn } from '../src/core/text.js';
import { slackDate } from '../src/slack/format.js';
import { sopPermissions } from '../src/sops/permissions.js';

const sopArgs = z.union(
  [
    z.tuple([z.literal('runs')]).transform(() => ({ action: 'runs' as const })),
    z
      .tuple([z.literal('run'), z.string().regex(/^[a-z][a-z0-9-]*$/)], z.string().regex(/^[a-z][a-z0-9]*=.+$/s, { message: 'parameters are name=value' }))
      .transform(([, id, ...pairs]) => ({
        action: 'run' as const,
        id,
        params: Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)])),
      })),
  ],
  { message: 'expected `runs`, or `run <procedure> name=value …`' },
);

function listRuns(ctx: CommandContext): CommandReply {
  const runs = ctx.sops.active();
  if (runs.length === 0) return { text: 'No procedure runs are open.' };
  const lines = runs.slice(0, 30).map((r) => {
    const step = r.definition.steps[r.state.step];
    return `• *${escapeMrkdwn(r.definition.title)}* run #${r.id} by <@${r.requester}>, started ${slackDate(new Date(r.createdAt))}: step ${r.state.step + 1} of ${r.definition.steps.length}${step ? ` (${escapeMrkdwn(step.title)})` : ''}`;
  });
  return { text: `Open procedure runs:\n${lines.join('\n')}` };
}

/** Starts a run after the procedure's own start permission (the verb's is checked by the router). */
export async function startRun(ctx: CommandContext, id: string, params: Record<string, string>, note?: string): Promise<CommandReply> {
  const pinned = ctx.sops.definition(id);
  if (!pinned) return { text: `There is no procedure \`${escapeMrkdwn(id)}\`.` };
  const decision = await ctx.policy.check({ permission: sopPermissions(id).start, user: ctx.userId, what: `starting ${pinned.definition.title.toLowerCase()}`, subject: id });
  if (!decision.allowed) return { text: decision.message };
  const started = ctx.sops.start({ definitionId: id, requester: ctx.userId, params, ...(note ? { note } : {}) });
  if (!started.ok) return { text: started.problem };
  const channel = started.run.channel;
  return { text: `Started *${escapeMrkdwn(pinned.definition.title)}* run #${started.run.id}; follow it in <#${channel}>.` };
}

export const sop: Command = defineCommand({
  name: 'sop',
  usage: `${SLASH_COMMAND} sop runs | sop run <procedure> [name=value …]`,
  summary: 'Open procedure runs, or start a procedure by its id',
  roles: 'everyone',
  args: sopArgs,
  run(ctx, args) {
    return args.action === 'runs' ? listRuns(ctx) : startRun(ctx, args.id, args.params);
  },
});
