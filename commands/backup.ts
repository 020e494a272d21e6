import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { slackDate } from '../src/slack/format.js';
import { BackupError } from '../src/backup/backup-service.js';
import { requestJobRun } from '../src/commands/request-job-run.js';
import { escapeMrkdwn, formatBytes } from '../src/core/text.js';
import { section } from '../src/core/blocks.js';

const backupArgs = z.union(
  [
    z.tuple([z.literal('now')]).transform(() => ({ action: 'now' as const })),
    z.tuple([z.literal('list')]).transform(() => ({ action: 'list' as const })),
    z.tuple([z.literal('verify'), z.string()]).transform(([, file]) => ({ action: 'verify' as const, file })),
  ],
  { message: 'expected `now`, `list` or `verify <file>`' },
);

function list(ctx: CommandContext): CommandReply {
  const files = ctx.backups.list();
  if (files.length === 0) return { text: `No backups in \`${escapeMrkdwn(ctx.config.file.backup.dir)}\` yet.` };
  const lines = files.slice(0, 40).map((f) => `• \`${escapeMrkdwn(f.name)}\` ${formatBytes(f.sizeBytes)} · ${slackDate(new Date(f.modifiedAt))}`);
  const text = `Backups in \`${escapeMrkdwn(ctx.config.file.backup.dir)}\` (newest first):\n${lines.join('\n')}`;
  return { text, blocks: [section(text)] };
}

function verify(ctx: CommandContext, file: string): CommandReply {
  try {
    const result = ctx.backups.verify(file);
    const icon = result.integrity === 'ok' ? '✅' : '❌';
    return { text: `${icon} \`${escapeMrkdwn(file)}\`: integrity ${escapeMrkdwn(result.integrity)}, ${result.tables} tables, ${result.rows} rows.` };
  } catch (err) {
    if (err instanceof BackupError) return { text: `❌ ${escapeMrkdwn(err.message)}` };
    throw err;
  }
}

export const backup: Command = defineCommand({
  name: 'backup',
  usage: `${SLASH_COMMAND} backup now | list | verify <file>`,
  summary: 'Run a backup now, list backups, or check one (ops)',
  roles: ['ops'],
  args: backupArgs,
  run(ctx, args) {
    if (args.action === 'list') return list(ctx);
    if (args.action === 'verify') return verify(ctx, args.file);
    if (ctx.jobs.isRunning('backup')) return { text: 'A backup is already running; I will not start a second one.' };
    return requestJobRun(ctx, 'backup', { audit: 'backup.run', started: 'Starting a backup now; the report follows here and in the ops channel.' });
  },
});
