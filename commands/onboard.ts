import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { userArg } from '../src/commands/args.js';
import { startRun } from './sop.js';

const ONBOARDING = 'onboarding';

/** People in onboarding, with how far each has got (ticked items of all weeks). */
async function progress(ctx: CommandContext): Promise<CommandReply> {
  const runs = (await ctx.sops.active()).filter((r) => r.definition.id === ONBOARDING);
  if (runs.length === 0) return { text: `Nobody is in onboarding. \`${SLASH_COMMAND} onboard @person\` starts it.` };
  const lines = runs.map((r) => {
    const checklists = r.definition.steps.flatMap((s, i) => (s.kind === 'checklist' ? [{ step: s, state: r.state.steps[i] }] : []));
    const total = checklists.reduce((n, c) => n + c.step.items.length, 0);
    const done = checklists.reduce((n, c) => n + Object.keys(c.state?.ticks ?? {}).length, 0);
    const current = r.definition.steps[r.state.step];
    return `• <@${r.params.member ?? ''}>: ${done} of ${total} done, now ${current ? current.title : 'finishing'} (lead <@${r.requester}>, run #${r.id})`;
  });
  return { text: `In onboarding:\n${lines.join('\n')}` };
}

/** SOP-TRAIN-001: the week 1, week 2 and weeks 3–4 checklists for a new member, the lead as owner. */
export const onboard: Command = defineCommand({
  name: 'onboard',
  usage: `${SLASH_COMMAND} onboard [@person]`,
  summary: 'Start the onboarding checklists for a new team member (SOP-TRAIN-001), or list who is in onboarding',
  roles: ['lead'],
  args: z.union([z.tuple([]).transform(() => null), z.tuple([userArg]).transform(([u]) => u)], { message: 'expected nothing, or the new member as @name' }),
  run(ctx, member) {
    return member === null ? progress(ctx) : startRun(ctx, ONBOARDING, { member }, `👋 Onboarding of <@${member}>, owned by <@${ctx.userId}>.`);
  },
});
