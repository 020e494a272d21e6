import { randomUUID } from 'node:crypto';
import type { App, SlashCommand } from '@slack/bolt';
import type { CommandServices } from '../context.js';
import type { InflightWork } from '../lifecycle/inflight.js';
import type { Clock } from '../clock/clock.js';
import { ACK_BUDGET_MS, withinAckBudget } from '../core/ack-budget.js';
import { asWaygateError } from '../core/errors.js';
import { splitLeading, tokenize } from './tokenize.js';
import type { AuditBatch } from '../audit/audit-batch.js';
import { commandPermission, type Command, type CommandContext, type CommandReply } from './types.js';

export const SLASH_COMMAND = '/waygate';

export interface CommandRouterDeps {
  services: CommandServices;
  /** Where the record of each command goes: written at the end of the turn, after the ack. */
  requests: Pick<AuditBatch, 'add'>;
  commands: readonly Command[];
  inflight: InflightWork;
}

/** The reply shape Bolt puts into the HTTP response when we ack with it. */
function toAckBody(reply: CommandReply): { response_type: 'ephemeral' | 'in_channel'; text: string; blocks?: unknown[] } {
  return {
    response_type: reply.inChannel ? 'in_channel' : 'ephemeral',
    text: reply.text,
    ...(reply.blocks ? { blocks: reply.blocks } : {}),
  };
}

export function unknownVerbReply(verb: string, commands: readonly Command[]): CommandReply {
  const verbs = commands.map((c) => `\`${c.name}\``).join(', ');
  return {
    text: `I don't know \`${SLASH_COMMAND} ${verb}\`. Usage: \`${SLASH_COMMAND} <verb> [args]\` where verb is one of ${verbs}. Try \`${SLASH_COMMAND} help\`.`,
  };
}

export function usageReply(command: Command, problem: string): CommandReply {
  return { text: `${problem}\nUsage: \`${command.usage}\`` };
}

/**
 * Handles `/waygate <verb> …`: parse, check the role, run the command's quick part, ack with its reply.
 * Anything slow is queued with ctx.afterAck and starts only once Slack has the ack.
 */
export async function handleSlashCommand(
  deps: CommandRouterDeps,
  command: SlashCommandRequest,
  ack: (body: ReturnType<typeof toAckBody>) => Promise<void>,
): Promise<void> {
  const { metrics, logger } = deps.services;
  const deferred: Array<() => Promise<void>> = [];
  const { reply, outcome, verb } = await answer(deps, command, deferred);
  await ack(toAckBody(reply));
  metrics.commands.inc({ verb, outcome });
  // After the ack, off Slack's clock. What a command changed has rows of its own; this says it was asked.
  deps.requests.add({ actor: command.user_id, action: 'command.run', subject: verb, details: { text: (command.text ?? '').slice(0, 300), outcome } });
  for (const task of deferred) {
    void deps.inflight.track(task().catch((err: unknown) => logger.error({ err, verb }, 'work after ack failed')));
  }
}

type SlashCommandRequest = Pick<SlashCommand, 'text' | 'user_id' | 'channel_id' | 'response_url'>;

/** Decides the reply Slack gets with the ack; work the command leaves for after the ack goes to `deferred`. */
async function answer(
  deps: CommandRouterDeps,
  command: SlashCommandRequest,
  deferred: Array<() => Promise<void>>,
): Promise<{ reply: CommandReply; outcome: string; verb: string }> {
  const { services, commands } = deps;
  // Slack's clock starts when the request arrives: the role check's time comes out of the command's budget.
  const arrived = services.clock.nowMs();
  const [word = 'help', ...words] = tokenize(command.text ?? '');
  const target = commands.find((c) => c.name === word.toLowerCase());
  if (!target) return { reply: unknownVerbReply(word, commands), outcome: 'unknown', verb: 'unknown' };
  const verb = target.name;
  const decision = await services.policy.check({
    permission: commandPermission(target),
    user: command.user_id,
    what: `\`${SLASH_COMMAND} ${verb}\``,
  });
  if (!decision.allowed) return { reply: { text: decision.message }, outcome: 'denied', verb };
  const parsed = target.parse(target.freeTextAfter === undefined ? words : splitLeading(command.text ?? '', target.freeTextAfter + 1).slice(1));
  if (!parsed.ok) return { reply: usageReply(target, parsed.problem), outcome: 'usage', verb };

  // Object.assign, not spread: this runs on every command before the ack, and spread is slow on Node 20.
  const ctx: CommandContext = Object.assign(Object.create(null) as object, services, {
    userId: command.user_id,
    channelId: command.channel_id,
    responseUrl: command.response_url,
    commands,
    afterAck: (task: () => Promise<void>) => deferred.push(task),
  });
  const failed = (err: unknown): CommandReply => {
    const ref = randomUUID().slice(0, 8);
    const error = asWaygateError(err);
    services.logger.error({ err: error, code: error.code, verb, ref }, 'command failed');
    return { text: `Something went wrong running \`${SLASH_COMMAND} ${verb}\`. It has been logged (ref ${ref}).` };
  };
  const running = Promise.resolve().then(() => target.run(ctx, parsed.args));
  const result = await settle(running, services.clock, ACK_BUDGET_MS - (services.clock.nowMs() - arrived));
  if (result === 'late') {
    // Slack gives up after 3 s: ack now, deliver the real answer through the outbox when it is ready.
    const own = deferred.splice(0);
    deferred.push(async () => {
      const { secret, ...late } = await running.catch(failed);
      // The outbox persists what it sends: a reply showing a credential is replaced by its safe form.
      const answer = secret ? { text: secret.lateText } : late;
      await services.store.transaction((tx) => services.outbox.enqueue(tx, { kind: 'respond', payload: { responseUrl: command.response_url, ...answer } }));
      for (const task of own) await task();
    });
    return { reply: { text: `Working on \`${SLASH_COMMAND} ${verb}\`… the answer follows here.` }, outcome: 'late', verb };
  }
  if (result.ok) return { reply: result.reply, outcome: 'ok', verb };
  deferred.length = 0;
  return { reply: failed(result.error), outcome: 'error', verb };
}

type Settled = { ok: true; reply: CommandReply } | { ok: false; error: unknown };

async function settle(running: Promise<CommandReply>, clock: Clock, budgetMs: number): Promise<Settled | 'late'> {
  const result = await withinAckBudget(
    running.then(
      (reply): Settled => ({ ok: true, reply }),
      (error: unknown): Settled => ({ ok: false, error }),
    ),
    clock,
    budgetMs,
  );
  return result === 'late' ? 'late' : result.done;
}

export function registerCommandRouter(app: App, deps: CommandRouterDeps): void {
  app.command(SLASH_COMMAND, async ({ command, ack }) => {
    await handleSlashCommand(deps, command, (body) => ack(body));
  });
}
