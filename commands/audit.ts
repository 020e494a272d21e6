import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { slackDate } from '../src/slack/format.js';
import { escapeMrkdwn } from '../src/core/text.js';
import { section } from '../src/core/blocks.js';

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
      return result.ok
        ? { text: `✅ Audit trail intact: ${result.entries} entries, hash chain verified.` }
        : { text: `❌ Audit trail broken at entry #${result.brokenAt}: ${result.reason}. Treat this as a security incident.` };
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
