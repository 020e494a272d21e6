import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { slackDate } from '../src/slack/format.js';
import { escapeMrkdwn, formatDuration } from '../src/core/text.js';
import { proseArg, userArg } from '../src/commands/args.js';
import { issuedAt, ROTATION_SCRIPT, type ApiKeyInfo, type RotationOutcome } from '../src/keys/api-keys.js';

/** Revoked versions shown under the live ones, newest first. */
const LISTED_REVOKED = 10;

const nameArg = z.string().min(1);

const keyArgs = z.union(
  [
    z.tuple([z.literal('list')]).transform(() => ({ action: 'list' as const })),
    z.tuple([z.literal('create'), nameArg]).transform(([, name]) => ({ action: 'create' as const, name, owner: undefined })),
    z.tuple([z.literal('create'), nameArg, userArg]).transform(([, name, owner]) => ({ action: 'create' as const, name, owner })),
    z.tuple([z.literal('rotate'), nameArg]).transform(([, name]) => ({ action: 'rotate' as const, name })),
    z.tuple([z.literal('revoke'), nameArg, proseArg('a reason', 300)]).transform(([, name, reason]) => ({ action: 'revoke' as const, name, reason })),
  ],
  { message: 'expected `list`, `create <name> [@owner]`, `rotate <name>` or `revoke <name> <reason>`' },
);

/** The key in a code block, so Slack neither links nor reformats it and it copies cleanly. */
const shownOnce = (key: string): string => `\`\`\`${key}\`\`\`\nCopy it now: it is shown only this once, and Waygate keeps only a hash of it. Hand it on over a secure channel, never by e-mail.`;

/**
 * A reply that shows a key is never written anywhere. Should it miss the ack budget (the router would then
 * queue it in the outbox), the caller hears this instead, and a rotation issues a key they can see.
 */
const notShownLate = (name: string): CommandReply['secret'] => ({
  lateText: `🔑 The key \`${name}\` was issued, but the answer came too late to show it safely (it would have been stored on the way). Run \`${SLASH_COMMAND} key rotate ${name}\` to get one you can copy.`,
});

async function create(ctx: CommandContext, name: string, owner: string): Promise<CommandReply> {
  const issued = await ctx.apiKeys.create(name, owner, ctx.userId);
  if (!issued.ok) return { text: `Could not create the key: ${issued.problem}.` };
  return { text: `🔑 New API key \`${name}\` for <@${owner}>:\n${shownOnce(issued.key)}`, secret: notShownLate(name) };
}

function describeOutcome(name: string, outcome: RotationOutcome): string {
  if (!outcome.ran) return `⚠️ Rotation script for \`${name}\` not run: ${outcome.reason}.`;
  const r = outcome.result;
  // Only the outcome: the script's output could echo the key it read.
  if (r.ok) return `✅ Rotation script \`${ROTATION_SCRIPT}\` for \`${name}\`: exit 0.`;
  if (r.failedToStart !== null) return `❌ Rotation script \`${ROTATION_SCRIPT}\` for \`${name}\` could not start: ${escapeMrkdwn(r.failedToStart)}.`;
  if (r.timedOut) return `❌ Rotation script \`${ROTATION_SCRIPT}\` for \`${name}\` timed out after ${formatDuration(r.durationMs)} and was stopped.`;
  return `❌ Rotation script \`${ROTATION_SCRIPT}\` for \`${name}\` failed: exit ${r.exitCode ?? `signal ${r.signal ?? 'unknown'}`}.`;
}

