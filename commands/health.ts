import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { escapeMrkdwn, redactCredentials } from '../src/core/text.js';

export const health: Command = defineCommand({
  name: 'health',
  usage: `${SLASH_COMMAND} health`,
  summary: 'Check the Waygate MCP service now and show its status',
  roles: 'everyone',
  args: z.tuple([], { message: 'health takes no arguments' }),
  run(ctx) {
    // Anyone may run this: the URL is shown without the credentials it may carry.
    const url = redactCredentials(ctx.config.file.service.healthUrl);
    ctx.afterAck(async () => {
      const result = await ctx.health.check();
      const state = await ctx.health.current();
      const icon = result.ok ? '🟢' : '🔴';
      const latency = result.latencyMs !== null ? ` in ${result.latencyMs} ms` : '';
      const known = state.state === 'down' ? ' The service has been marked down since the failed checks began.' : '';
      await ctx.store.transaction(async (tx) => {
        await ctx.outbox.enqueue(tx, {
          kind: 'respond',
          payload: {
            responseUrl: ctx.responseUrl,
            text: `${icon} ${escapeMrkdwn(url)}: ${result.ok ? 'healthy' : 'failing'}${latency} — ${escapeMrkdwn(result.summary)}.${known}`,
          },
        });
      });
    });
    return { text: `Checking ${escapeMrkdwn(url)}…` };
  },
});
