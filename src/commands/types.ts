import type { z } from 'zod';
import type { CommandServices } from '../context.js';
import type { Block } from '../outbox/types.js';
import type { Grant } from '../core/policy.js';

export interface CommandReply {
  text: string;
  blocks?: Block[];
  /** Visible to the whole channel; default is ephemeral (only the caller sees it). */
  inChannel?: boolean;
  /**
   * The reply shows a credential (an API key, shown once): it goes out with the ack and is never written
   * anywhere. Should it miss the ack budget, `lateText` is what the caller hears instead, through the outbox.
   */
  secret?: { lateText: string };
}

export interface CommandContext extends CommandServices {
  userId: string;
  channelId: string;
  responseUrl: string;
  /** Work that must wait until Slack has its ack (slow I/O, jobs, scripts). */
  afterAck(task: () => Promise<void>): void;
  /** All registered commands, for help. */
  commands: readonly Command[];
}

export interface CommandDefinition<A> {
  /** The verb: `/waygate <name> …`. */
  name: string;
  /** Shown on bad input and in help, e.g. "/waygate jobs [run <name>]". */
  usage: string;
  summary: string;
  /** Who holds `command.<name>` unless YAML `permissions:` says otherwise. */
  roles: Grant;
  /** Validates the words after the verb (already split with quotes respected). */
  args: z.ZodType<A, string[]>;
  /**
   * The last argument is prose: after the verb and this many words, the rest of the text is one word, as
   * typed (quotes and apostrophes kept).
   */
  freeTextAfter?: number;
  run(ctx: CommandContext, args: A): CommandReply | Promise<CommandReply>;
}

export type ParseResult = { ok: true; args: unknown } | { ok: false; problem: string };

/** A command with its argument type erased, so commands of different shapes share one registry. */
export interface Command {
  name: string;
  usage: string;
  summary: string;
  roles: Grant;
  freeTextAfter?: number;
  parse(words: string[]): ParseResult;
  run(ctx: CommandContext, args: unknown): CommandReply | Promise<CommandReply>;
}

/** The permission that guards a verb: `command.<verb>`. */
export function commandPermission(command: Pick<Command, 'name'>): string {
  return `command.${command.name}`;
}

export function defineCommand<A>(def: CommandDefinition<A>): Command {
  return {
    name: def.name,
    usage: def.usage,
    summary: def.summary,
    roles: def.roles,
    ...(def.freeTextAfter !== undefined ? { freeTextAfter: def.freeTextAfter } : {}),
    parse(words) {
      const result = def.args.safeParse(words);
      if (result.success) return { ok: true, args: result.data };
      const first = result.error.issues[0];
      return { ok: false, problem: first?.message ?? 'invalid arguments' };
    },
    run: (ctx, args) => def.run(ctx, args as A),
  };
}
