import { z } from 'zod';
import { DateTime } from 'luxon';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { auditCsv, auditJson } from '../src/audit/export.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { slackDate } from '../src/slack/format.js';
import { escapeMrkdwn } from '../src/core/text.js';
import { section } from '../src/core/blocks.js';
import { brokenEntryText } from '../src/audit/describe.js';

const auditArgs = z.union(
  [
    z.tuple([]).transform(() => ({ action: 'recent' as const })),
    z.tuple([z.literal('verify')]).transform(() => ({ action: 'verify' as const })),
    z.tuple([z.literal('export'), z.string(), z.string()]).transform(([, from, to]) => ({ action: 'export' as const, from, to })),
  ],
  { message: 'expected nothing, `verify`, or `export <from> <to>` (dates as YYYY-MM-DD)' },
);

/** A year and a day: a whole year's trail in one request, inclusive of both ends in a leap year. */
const MAX_EXPORT_DAYS = 366;
/**
 * The files travel through the outbox as base64 in its rows and are shared in Slack: a bound keeps both
 * small. A range holding more is refused with the count, so the caller splits it.
 */
export const MAX_EXPORT_ENTRIES = 5000;

type ExportRange = { ok: true; from: number; until: number } | { ok: false; problem: string };

/** `from`..`to`, both whole days in the configured zone, as [start of from, start of the day after to). */
function exportRange(from: string, to: string, zone: string): ExportRange {
  const day = (text: string) => (/^\d{4}-\d{2}-\d{2}$/.test(text) ? DateTime.fromISO(text, { zone }).startOf('day') : null);
  const start = day(from);
  const end = day(to);
  if (!start?.isValid || !end?.isValid) return { ok: false, problem: 'dates must be real days written YYYY-MM-DD, e.g. `2026-03-01`' };
  if (end < start) return { ok: false, problem: `${to} is before ${from}` };
  const days = Math.round(end.diff(start, 'days').days) + 1;
  if (days > MAX_EXPORT_DAYS) return { ok: false, problem: `that is ${days} days; an export covers at most ${MAX_EXPORT_DAYS}` };
  return { ok: true, from: start.toMillis(), until: end.plus({ days: 1 }).startOf('day').toMillis() };
}

async function exportTrail(ctx: CommandContext, from: string, to: string): Promise<CommandReply> {
  const zone = ctx.config.file.timezone;
  const range = exportRange(from, to, zone);
  if (!range.ok) return { text: `Cannot export: ${range.problem}. Usage: \`${SLASH_COMMAND} audit export <from> <to>\` (days in ${zone}, both included).` };
  const count = await ctx.audit.countBetween(range.from, range.until);
  const span = from === to ? from : `${from} to ${to}`;
  if (count === 0) return { text: `No audit entries from ${span} (${zone}): nothing to export.` };
  if (count > MAX_EXPORT_ENTRIES) {
    return { text: `${count} audit entries from ${span} (${zone}), more than the ${MAX_EXPORT_ENTRIES} one export carries: ask for a shorter range.` };
  }
  const name = `waygate-audit-${from}-to-${to}`;
  await ctx.store.transaction(async (tx) => {
    const rows = await ctx.audit.between(range.from, range.until, tx);
    const meta = { from, to, timezone: zone, exportedAt: ctx.clock.nowMs(), exportedBy: ctx.userId };
    const files = [
      { filename: `${name}.csv`, title: `Audit trail ${span} (CSV)`, content: auditCsv(rows) },
      { filename: `${name}.json`, title: `Audit trail ${span} (JSON)`, content: auditJson(rows, meta) },
    ];
    // To the caller alone (a direct message): the trail names who did what, which the channel need not see.
    for (const f of files) {
      await ctx.outbox.enqueue(tx, {
        kind: 'file_upload',
        payload: {
          channel: ctx.userId,
          filename: f.filename,
          title: f.title,
          altText: f.title,
          contentBase64: Buffer.from(f.content, 'utf8').toString('base64'),
          initialComment: `${f.title}: ${rows.length} entries, days in ${zone}, both included.`,
        },
      });
    }
    await ctx.audit.record(tx, { actor: ctx.userId, action: 'audit.exported', subject: span, details: { from, to, timezone: zone, entries: rows.length, firstId: rows[0]?.id, lastId: rows.at(-1)?.id } });
  });
  return { text: `📤 Exporting ${count} audit ${count === 1 ? 'entry' : 'entries'} from ${span} (${zone}): \`${name}.csv\` and \`${name}.json\` will arrive in your direct messages with Waygate.` };
}

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
  usage: `${SLASH_COMMAND} audit [verify | export <from> <to>]`,
  summary: 'Show the latest audit entries, verify the tamper-evident chain, or export days of it as CSV and JSON (security)',
  roles: ['security'],
  args: auditArgs,
  async run(ctx, args) {
    if (args.action === 'export') return exportTrail(ctx, args.from, args.to);
    if (args.action === 'verify') {
      const result = await ctx.audit.verify();
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
    const entries = await ctx.audit.recent(20);
    if (entries.length === 0) return { text: 'The audit trail is empty.' };
    const lines = entries.map(
      (e) => `${slackDate(new Date(e.at))} ${actorOf(e)} \`${e.action}\`${e.subject ? ` ${escapeMrkdwn(e.subject)}` : ''}`,
    );
    const text = `Latest ${entries.length} audit entries:\n${lines.join('\n')}`;
    return { text, blocks: [section(text)] };
  },
});
