import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { escapeMrkdwn, mention, truncate } from '../src/core/text.js';
import { slackDate } from '../src/slack/format.js';
import { sopPermissions } from '../src/sops/permissions.js';
import { CATEGORIES } from '../src/sops/definition.js';
import { SOP_ACTIONS, startValue } from '../src/sops/actions.js';
import { actions, button, context, header, section, type Block } from '../src/core/blocks.js';
import { describeRoles } from '../src/core/policy.js';

const sopArgs = z.union(
  [
    z.tuple([]).transform(() => ({ action: 'catalog' as const })),
    z.tuple([z.literal('runs')]).transform(() => ({ action: 'runs' as const })),
    z.tuple([z.string().regex(/^(SOP-[A-Za-z]+-\d{3}|[a-z][a-z0-9-]*)$/)]).transform(([id]) => ({ action: 'show' as const, id })),
    z
      .tuple([z.literal('run'), z.string().regex(/^[a-z][a-z0-9-]*$/)], z.string().regex(/^[a-z][a-z0-9]*=.+$/s, { message: 'parameters are name=value' }))
      .transform(([, id, ...pairs]) => ({
        action: 'run' as const,
        id,
        params: Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)])),
      })),
  ],
  { message: 'expected nothing (the catalog), an SOP id such as SOP-SEC-001, `runs`, or `run <procedure> name=value …`' },
);

async function listRuns(ctx: CommandContext): Promise<CommandReply> {
  const runs = await ctx.sops.active();
  if (runs.length === 0) return { text: 'No procedure runs are open.' };
  const lines = runs.slice(0, 30).map((r) => {
    const step = r.definition.steps[r.state.step];
    return `• *${escapeMrkdwn(r.definition.title)}* run #${r.id} by ${mention(r.requester)}, started ${slackDate(new Date(r.createdAt))}: step ${r.state.step + 1} of ${r.definition.steps.length}${step ? ` (${escapeMrkdwn(step.title)})` : ''}`;
  });
  return { text: `Open procedure runs:\n${lines.join('\n')}` };
}

/** Starts a run after the procedure's own start permission (the verb's is checked by the router). */
export async function startRun(ctx: CommandContext, id: string, params: Record<string, string>, note?: string): Promise<CommandReply> {
  const pinned = ctx.sops.definition(id);
  if (!pinned) return { text: `There is no procedure \`${escapeMrkdwn(id)}\`.` };
  const decision = await ctx.policy.check({ permission: sopPermissions(id).start, user: ctx.userId, what: `starting ${pinned.definition.title.toLowerCase()}`, subject: id });
  if (!decision.allowed) return { text: decision.message };
  const started = await ctx.sops.start({ definitionId: id, requester: ctx.userId, params, ...(note ? { note } : {}) });
  if (!started.ok) return { text: started.problem };
  const channel = started.run.channel;
  return { text: `Started *${escapeMrkdwn(pinned.definition.title)}* run #${started.run.id}; follow it in <#${channel}>.` };
}

/** The SOP catalog: every procedure of the manual by chapter, with its owner and frequency. */
function catalog(ctx: CommandContext): CommandReply {
  const entries = ctx.sops.catalog();
  const blocks: Block[] = [header('Standard operating procedures')];
  for (const category of CATEGORIES) {
    const inCategory = entries.filter((d) => d.category === category);
    if (inCategory.length === 0) continue;
    const lines = inCategory.map((d) => `• *${d.sop ?? d.id}* ${escapeMrkdwn(d.title)} — ${escapeMrkdwn(d.owner)}, ${escapeMrkdwn(d.frequency ?? 'as needed')}${d.automated ? ' _(runs itself)_' : ''}`);
    blocks.push(section(`*${category}*\n${lines.join('\n')}`));
  }
  const others = ctx.sops.definitions().filter((d) => !d.category && d.sop === undefined);
  if (others.length > 0) blocks.push(section(`*Your team's procedures*\n${others.map((d) => `• \`${d.id}\` ${escapeMrkdwn(d.title)} — ${escapeMrkdwn(d.owner)}`).join('\n')}`));
  blocks.push(context(`\`${SLASH_COMMAND} sop <SOP id>\` shows one, with a Start button where you may start it.`));
  return { text: `${entries.length} standard operating procedures`, blocks };
}

/** One procedure: what it is for, its steps, who may start and approve it, and Start where the caller may. */
async function show(ctx: CommandContext, id: string): Promise<CommandReply> {
  const definition = ctx.sops.definitions().find((d) => d.id === id || d.sop === id.toUpperCase());
  if (!definition) return { text: `There is no procedure \`${escapeMrkdwn(id)}\`. \`${SLASH_COMMAND} sop\` lists them.` };
  const permissions = sopPermissions(definition.id);
  const about = [
    `*${definition.sop ? `${definition.sop} ` : ''}${escapeMrkdwn(definition.title)}*`,
    definition.purpose ? escapeMrkdwn(definition.purpose) : null,
    `*Owner:* ${escapeMrkdwn(definition.owner)}   *Frequency:* ${escapeMrkdwn(definition.frequency ?? 'as needed')}   *Channel:* ${escapeMrkdwn(definition.channel)}`,
    definition.automated ? `🤖 ${escapeMrkdwn(definition.automated)}` : null,
  ].filter((l): l is string => l !== null);
  const steps = definition.steps.map((step, i) => {
    const items = step.kind === 'checklist' ? `: ${step.items.map((item) => escapeMrkdwn(item.text)).join('; ')}` : '';
    return `${i + 1}. ${escapeMrkdwn(step.title)} _(${step.kind})_${items}`;
  });
  const blocks: Block[] = [section(about.join('\n')), section(truncate(steps.join('\n'), 2900))];
  const mayStart = await ctx.policy.holds(ctx.userId, permissions.start);
  const params = Object.keys(definition.params);
  if (mayStart && params.length === 0) {
    blocks.push(actions(`sop-start:${definition.id}`, [button({ actionId: SOP_ACTIONS.start, text: 'Start', style: 'primary', value: startValue.encode({ definition: definition.id }) })]));
  } else if (mayStart) {
    blocks.push(context(`Start it with \`${SLASH_COMMAND} sop run ${definition.id} ${params.map((p) => `${p}=…`).join(' ')}\`.`));
  } else {
    blocks.push(context(`Starting it needs the ${describeRoles(ctx.policy.grantOf(permissions.start) === 'everyone' ? [] : (ctx.policy.grantOf(permissions.start) as string[]))} role.`));
  }
  return { text: `${definition.sop ?? definition.id} ${definition.title}`, blocks };
}

export const sop: Command = defineCommand({
  name: 'sop',
  usage: `${SLASH_COMMAND} sop [<SOP id>] | sop runs | sop run <procedure> [name=value …]`,
  summary: 'The SOP catalog, one procedure with its steps, open runs, or start a procedure',
  roles: 'everyone',
  args: sopArgs,
  run(ctx, args) {
    switch (args.action) {
      case 'catalog':
        return catalog(ctx);
      case 'show':
        return show(ctx, args.id);
      case 'runs':
        return listRuns(ctx);
      case 'run':
        return startRun(ctx, args.id, args.params);
    }
  },
});
