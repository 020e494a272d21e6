import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { escapeMrkdwn } from '../src/core/text.js';
import { slackDate } from '../src/slack/format.js';
import { startRun } from './sop.js';

/** The procedures whose runs are deployments, for the log. */
export const DEPLOY_PROCEDURES = ['deploy-production', 'deploy-staging', 'rollback-production', 'hotfix'] as const;

const deployArgs = z.union(
  [
    z.tuple([z.literal('log')]).transform(() => ({ action: 'log' as const })),
    z.tuple([z.enum(['staging', 'production']), z.string()]).transform(([env, version]) => ({ action: 'deploy' as const, env, version })),
  ],
  { message: 'expected `staging <version>`, `production <version>` or `log`' },
);

/** Recent deployments: what, who, approver, when, result, and whether it was rolled back. */
async function deployLog(ctx: CommandContext): Promise<CommandReply> {
  const runs = await ctx.sops.recent(DEPLOY_PROCEDURES, 15);
  if (runs.length === 0) return { text: 'No deployments yet.' };
  const lines = runs.map((r) => {
    const what = r.params.version ?? r.params.ref ?? '';
    const approvals = r.state.steps.flatMap((s) => s.approvals ?? []);
    const approver = approvals.length > 0 ? `, approved by ${approvals.map((a) => `<@${a.by}>`).join(', ')}` : '';
    const result = r.state.status === 'active' ? `in progress (step ${r.state.step + 1} of ${r.definition.steps.length})` : r.state.status;
    const rolledBack = r.state.rolledBack ? `, rolled back by <@${r.state.rolledBack.by}> (run #${r.state.rolledBack.runId})` : '';
    return `• ${slackDate(new Date(r.createdAt))} *${escapeMrkdwn(r.definition.title)}* \`${escapeMrkdwn(what)}\` (run #${r.id}) by <@${r.requester}>${approver}: ${result}${rolledBack}`;
  });
  return { text: `Recent deployments:\n${lines.join('\n')}` };
}

export const deploy: Command = defineCommand({
  name: 'deploy',
  usage: `${SLASH_COMMAND} deploy staging <version> | deploy production <version> | deploy log`,
  summary: 'Deploy a version to staging or production (SOP-OPS-001), or list recent deployments',
  roles: ['ops', 'lead'],
  args: deployArgs,
  run(ctx, args) {
    if (args.action === 'log') return deployLog(ctx);
    return startRun(ctx, args.env === 'staging' ? 'deploy-staging' : 'deploy-production', { version: args.version });
  },
});
