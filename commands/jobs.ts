import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type CommandReply } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { section, context, slackDate, escapeMrkdwn } from '../src/slack/format.js';
import { formatDuration } from '../src/config/duration.js';
import type { JobInfo } from '../src/jobs/job-service.js';
import type { JobRun } from '../src/jobs/job-runs.js';
import type { Block } from '../src/outbox/types.js';

const OUTCOME_ICON: Record<JobRun['outcome'], string> = {
  ok: '✅',
  failed: '❌',
  running: '⏳',
  interrupted: '⚠️',
};

const jobsArgs = z.union(
  [
    z.tuple([]).transform(() => ({ action: 'list' as const })),
    z.tuple([z.literal('run'), z.string()]).transform(([, name]) => ({ action: 'run' as const, name })),
  ],
  { message: 'expected nothing, or `run <name>`' },
);

export function describeRun(run: JobRun): string {
  const icon = OUTCOME_ICON[run.outcome];
  const took = run.finished_at ? ` in ${formatDuration(run.finished_at - run.started_at)}` : '';
  const detail = run.outcome === 'failed' || run.outcome === 'interrupted' ? run.error : run.summary;
  return `${icon} ${run.outcome}${took}${detail ? `: ${escapeMrkdwn(detail)}` : ''}`;
}

function jobBlock(job: JobInfo, timezone: string): Block {
  const schedule = job.schedule ? `\`${job.schedule}\` (${timezone})` : '_disabled_';
  const next = job.nextRunAt ? ` · next ${slackDate(job.nextRunAt)}` : '';
  const last = job.lastRun
    ? `last ${slackDate(new Date(job.lastRun.started_at))} ${describeRun(job.lastRun)}`
    : 'never run';
  const running = job.running ? ' · ⏳ running now' : '';
  return section(`*${job.name}* — ${escapeMrkdwn(job.description)}\n${schedule}${next}${running}\n${last}`);
}

function list(ctx: CommandContext): CommandReply {
  const jobs = ctx.jobs.list();
  const text = `${jobs.length} scheduled jobs: ${jobs.map((j) => j.name).join(', ')}`;
  return {
    text,
    blocks: [
      ...jobs.slice(0, 48).map((j) => jobBlock(j, ctx.config.file.timezone)),
      context(`Run one now with \`${SLASH_COMMAND} jobs run <name>\` (ops or admin).`),
    ],
  };
}

async function runNow(ctx: CommandContext, name: string): Promise<CommandReply> {
  if (!ctx.jobs.has(name)) {
    return { text: `There is no job called \`${escapeMrkdwn(name)}\`. Jobs: ${ctx.jobs.names().join(', ')}.` };
  }
  if (!(await ctx.roles.allows(ctx.userId, ['ops']))) {
    return { text: `Sorry, \`${SLASH_COMMAND} jobs run\` needs the *ops* or *admin* role.` };
  }
  if (ctx.jobs.isRunning(name)) return { text: `\`${name}\` is already running; I won't start it twice.` };
  ctx.afterAck(async () => {
    const started = ctx.jobs.run(name, 'manual', ctx.userId, (run) => {
      ctx.outbox.enqueue({
        kind: 'respond',
        payload: { responseUrl: ctx.responseUrl, text: `\`${name}\` run #${run.id} finished ${describeRun(run)}` },
      });
    });
    if (!started.started) {
      ctx.outbox.enqueue({
        kind: 'respond',
        payload: { responseUrl: ctx.responseUrl, text: `Could not start \`${name}\`: ${started.reason}.` },
      });
      return;
    }
    ctx.audit.record({ actor: ctx.userId, action: 'job.run', subject: name, details: { runId: started.runId } });
    await started.done;
  });
  return { text: `Starting \`${name}\` now. I'll post the outcome here when it finishes.` };
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
