import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import type { Priority } from '../src/config/sla-schema.js';
import { renderAlert } from '../src/incidents/alert-message.js';
import type { Block } from '../src/outbox/types.js';
import { context, section } from '../src/core/blocks.js';

const ackArgs = z.union(
  [
    z.tuple([]).transform(() => ({ by: 'list' as const })),
    z
      .tuple([z.string().regex(/^[pP][1-5]$/)])
      .transform(([p]) => ({ by: 'priority' as const, priority: p.toUpperCase() as Priority })),
    z.tuple([z.string().regex(/^#?\d+$/)]).transform(([n]) => ({ by: 'number' as const, number: Number(n.replace('#', '')) })),
  ],
  { message: 'expected a priority (P1…P5), an incident number, or nothing to list open incidents' },
);

/** Open, unacknowledged incidents, each with its own buttons. */
function listUnacknowledged(ctx: CommandContext): CommandReply {
  const open = ctx.incidents.open().filter((i) => i.status === 'triggered');
  if (open.length === 0) return { text: 'No open, unacknowledged incidents. 🎉' };
  const shown = open.slice(0, 15);
  const blocks: Block[] = shown.flatMap((i) => (renderAlert(i).blocks ?? []).filter((b) => b.type !== 'context'));
  if (open.length > shown.length) blocks.push(context(`${open.length - shown.length} more: acknowledge them by priority, e.g. \`${SLASH_COMMAND} ack P1\`.`));
  return { text: `${open.length} open, unacknowledged incident(s)`, blocks: blocks.slice(0, 50) };
}

function summarise(ctx: CommandContext, lines: string[]): CommandReply {
  const note = ctx.config.env.PAGERDUTY_API_TOKEN ? '\nPagerDuty is being updated; the alert messages show when it has synced.' : '';
  const text = `${lines.join('\n')}${note}`;
  return { text, blocks: [section(text)] };
}

export const ack: Command = defineCommand({
  name: 'ack',
  usage: `${SLASH_COMMAND} ack [P1…P5 | <incident number>]`,
  summary: 'Acknowledge every open incident of a priority, or one by number; without arguments, list them',
  roles: ['oncall', 'lead', 'ops'],
  args: ackArgs,
  run(ctx, args) {
    if (args.by === 'list') return listUnacknowledged(ctx);
    if (args.by === 'number') {
      const incident = ctx.incidents.findByNumber(args.number);
      if (!incident) return { text: `There is no incident #${args.number}. \`${SLASH_COMMAND} incidents\` lists the open ones.` };
      const [result] = ctx.incidents.acknowledge([incident.id], ctx.userId, ctx.responseUrl);
      return summarise(ctx, result ? [ctx.incidents.describeAck(result)] : []);
    }
    const targets = ctx.incidents.open(args.priority).filter((i) => i.status === 'triggered');
    if (targets.length === 0) return { text: `No open, unacknowledged ${args.priority} incidents.` };
    const results = ctx.incidents.acknowledge(
      targets.map((i) => i.id),
      ctx.userId,
      ctx.responseUrl,
    );
    return summarise(ctx, [`Acknowledged ${results.filter((r) => r.outcome === 'acknowledged').length} ${args.priority} incident(s):`, ...results.map((r) => ctx.incidents.describeAck(r))]);
  },
});