async function rotate(ctx: CommandContext, name: string): Promise<CommandReply> {
  const issued = await ctx.apiKeys.rotate(name, ctx.userId);
  if (!issued.ok) return { text: `Could not rotate the key: ${issued.problem}.` };
  const until = slackDate(new Date(issued.graceUntil ?? ctx.clock.nowMs()));
  let script = `No \`scripts.${ROTATION_SCRIPT}\` is configured: put the new key in place by hand.`;
  if (ctx.apiKeys.rotationScriptConfigured) {
    script = `Running \`${ROTATION_SCRIPT}\` with the new key on its stdin; its outcome follows here.`;
    // The key stays in this closure, in memory, until the script has read it; the report names no key.
    const { key } = issued;
    const responseUrl = ctx.responseUrl;
    ctx.afterAck(async () => {
      const outcome = await ctx.apiKeys.deliverRotated(name, key, ctx.userId);
      await ctx.store.transaction((tx) => ctx.outbox.enqueue(tx, { kind: 'respond', payload: { responseUrl, text: describeOutcome(name, outcome) } }));
    });
  }
  return {
    text: `🔁 New API key \`${name}\` for <@${issued.info.owner}>:\n${shownOnce(issued.key)}\nThe old key keeps working until ${until} (${formatDuration(ctx.apiKeys.graceMs)}), then it is revoked. ${script}`,
    secret: notShownLate(name),
  };
}

async function revoke(ctx: CommandContext, name: string, reason: string): Promise<CommandReply> {
  const done = await ctx.apiKeys.revoke(name, ctx.userId, reason);
  if (!done.ok) return { text: `Could not revoke the key: ${done.problem}.` };
  const versions = done.versions > 1 ? ` (${done.versions} versions, including the one still in its rotation grace period)` : '';
  return { text: `⛔ API key \`${name}\` of <@${done.owner}> is revoked${versions}: it no longer works. Reason: ${escapeMrkdwn(reason)}` };
}

function describeKey(k: ApiKeyInfo, now: number): string {
  const rotated = k.rotatedAt === null ? 'never rotated' : `rotated ${slackDate(new Date(k.rotatedAt))}`;
  const base = `*${escapeMrkdwn(k.name)}* · <@${k.owner}> · created ${slackDate(new Date(k.createdAt))} · ${rotated}`;
  if (k.status === 'active') return `• ${base} · age ${formatDuration(now - issuedAt(k))} · active`;
  if (k.status === 'grace') return `• ${base} · grace (old version) until ${slackDate(new Date(k.graceUntil ?? now))}`;
  return `• ${base} · revoked ${slackDate(new Date(k.revokedAt ?? now))}: ${escapeMrkdwn(k.revokeReason ?? '')}`;
}

async function list(ctx: CommandContext): Promise<CommandReply> {
  const now = ctx.clock.nowMs();
  const keys = await ctx.apiKeys.list();
  if (keys.length === 0) return { text: `No API keys yet. Create one with \`${SLASH_COMMAND} key create <name> [@owner]\`.` };
  const live = keys.filter((k) => k.status !== 'revoked');
  const revoked = keys
    .filter((k) => k.status === 'revoked')
    .sort((a, b) => (b.revokedAt ?? 0) - (a.revokedAt ?? 0))
    .slice(0, LISTED_REVOKED);
  const lines = [`*API keys* (${live.filter((k) => k.status === 'active').length} active)`, ...live.map((k) => describeKey(k, now))];
  if (revoked.length > 0) lines.push('*Recently revoked*', ...revoked.map((k) => describeKey(k, now)));
  return { text: lines.join('\n') };
}

export const key: Command = defineCommand({
  name: 'key',
  usage: `${SLASH_COMMAND} key list | create <name> [@owner] | rotate <name> | revoke <name> <reason>`,
  summary: 'API keys (SOP-SEC-002): create, list, rotate with a grace period, revoke (security)',
  roles: ['security', 'admin'],
  args: keyArgs,
  // `revoke <name> <reason…>`: the reason is prose, kept as typed.
  freeTextAfter: 2,
  run(ctx, args) {
    switch (args.action) {
      case 'list':
        return list(ctx);
      case 'create':
        return create(ctx, args.name, args.owner ?? ctx.userId);
      case 'rotate':
        return rotate(ctx, args.name);
      case 'revoke':
        return revoke(ctx, args.name, args.reason);
    }
  },
});
