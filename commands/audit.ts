import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { slackDate } from '../src/slack/format.js';
import { escapeMrkdwn } from '../src/core/text.js';
import { section } from '../src/core/blocks.js';
import { brokenEntryText } from '../src/audit/describe.js';

const auditArgs = z.union(
  [
    z.tuple([]).transform(() => ({ action: 'recent' as const })),
    z.tuple([z.literal('verify')]).transform(() => ({ action: 'verify' as const })),
  ],
  { message: 'expected nothing, or `verify`' },
);

/**
 * A mention only for a Slack user id Waygate recorded from Slack: incident rows may name a PagerDuty user
 * (whose name anyone can set to `U0ADMIN` or `<!channel>`) unless their details say the change came from Slack.
 */
function actorOf(entry: { actor: string; action: string; details: string }): string {
  let fromSlack = true;
  if (entry.action.startsWith('incident.')) {
    try {
      fromSlack = (JSON.parse(entry.details) as { source?: unknown }).source === 'slack';
    } catch {
      fromSlack = false;
    }
  }
  return fromSlack && /^[UW][A-Z0-9]{2,}$/.test(entry.actor) ? `<@${entry.actor}>` : escapeMrkdwn(entry.actor);
}

export const audit: Command = defineCommand({
  name: 'audit',
  usage: `${SLASH_COMMAND} audit [verify]`,
  summary: 'Show the latest audit entries, or verify the tamper-evident chain (security)',
  roles: ['security'],
  args: auditArgs,
  run(ctx, args) {
    if (args.action === 'verify') {
      const result = ctx.audit.verify();
      if (!result.ok) return { text: `❌ Audit trail broken at ${brokenEntryText(result)}: ${result.reason}. Treat this as a security incident.` };
      const k = result.keying;
      if (k?.keyed) {
        const before = k.before > 0 ? ` The ${k.before} entries before #${k.since} were written before the key was set: they are hash-chained only, and the keyed chain seals them.` : '';
        return { text: `✅ Audit trail intact: ${result.entries} entries, keyed hash chain (HMAC-SHA256) verified.${before}` };
      }
      if (k?.keyMissingFrom !== undefined) {
        return {
          text: `⚠️ Audit trail checked up to entry #${k.keyMissingFrom - 1} (${k.verified} entries, hash chain intact). The entries from #${k.keyMissingFrom} on are keyed, but WAYGATE_AUDIT_KEY is not set, so they cannot be checked.`,
        };
      }
      return {
        text: `✅ Audit trail intact: ${result.entries} entries, hash chain verified. ⚠️ The chain is not keyed: someone who can write the database could rewrite it unnoticed. Set WAYGATE_AUDIT_KEY to key it.`,
      };
    }
    const entries = ctx.audit.recent(20);
    if (entries.length === 0) return { text: 'The audit trail is empty.' };
    const lines = entries.map(
      (e) => `${slackDate(new Date(e.at))} ${actorOf(e)} \`${e.action}\`${e.subject ? ` ${escapeMrkdwn(e.subject)}` : ''}`,
    );
    const text = `Latest ${entries.length} audit entries:\n${lines.join('\n')}`;
    return { text, blocks: [section(text)] };
  },
});
