import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { escapeMrkdwn, formatDuration, truncate } from '../src/core/text.js';
import { messageUrl, slackDate } from '../src/slack/format.js';
import { section, type Block } from '../src/core/blocks.js';
import type { CalendarList } from '../src/compliance/compliance-service.js';

async function listLine(ctx: CommandContext, list: CalendarList, now: number): Promise<string> {
  const where = await ctx.compliance.messageOf(list.run.id);
  const title = where ? `<${messageUrl(where)}|${escapeMrkdwn(list.run.definition.title)}>` : escapeMrkdwn(list.run.definition.title);
  const due = list.overdue ? `⚠️ *overdue by ${formatDuration(now - list.dueAt)}*` : `due ${slackDate(new Date(list.dueAt - 1), '{date_short_pretty}')}`;
  const open = list.open.length === 0 ? 'all ticked' : `${list.open.length} open: ${list.open.map(escapeMrkdwn).join('; ')}`;
  return truncate(`• ${title} (run #${list.run.id}) — ${due} — ${open}`, 600);
}

/** SOP-COMP-001: what the compliance calendar has open, overdue first. */
async function status(ctx: CommandContext): Promise<CommandReply> {
  const now = ctx.clock.nowMs();
  const lists = await ctx.compliance.lists();
  if (lists.length === 0) {
    return { text: '✅ No compliance list is open. The calendar posts the monthly, quarterly and annual lists on their first working day.' };
  }
  const overdue = lists.filter((l) => l.overdue);
  const open = lists.filter((l) => !l.overdue);
  const blocks: Block[] = [];
  const lines = async (of: CalendarList[]) => (await Promise.all(of.map((l) => listLine(ctx, l, now)))).join('\n');
  if (overdue.length > 0) blocks.push(section(truncate(`*Overdue (${overdue.length})*\n${await lines(overdue)}`, 2900)));
  if (open.length > 0) blocks.push(section(truncate(`*Open (${open.length})*\n${await lines(open)}`, 2900)));
  const text = `Compliance calendar: ${overdue.length} overdue, ${open.length} open.`;
  return { text, blocks: [section(text), ...blocks] };
}

export const compliance: Command = defineCommand({
  name: 'compliance',
  usage: `${SLASH_COMMAND} compliance`,
  summary: 'Show the open and overdue compliance lists (SOP-COMP-001)',
  roles: ['security', 'lead'],
  args: z.tuple([], { message: 'expected no arguments' }),
  run(ctx) {
    return status(ctx);
  },
});
