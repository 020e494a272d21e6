import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { slackDate } from '../src/slack/format.js';
import type { JobInfo } from '../src/jobs/job-service.js';
import { describeRun } from '../src/jobs/describe-run.js';
import { describeSchedule } from '../src/jobs/describe-schedule.js';
import { requestJobRun } from '../src/commands/request-job-run.js';
import { PERMISSIONS } from '../src/core/policy.js';
import type { Block } from '../src/outbox/types.js';
import { escapeMrkdwn } from '../src/core/text.js';
import { context, section } from '../src/core/blocks.js';

const jobsArgs = z.union(
  [
    z.tuple([]).transform(() => ({ action: 'list' as const })),
    z.tuple([z.literal('run'), z.string()]).transform(([, name]) => ({ action: 'run' as const, name })),
  ],
  { message: 'expected nothing, or `run <name>`' },
);

function jobBlock(job: JobInfo, timezone: string): Block {
  const schedule = job.schedule ? `${describeSchedule(job.schedule)}, ${timezone} time · \`${job.schedule}\`` : '_disabled_';
  const next = job.nextRunAt ? ` · next ${slackDate(job.nextRunAt)}` : '';
  const last = job.lastRun
    ? `last ${slackDate(new Date(job.lastRun.started_at))} ${describeRun(job.lastRun)}`
    : 'never run';
  const running = job.running ? ' · ⏳ running now' : '';
  return section(`*${job.name}* — ${escapeMrkdwn(job.description)}\n${schedule}${next}${running}\n${last}`);
}

async function list(ctx: CommandContext): Promise<CommandReply> {
  const jobs = await ctx.jobs.list();
  const text = `${jobs.length} scheduled jobs: ${jobs.map((j) => j.name).join(', ')}`;
  return {
    text,
    blocks: [
      ...jobs.slice(0, 48).map((j) => jobBlock(j, ctx.config.file.timezone)),
      context(`Run one now with \`${SLASH_COMMAND} jobs run <name>\` (needs the \`job.run\` permission).`),
    ],
  };
}

async function runNow(ctx: CommandContext, name: string): Promise<CommandReply> {
  if (!ctx.jobs.has(name)) {
    return { text: `There is no job called \`${escapeMrkdwn(name)}\`. Jobs: ${ctx.jobs.names().join(', ')}.` };
  }
  const decision = await ctx.policy.check({ permission: PERMISSIONS.jobRun, user: ctx.userId, what: `\`${SLASH_COMMAND} jobs run\``, subject: name });
  if (!decision.allowed) return { text: decision.message };
  if (ctx.jobs.isRunning(name)) return { text: `\`${name}\` is already running; I won't start it twice.` };
  return requestJobRun(ctx, name, { audit: 'job.run', started: `Starting \`${name}\` now. I'll post the outcome here when it finishes.` });
}

export const jobs: Command = defineCommand({
  name: 'jobs',
  usage: `${SLASH_COMMAND} jobs [run <name>]`,
  summary: 'List scheduled jobs with next run and last outcome, or run one now (ops)',
  roles: 'everyone',
  args: jobsArgs,
  run(ctx, args) {
    return args.action === 'list' ? list(ctx) : runNow(ctx, args.name);
  },
});
