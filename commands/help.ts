import { z } from 'zod';
import { commandPermission, defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';

export const help: Command = defineCommand({
  name: 'help',
  usage: `${SLASH_COMMAND} help`,
  summary: 'List the commands you can use',
  roles: 'everyone',
  args: z.tuple([], { message: 'help takes no arguments' }),
  async run(ctx) {
    // Side by side: each check may wait for Slack's user groups, and one after another they would not fit
    // in the time Slack gives the answer.
    const held = await Promise.all(ctx.commands.map((command) => ctx.policy.holds(ctx.userId, commandPermission(command))));
    const allowed = ctx.commands.filter((_, i) => held[i]);
    const hidden = ctx.commands.length - allowed.length;
    const lines = allowed.map((c) => `• \`${c.usage}\` — ${c.summary}`);
    const text = `Waygate commands you can use:\n${lines.join('\n')}`;
    const note = hidden === 1 ? "1 more command needs a role you don't have." : `${hidden} more commands need a role you don't have.`;
    // Plain mrkdwn text, no blocks: blocks would repeat the list and double the reply Slack waits for.
    return { text: hidden > 0 ? `${text}\n_${note}_` : text };
  },
});
