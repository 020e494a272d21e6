import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { escapeMrkdwn } from '../src/core/text.js';
import { sopPermissions } from '../src/sops/permissions.js';

/** Who the caller is to Waygate: their roles, and the procedures they may start and approve. */
export const whoami: Command = defineCommand({
  name: 'whoami',
  usage: `${SLASH_COMMAND} whoami`,
  summary: 'Your roles, and the procedures you may start and approve',
  roles: 'everyone',
  args: z.tuple([]),
  async run(ctx) {
    const roles = await ctx.policy.rolesOf(ctx.userId);
    const definitions = ctx.sops.definitions();
    const start: string[] = [];
    const approve: string[] = [];
    for (const d of definitions) {
      const names = sopPermissions(d.id);
      const label = `\`${d.id}\`${d.sop ? ` (${d.sop})` : ''}`;
      if (await ctx.policy.holds(ctx.userId, names.start)) start.push(label);
      if (await ctx.policy.holds(ctx.userId, names.approve)) approve.push(label);
    }
    const lines = [
      `*You:* <@${ctx.userId}>`,
      `*Roles:* ${roles.length > 0 ? roles.map((r) => `*${escapeMrkdwn(r)}*`).join(', ') : '_none_ (ask an admin to add your Slack user id under `roles` in the Waygate config)'}`,
      `*May start:* ${start.length > 0 ? start.join(', ') : '_nothing_'}`,
      `*May approve:* ${approve.length > 0 ? approve.join(', ') : '_nothing_'}`,
    ];
    return { text: lines.join('\n') };
  },
});
