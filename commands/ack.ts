import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import type { Priority } from '../src/config/sla-schema.js';
import { listNumbers, renderAlert } from '../src/incidents/alert-message.js';
import type { AckResult } from '../src/incidents/facade.js';
import type { Block } from '../src/outbox/types.js';
import { context, section } from '../src/core/blocks.js';
import { formatCount } from '../src/core/text.js';

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
async function listUnacknowledged(ctx: CommandContext): Promise<CommandReply> {
  const open = (await ctx.incidents.open()).filter((i) => i.status === 'triggered');
  if (open.length === 0) return { text: 'No open, unacknowledged incidents. 🎉' };
  const shown = open.slice(0, 15);
  const blocks: Block[] = shown.flatMap((i) => (renderAlert(i).blocks ?? []).filter((b) => b.type !== 'context'));
  if (open.length > shown.length) blocks.push(context(`${open.length - shown.length} more: acknowledge them by priority, e.g. \`${SLASH_COMMAND} ack P1\`.`));
  return { text: `${open.length} open, unacknowledged incident(s)`, blocks: blocks.slice(0, 50) };
}

/** Up to this many acknowledgements are answered one line each; more are counted, with the first few listed. */
const LINE_EACH_UP_TO = 10;

function pagerDutyNote(ctx: CommandContext): string {
  return ctx.config.env.PAGERDUTY_API_TOKEN ? '\nPagerDuty is being updated; the alert messages show when it has synced.' : '';
}

function summarise(ctx: CommandContext, lines: string[]): CommandReply {
  const text = `${lines.join('\n')}${pagerDutyNote(ctx)}`;
  return { text, blocks: [section(text)] };
}

/** What a bulk acknowledgement did, bounded whatever the number: Slack takes 3,000 characters a section. */
function bulkOutcome(ctx: CommandContext, results: AckResult[], priority: Priority): CommandReply {
  const text = [
    ...ctx.incidents.describeAcks(results, `${priority} incidents`),
    `\`${SLASH_COMMAND} incidents\` lists the open ones.${pagerDutyNote(ctx)}`,
  ].join('\n');
  return { text, blocks: [section(text)] };
}

/**
 * Every open, unacknowledged incident of a priority. Up to one batch is acknowledged before the ack and
 * answered in the ack; more are recorded before the ack and done in batches after it, so the answer comes
 * at once and webhooks keep flowing meanwhile; the outcome follows at the response_url. Either answer is a
 * few lines whatever the number.
 */
async function acknowledgePriority(ctx: CommandContext, priority: Priority): Promise<CommandReply> {
  const targets = await ctx.incidents.unacknowledged(priority);
  if (targets.length === 0) return { text: `No open, unacknowledged ${priority} incidents.` };
  const ids = targets.map((i) => i.id);
  if (targets.length <= ctx.incidents.batchSize) {
    const results = await ctx.incidents.acknowledge(ids, ctx.userId, ctx.responseUrl);
    if (results.length > LINE_EACH_UP_TO) return bulkOutcome(ctx, results, priority);
    return summarise(ctx, [`Acknowledged ${results.filter((r) => r.outcome === 'acknowledged').length} ${priority} incident(s):`, ...results.map((r) => ctx.incidents.describeAck(r))]);
  }
  const run = await ctx.incidents.acknowledgeLater({
    ids,
    slackUser: ctx.userId,
    responseUrl: ctx.responseUrl,
    what: `\`${SLASH_COMMAND} ack ${priority}\``,
    report: (results) => bulkOutcome(ctx, results, priority),
  });
  ctx.afterAck(run);
  const text =
    `⏳ Acknowledging ${formatCount(targets.length)} open, unacknowledged ${priority} incidents: ${listNumbers(targets, 5)}. ` +
    `This runs in batches so that alerts keep flowing; the outcome follows here. \`${SLASH_COMMAND} incidents\` shows where they stand.`;
  return { text, blocks: [section(text)] };
}

export const ack: Command = defineCommand({
  name: 'ack',
  usage: `${SLASH_COMMAND} ack [P1…P5 | <incident number>]`,
  summary: 'Acknowledge every open incident of a priority, or one by number; without arguments, list them',
  roles: ['oncall', 'lead', 'ops'],
  args: ackArgs,
  async run(ctx, args) {
    if (args.by === 'list') return listUnacknowledged(ctx);
    if (args.by === 'number') {
      const incident = await ctx.incidents.findByNumber(args.number);
      if (!incident) return { text: `There is no incident #${args.number}. \`${SLASH_COMMAND} incidents\` lists the open ones.` };
      const [result] = await ctx.incidents.acknowledge([incident.id], ctx.userId, ctx.responseUrl);
      return summarise(ctx, result ? [ctx.incidents.describeAck(result)] : []);
    }
    return acknowledgePriority(ctx, args.priority);
  },
});
