import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { slackDate } from '../src/slack/format.js';
import { BackupError } from '../src/backup/backup-service.js';
import { describeRestoreTest } from '../src/backup/restore-test.js';
import { requestJobRun } from '../src/commands/request-job-run.js';
import { escapeMrkdwn, formatBytes } from '../src/core/text.js';
import { section } from '../src/core/blocks.js';

const backupArgs = z.union(
  [
    z.tuple([z.literal('now')]).transform(() => ({ action: 'now' as const })),
    z.tuple([z.literal('list')]).transform(() => ({ action: 'list' as const })),
    z.tuple([z.literal('verify'), z.string()]).transform(([, file]) => ({ action: 'verify' as const, file })),
    z.tuple([z.literal('restore-test')]).transform(() => ({ action: 'restore-test' as const })),
  ],
  { message: 'expected `now`, `list`, `verify <file>` or `restore-test`' },
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

/** SOP-COMP-001's disaster recovery test, by hand: after the ack (a restore takes a while), in the channel. */
function restoreTestNow(ctx: CommandContext): CommandReply {
  ctx.afterAck(async () => {
    const result = await ctx.backups.restoreTest();
    await ctx.store.transaction(async (tx) => {
      await ctx.audit.record(tx, { actor: ctx.userId, action: 'backup.restore_test', subject: result.backup ?? 'none', details: { ok: result.ok, integrity: result.integrity, problems: result.problems } });
      await ctx.outbox.enqueue(tx, { kind: 'respond', payload: { responseUrl: ctx.responseUrl, inChannel: true, text: `${describeRestoreTest(result)}\nAsked for by <@${ctx.userId}>.` } });
    });
  });
  return { text: 'Restoring the newest backup into a scratch database to test it…' };
}

export const backup: Command = defineCommand({
  name: 'backup',
  usage: `${SLASH_COMMAND} backup now | list | verify <file> | restore-test`,
  summary: 'Run a backup now, list backups, check one, or test restoring the newest (ops)',
  roles: ['ops'],
  args: backupArgs,
  run(ctx, args) {
    if (args.action === 'list') return list(ctx);
    if (args.action === 'verify') return verify(ctx, args.file);
    if (args.action === 'restore-test') return restoreTestNow(ctx);
    if (ctx.jobs.isRunning('backup')) return { text: 'A backup is already running; I will not start a second one.' };
    return requestJobRun(ctx, 'backup', { audit: 'backup.run', started: 'Starting a backup now; the report follows here and in the ops channel.' });
  },
});
