import type { JobDefinition } from '../src/jobs/types.js';
import type { JobContext } from '../src/context.js';
import { escapeMrkdwn, formatDuration } from '../src/core/text.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { issuedAt, type ApiKeyInfo } from '../src/keys/api-keys.js';

/** SOP-SEC-002 rotates keys monthly: a key issued more than 30 days ago is due. */
export const KEY_MAX_AGE_MS = 30 * 86_400_000;

const line = (k: ApiKeyInfo, now: number): string =>
  `• *${escapeMrkdwn(k.name)}* · <@${k.owner}> · ${k.rotatedAt === null ? 'created' : 'rotated'} ${formatDuration(now - issuedAt(k))} ago`;

export const apiKeyReview: JobDefinition<JobContext> = {
  name: 'api-key-review',
  description: 'SOP-SEC-002: lists API keys older than 30 days in the security channel and asks their owners to rotate them',
  defaultSchedule: '0 9 1 * *',
  async run(ctx) {
    const now = ctx.clock.nowMs();
    const stale = await ctx.apiKeys.stale(now, KEY_MAX_AGE_MS);
    const security = ctx.config.file.channels.security;
    const rotate = `Rotate with \`${SLASH_COMMAND} key rotate <name>\`, or revoke what is no longer used with \`${SLASH_COMMAND} key revoke <name> <reason>\`.`;
    await ctx.store.transaction(async (tx) => {
      if (security) {
        const text =
          stale.length === 0
            ? '🔑 Monthly API key review: no key is older than 30 days.'
            : `🔑 Monthly API key review: ${stale.length} key(s) older than 30 days:\n${stale.map((k) => line(k, now)).join('\n')}\n${rotate}`;
        await ctx.outbox.enqueue(tx, { kind: 'post', payload: { channel: security, text } });
      }
      const byOwner = new Map<string, ApiKeyInfo[]>();
      for (const k of stale) byOwner.set(k.owner, [...(byOwner.get(k.owner) ?? []), k]);
      for (const [owner, keys] of byOwner) {
        // A direct message: the channel of a post to a user id is their DM with the bot.
        await ctx.outbox.enqueue(tx, {
          kind: 'post',
          payload: { channel: owner, text: `🔑 You own ${keys.length} API key(s) older than 30 days, due for rotation (SOP-SEC-002):\n${keys.map((k) => line(k, now)).join('\n')}\n${rotate}` },
        });
      }
    });
    return Promise.resolve({ summary: `${stale.length} key(s) older than 30 days, ${new Set(stale.map((k) => k.owner)).size} owner(s) told` });
  },
};
