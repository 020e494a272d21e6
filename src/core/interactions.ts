import type { App } from '@slack/bolt';
import { z } from 'zod';
import type { Logger } from '../logging/logger.js';
import type { Metrics } from '../http/metrics.js';
import type { Outbox } from '../outbox/outbox.js';
import type { InflightWork } from '../lifecycle/inflight.js';
import type { Clock } from '../clock/clock.js';
import type { Policy, PermissionName } from './policy.js';
import { withinAckBudget } from './ack-budget.js';

/** Slack refuses a button or option value longer than this. */
export const VALUE_LIMIT = 2_000;

/** What a handler learns about the click, besides its decoded value. */
export interface ActionContext {
  userId: string;
  responseUrl: string;
  channelId: string | undefined;
  messageTs: string | undefined;
  /** Lives 3 s: only for opening a modal straight away. */
  triggerId: string | undefined;
  /** Checkboxes: the whole current selection (Slack sends the state, not the change). */
  selected: string[];
  /** An ephemeral answer to the clicker, through the outbox (so it is retried and never lost). */
  tell(text: string): void;
}

export interface ActionDefinition<V> {
  /** The action_id, from the feature's `as const` table of ids. */
  id: string;
  /** Decodes the element's value (a button or option value; for checkboxes, the block_id). */
  value: z.ZodType<V, string>;
  /** Checked before the handler runs; a denial is answered, counted and audited by the policy. */
  permission?: { name: PermissionName; what: string; subject?: (value: V) => string };
  /** True when the value was drawn from an older revision of the state (a stale message). */
  isStale?: (value: V) => boolean;
  handle(ctx: ActionContext, value: V): void | Promise<void>;
}

/** An action with its value type erased, so actions of different shapes share one registry. */
export interface Action {
  id: string;
  run(ctx: ActionContext, raw: string, deps: { policy: Policy; logger: Logger }): Promise<ActionOutcome>;
}

export type ActionOutcome = 'ok' | 'malformed' | 'stale' | 'denied';

export function defineAction<V>(def: ActionDefinition<V>): Action {
  return {
    id: def.id,
    async run(ctx, raw, { policy, logger }) {
      const parsed = def.value.safeParse(raw);
      if (!parsed.success) {
        logger.warn({ actionId: def.id, problem: parsed.error.issues[0]?.message }, 'interaction with a malformed value ignored');
        return 'malformed';
      }
      const value = parsed.data;
      if (def.isStale?.(value)) {
        ctx.tell('This message has changed since it was drawn, so nothing was done. Please look at the updated message and try again.');
        return 'stale';
      }
      if (def.permission) {
        const decision = await policy.check({
          permission: def.permission.name,
          user: ctx.userId,
          what: def.permission.what,
          ...(def.permission.subject ? { subject: def.permission.subject(value) } : {}),
        });
        if (!decision.allowed) {
          ctx.tell(decision.message);
          return 'denied';
        }
      }
      await def.handle(ctx, value);
      return 'ok';
    },
  };
}

/** A value carrying JSON (ids, step, revision) validated by `schema`; encode() refuses what Slack would. */
export function jsonValue<S extends z.ZodType>(schema: S) {
  return {
    schema: z
      .string()
      .transform((raw, ctx) => {
        try {
          return JSON.parse(raw) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'not JSON' });
          return z.NEVER;
        }
      })
      .pipe(schema),
    encode(value: z.input<S>): string {
      const text = JSON.stringify(value);
      if (text.length > VALUE_LIMIT) throw new Error(`action value of ${text.length} characters exceeds Slack's ${VALUE_LIMIT}`);
      return text;
    },
  };
}

/** The parts of a block_actions payload the layer relies on; anything else is answered and dropped. */
const blockActionsSchema = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().min(1) }),
  response_url: z.string().optional(),
  trigger_id: z.string().optional(),
  channel: z.object({ id: z.string() }).nullish(),
  container: z.object({ message_ts: z.string().optional(), channel_id: z.string().optional() }).nullish(),
  actions: z
    .array(
      z.object({
        action_id: z.string().min(1),
        block_id: z.string().optional(),
        value: z.string().optional(),
        selected_option: z.object({ value: z.string() }).nullish(),
        selected_options: z.array(z.object({ value: z.string() })).optional(),
      }),
    )
    .min(1),
});

export interface InteractionDeps {
  clock: Clock;
  policy: Policy;
  outbox: Outbox;
  logger: Logger;
  metrics: Metrics;
  inflight: InflightWork;
}

/**
 * Every block action goes through here: validated, checked against the policy and handed to its action's
 * handler, which commits what the click changes; then acked, so a crash after the ack loses no click. A
 * payload the bot cannot act on is acked at once; a handler slower than the ack budget is acked at the
 * budget and finishes after. One middleware, because Bolt runs every listener's matcher on every request.
 */
export class Interactions {
  private readonly actions = new Map<string, Action>();

  constructor(private readonly deps: InteractionDeps) {}

  add(actions: readonly Action[]): void {
    for (const action of actions) {
      if (this.actions.has(action.id)) throw new Error(`action ${action.id} registered twice`);
      this.actions.set(action.id, action);
    }
  }

  register(app: App): void {
    // Middleware, not a listener: a block_actions body without `actions` matches no listener, and Bolt would
    // leave it unacked until its 3 s timeout.
    app.use(async (args) => {
      const body = args.body as { type?: unknown };
      if (body.type !== 'block_actions') return args.next();
      const ack = (args as unknown as { ack: () => Promise<void> }).ack;
      const parsed = blockActionsSchema.safeParse(body);
      if (!parsed.success) {
        await ack();
        this.deps.logger.warn({ problem: describe(parsed.error) }, 'malformed block_actions payload ignored');
        this.deps.metrics.actions.inc({ action: 'malformed', outcome: 'ignored' });
        return;
      }
      await withinAckBudget(this.deps.inflight.track(this.dispatch(parsed.data)), this.deps.clock);
      await ack();
    });
  }

  private async dispatch(payload: z.infer<typeof blockActionsSchema>): Promise<void> {
    const { logger, metrics, outbox, policy } = this.deps;
    const [element] = payload.actions;
    if (!element) return;
    const action = this.actions.get(element.action_id);
    if (!action) {
      logger.warn({ actionId: element.action_id }, 'interaction with no handler ignored');
      metrics.actions.inc({ action: 'unknown', outcome: 'ignored' });
      return;
    }
    const responseUrl = payload.response_url ?? '';
    const ctx: ActionContext = {
      userId: payload.user.id,
      responseUrl,
      channelId: payload.channel?.id ?? payload.container?.channel_id,
      messageTs: payload.container?.message_ts,
      triggerId: payload.trigger_id,
      selected: (element.selected_options ?? []).map((o) => o.value),
      tell: (text) => {
        if (responseUrl) outbox.enqueue({ kind: 'respond', payload: { responseUrl, text } });
      },
    };
    const raw = element.value ?? element.selected_option?.value ?? element.block_id ?? '';
    try {
      const outcome = await action.run(ctx, raw, { policy, logger });
      metrics.actions.inc({ action: action.id, outcome });
    } catch (err) {
      metrics.actions.inc({ action: action.id, outcome: 'error' });
      logger.error({ err, actionId: action.id }, 'interaction handler failed');
      ctx.tell('Something went wrong handling that click. It has been logged.');
    }
  }
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
}
