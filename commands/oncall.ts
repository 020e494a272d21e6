import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { slackDate } from '../src/slack/format.js';
import { parseDuration } from '../src/config/duration.js';
import { escapeMrkdwn, formatDuration } from '../src/core/text.js';
import type { PagerDutyShift } from '../src/oncall/pagerduty-oncalls.js';
import { PERMISSIONS } from '../src/core/policy.js';
import { context, section, type Block } from '../src/core/blocks.js';
import { userArg } from '../src/commands/args.js';

/** Handoffs shown after the current turn. */
const UPCOMING = 3;
/** The longest override one command sets: longer cover belongs in the rotation. */
const MAX_OVERRIDE_MS = 30 * 86_400_000;

const durationArg = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 60_000 || ms > MAX_OVERRIDE_MS) {
    ctx.addIssue({ code: 'custom', message: `expected a duration from 1m to 30d such as 4h or 2d (got "${text}")` });
    return z.NEVER;
  }
  return ms;
});

const oncallArgs = z.union(
  [
    z.tuple([]).transform(() => ({ action: 'show' as const })),
    z.tuple([z.literal('override'), userArg, durationArg]).transform(([, userId, ms]) => ({ action: 'override' as const, userId, ms })),
  ],
  { message: 'expected nothing, or `override @person <duration>`' },
);

/** From PagerDuty: its first level now and next, named by Slack mention where the e-mail matched. */
async function showPagerDuty(ctx: CommandContext): Promise<CommandReply | undefined> {
  const { oncall } = ctx;
  const pd = oncall.pagerDuty;
  if (!pd || oncall.rotation) return undefined; // a YAML rotation is the team's own answer
  const now = ctx.clock.nowMs();
  const { readAt, lastError } = pd.status();
  const shifts = pd.firstLevel();
  if (readAt === null) {
    return { text: lastError ? `I could not read who is on call from PagerDuty: ${lastError}` : 'Still reading who is on call from PagerDuty; try again in a moment.' };
  }
  const who = (s: PagerDutyShift) => (s.slackUserId ? `<@${s.slackUserId}>` : `${escapeMrkdwn(s.name)} _(no Slack account with their PagerDuty e-mail)_`);
  const until = (at: number) => (Number.isFinite(at) ? ` until ${slackDate(new Date(at))}` : '');
  const current = shifts.filter((s) => s.startsAt <= now && s.endsAt > now);
  const override = await oncall.at(now);
  const lines: string[] = [];
  if (override?.source === 'override') lines.push(`*Now:* <@${override.userId}> until ${slackDate(new Date(override.until))} _(override)_`);
  if (current.length === 0) lines.push('*PagerDuty:* nobody is on call at the first level right now.');
  else lines.push(...current.map((s) => `*${override?.source === 'override' ? 'PagerDuty' : 'Now'}:* ${who(s)} · ${escapeMrkdwn(s.policy)}${until(s.endsAt)}`));
  const next = shifts.filter((s) => s.startsAt > now).slice(0, UPCOMING);
  if (next.length > 0) lines.push('*Next handoffs:*', ...next.map((s) => `• ${slackDate(new Date(s.startsAt))} → ${who(s)} · ${escapeMrkdwn(s.policy)}`));
  const head = override?.source === 'override' ? `<@${override.userId}>` : current[0] ? who(current[0]) : 'nobody';
  return {
    text: `On call now: ${head}`,
    blocks: [section(lines.join('\n')), context(`From PagerDuty, read ${slackDate(new Date(readAt))}${lastError ? ` (the last read failed: ${escapeMrkdwn(lastError)})` : ''}.`)],
  };
}

async function show(ctx: CommandContext): Promise<CommandReply> {
  const fromPagerDuty = await showPagerDuty(ctx);
  if (fromPagerDuty) return fromPagerDuty;
  const { oncall, config } = ctx;
  const now = ctx.clock.nowMs();
  const current = await oncall.at(now);
  if (!current) {
    const members = ctx.config.file.roles.oncall ?? [];
    const who = members.length > 0 ? members.map((m) => (m.startsWith('S') ? `<!subteam^${m}>` : `<@${m}>`)).join(', ') : 'nobody';
    return { text: `No on-call rotation is configured; the \`oncall\` role is ${who}. Add \`oncall: {rotation, handoff, length}\` to the Waygate config to have one person on call at a time.` };
  }
  const tz = config.file.timezone;
  const lines = [`*Now:* <@${current.userId}> until ${slackDate(new Date(current.until))}${current.source === 'override' ? ' _(override)_' : ''}`];
  const upcoming = oncall.shifts(UPCOMING, now).slice(1);
  if (upcoming.length > 0) lines.push('*Next handoffs:*', ...upcoming.map((s) => `• ${slackDate(new Date(s.startsAt))} → <@${s.userId}>`));
  const overrides = (await oncall.overrides(now)).filter((o) => o.starts_at > now || o.user_id !== current.userId || current.source !== 'override');
  const blocks: Block[] = [section(lines.join('\n'))];
  if (overrides.length > 0) {
    blocks.push(context(overrides.map((o) => `Override: <@${o.user_id}> ${slackDate(new Date(o.starts_at))} – ${slackDate(new Date(o.ends_at))}`).join('\n')));
  }
  blocks.push(context(`Times in ${tz}. Cover for someone with \`${SLASH_COMMAND} oncall override @person 4h\`.`));
  return { text: `On call now: <@${current.userId}>`, blocks };
}

async function override(ctx: CommandContext, userId: string, ms: number): Promise<CommandReply> {
  const decision = await ctx.policy.check({ permission: PERMISSIONS.oncallOverride, user: ctx.userId, what: `\`${SLASH_COMMAND} oncall override\``, subject: userId });
  if (!decision.allowed) return { text: decision.message };
  const set = await ctx.store.transaction(async (tx) => {
    const o = await ctx.oncall.override(tx, userId, ms, ctx.userId);
    await ctx.audit.record(tx, { actor: ctx.userId, action: 'oncall.override', subject: userId, details: { until: new Date(o.ends_at).toISOString() } });
    const ops = ctx.config.file.channels.ops;
    if (ops) await ctx.outbox.enqueue(tx, { kind: 'post', payload: { channel: ops, text: `🔁 <@${userId}> is on call for the next ${formatDuration(ms)} (set by <@${ctx.userId}>).` } });
    return o;
  });
  return { text: `✅ <@${userId}> is on call until ${slackDate(new Date(set.ends_at))}; alerts and escalations go to them meanwhile.` };
}

export const oncall: Command = defineCommand({
  name: 'oncall',
  usage: `${SLASH_COMMAND} oncall [override @person <duration>]`,
  summary: 'Who is on call now and at the next handoffs, or cover for someone (lead, oncall)',
  roles: 'everyone',
  args: oncallArgs,
  run(ctx, args) {
    return args.action === 'show' ? show(ctx) : override(ctx, args.userId, args.ms);
  },
});
