import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';

export const digest: Command = defineCommand({
  name: 'digest',
  usage: `${SLASH_COMMAND} digest`,
  summary: 'Post the daily health digest now',
  roles: ['ops', 'lead'],
  args: z.tuple([], { message: 'digest takes no arguments' }),
  run(ctx) {
    ctx.afterAck(async () => {
      const { id, channel } = await ctx.health.postDigest();
      ctx.audit.record({ actor: ctx.userId, action: 'digest.posted', subject: `digest #${id}` });
      ctx.outbox.enqueue({
        kind: 'respond',
        payload: {
          responseUrl: ctx.responseUrl,
          text: channel ? `Digest #${id} posted in <#${channel}>.` : `Digest #${id} recorded, but no \`channels.digest\` or \`channels.ops\` is configured to post it in.`,
        },
      });
    });
    return { text: 'Building the health digest…' };
  },
});
