import type { App } from '@slack/bolt';
import { z } from 'zod';
import type { Logger } from '../logging/logger.js';
import type { Metrics } from '../http/metrics.js';
import type { Outbox } from '../outbox/outbox.js';
import type { InflightWork } from '../lifecycle/inflight.js';
import type { Clock } from '../clock/clock.js';
import type { ModalView } from '@slack/types';
import type { Policy, PermissionName } from './policy.js';
import { withinAckBudget } from './ack-budget.js';
import { VALUE_LIMIT } from './blocks.js';
import { asWaygateError } from './errors.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Executor } from '../db/data-layer.js';


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
  /**
   * Opens a modal with the click's trigger_id. Slack accepts it only within 3 s of the click, so this goes
   * straight to views.open, not through the outbox; call it before any slow work.
   */
  openModal(view: ModalView): Promise<void>;
}

/** A modal field's value as the handler sees it: text, one choice, several choices, or nothing entered. */
export type FieldValue = string | string[] | null;

export interface ViewContext {
  userId: string;
}

export interface ViewDefinition<M, F> {
  /** The modal's callback_id, from the feature's table of ids. */
  callbackId: string;
  /** Decodes the modal's private_metadata (what the modal is about: a run, a step, a revision). */
  metadata: z.ZodType<M, string>;
  /** Validates the fields by block_id; a problem is shown under its field, and the modal stays open. */
  fields: z.ZodType<F, Record<string, FieldValue>>;
  permission?: { name: PermissionName; what: string };
  /** Commits the submission; may return field errors to keep the modal open with them. */
  handle(ctx: ViewContext, metadata: M, fields: F): void | { errors: Record<string, string> } | Promise<void | { errors: Record<string, string> }>;
}

/** A modal with its types erased, so modals of different shapes share one registry. */
export interface View {
  callbackId: string;
  submit(ctx: ViewContext, raw: { metadata: string; fields: Record<string, FieldValue> }, deps: { policy: Policy; logger: Logger }): Promise<ViewAnswer>;
}

/** How the submission is acked: close the modal, or keep it open showing errors under fields. */
export type ViewAnswer = { close: true; outcome: 'ok' | 'malformed' } | { close: false; errors: Record<string, string>; outcome: 'invalid' | 'denied' };

export function defineView<M, F>(def: ViewDefinition<M, F>): View {
  return {
    callbackId: def.callbackId,
    async submit(ctx, raw, { policy, logger }) {
      const metadata = def.metadata.safeParse(raw.metadata);
      if (!metadata.success) {
        logger.warn({ callbackId: def.callbackId, problem: metadata.error.issues[0]?.message }, 'modal submission with malformed metadata ignored');
        return { close: true, outcome: 'malformed' };
      }
      const fields = def.fields.safeParse(raw.fields);
      if (!fields.success) {
        const errors: Record<string, string> = {};
        for (const issue of fields.error.issues) {
          const blockId = String(issue.path[0] ?? Object.keys(raw.fields)[0] ?? '');
          errors[blockId] ??= issue.message;
        }
        return { close: false, errors, outcome: 'invalid' };
      }
      if (def.permission) {
        const decision = await policy.check({ permission: def.permission.name, user: ctx.userId, what: def.permission.what });
        if (!decision.allowed) return { close: false, errors: { [Object.keys(raw.fields)[0] ?? '']: decision.message }, outcome: 'denied' };
      }
      const result = await def.handle(ctx, metadata.data, fields.data);
      return result ? { close: false, errors: result.errors, outcome: 'invalid' } : { close: true, outcome: 'ok' };
    },
  };
}

export interface ActionDefinition<V> {
  /** The action_id, from the feature's `as const` table of ids. */
  id: string;
  /** Decodes the element's value (a button or option value; for checkboxes, the block_id). */
  value: z.ZodType<V, string>;
  /** Checked before the handler runs; a denial is answered, counted and audited by the policy. */
  /** `name` may depend on the value: one menu, options of different weight (and may be read from the database). */
  permission?: { name: PermissionName | ((value: V) => PermissionName | Promise<PermissionName>); what: string; subject?: (value: V) => string | Promise<string> };
  /** True when the value was drawn from an older revision of the state (a stale message). */
  isStale?: (value: V) => boolean | Promise<boolean>;
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
      // The permission first: someone without it is refused (and audited) whatever the message shows, and
      // learns nothing about whether it is current.
      if (def.permission) {
        const decision = await policy.check({
          permission: typeof def.permission.name === 'function' ? await def.permission.name(value) : def.permission.name,
          user: ctx.userId,
          what: def.permission.what,
          ...(def.permission.subject ? { subject: await def.permission.subject(value) } : {}),
        });
        if (!decision.allowed) {
          ctx.tell(decision.message);
          return 'denied';
        }
      }
      if (await def.isStale?.(value)) {
        ctx.tell('This message has changed since it was drawn, so nothing was done. Please look at the updated message and try again.');
        return 'stale';
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
  /** Every click and modal submission is recorded: who, which element, how it ended. */
  audit: Pick<AuditLog, 'record'>;
  /** Where those rows (and answers told to the clicker) commit: the data layer itself (`data.db`), each on its own. */
  db: Executor;
  policy: Policy;
  outbox: Outbox;
  logger: Logger;
  metrics: Metrics;
  inflight: InflightWork;
  /** views.open on Slack's Web API. */
  openView: (triggerId: string, view: ModalView) => Promise<void>;
}

const viewSubmissionSchema = z.object({
  type: z.literal('view_submission'),
  user: z.object({ id: z.string().min(1) }),
  view: z.object({
    callback_id: z.string(),
    private_metadata: z.string().default(''),
    state: z.object({
      values: z.record(
        z.string(),
        z.record(
          z.string(),
          z.object({
            value: z.string().nullish(),
            selected_option: z.object({ value: z.string() }).nullish(),
            selected_options: z.array(z.object({ value: z.string() })).optional(),
            selected_user: z.string().nullish(),
          }),
        ),
      ),
    }),
  }),
});

/** block_id → the value of the (single) element in that input block. */
function fieldValues(values: z.infer<typeof viewSubmissionSchema>['view']['state']['values']): Record<string, FieldValue> {
  const fields: Record<string, FieldValue> = {};
  for (const [blockId, elements] of Object.entries(values)) {
    const element = Object.values(elements)[0];
    fields[blockId] = element?.selected_options
      ? element.selected_options.map((o) => o.value)
      : (element?.selected_option?.value ?? element?.selected_user ?? (element?.value === '' ? null : (element?.value ?? null)));
  }
  return fields;
}

/**
 * Every block action goes through here: validated, checked against the policy and handed to its action's
 * handler, which commits what the click changes; then acked, so a crash after the ack loses no click. A
 * payload the bot cannot act on is acked at once; a handler slower than the ack budget is acked at the
 * budget and finishes after. One middleware, because Bolt runs every listener's matcher on every request.
 */
export class Interactions {
  private readonly actions = new Map<string, Action>();
  private readonly views = new Map<string, View>();

  constructor(private readonly deps: InteractionDeps) {}

  add(actions: readonly Action[]): void {
    for (const action of actions) {
      if (this.actions.has(action.id)) throw new Error(`action ${action.id} registered twice`);
      this.actions.set(action.id, action);
    }
  }

  addViews(views: readonly View[]): void {
    for (const view of views) {
      if (this.views.has(view.callbackId)) throw new Error(`view ${view.callbackId} registered twice`);
      this.views.set(view.callbackId, view);
    }
  }

  register(app: App): void {
    // Middleware, not a listener: a block_actions body without `actions` matches no listener, and Bolt would
    // leave it unacked until its 3 s timeout.
    app.use(async (args) => {
      const body = args.body as { type?: unknown };
      if (body.type === 'view_submission') return this.onViewSubmission(body, (args as unknown as { ack: (r?: object) => Promise<void> }).ack);
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

  /** Validates and commits a modal submission before the ack, which closes the modal or shows field errors. */
  private async onViewSubmission(body: unknown, ack: (response?: object) => Promise<void>): Promise<void> {
    const { logger, metrics, policy, clock } = this.deps;
    const parsed = viewSubmissionSchema.safeParse(body);
    const view = parsed.success ? this.views.get(parsed.data.view.callback_id) : undefined;
    if (!parsed.success || !view) {
      await ack();
      logger.warn(
        parsed.success ? { callbackId: parsed.data.view.callback_id } : { problem: describe(parsed.error) },
        parsed.success ? 'modal submission with no handler ignored' : 'malformed view_submission payload ignored',
      );
      metrics.actions.inc({ action: parsed.success ? 'unknown' : 'malformed', outcome: 'ignored' });
      return;
    }
    const raw = { metadata: parsed.data.view.private_metadata, fields: fieldValues(parsed.data.view.state.values) };
    const answer = view.submit({ userId: parsed.data.user.id }, raw, { policy, logger }).catch((err: unknown): ViewAnswer => {
      const error = asWaygateError(err);
      logger.error({ err: error, code: error.code, callbackId: view.callbackId }, 'modal handler failed');
      return { close: false, errors: { [Object.keys(raw.fields)[0] ?? '']: 'Something went wrong saving this. It has been logged.' }, outcome: 'invalid' };
    });
    const result = await withinAckBudget(this.deps.inflight.track(answer), clock);
    if (result === 'late') {
      await ack();
      return;
    }
    metrics.actions.inc({ action: view.callbackId, outcome: result.done.outcome });
    this.record(parsed.data.user.id, view.callbackId, result.done.outcome);
    await (result.done.close ? ack() : ack({ response_action: 'errors', errors: result.done.errors }));
  }

  /**
   * The trail's row of an interaction; what it changed has rows of its own, written by its handler. Started here,
   * not waited for: the ack must not wait for the database. Tracked, so shutdown waits for it before closing.
   */
  private record(actor: string, element: string, outcome: string, value?: string): void {
    const { audit, db, inflight, logger } = this.deps;
    void inflight.track(
      audit
        .record(db, { actor, action: 'interaction', subject: element, details: { outcome, ...(value ? { value: value.slice(0, 200) } : {}) } })
        .catch((err: unknown) => logger.error({ err, element }, 'interaction could not be audited')),
    );
  }

  private async dispatch(payload: z.infer<typeof blockActionsSchema>): Promise<void> {
    const { logger, metrics, outbox, policy, db, inflight } = this.deps;
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
      // Queued in a transaction of its own, not waited for (the ack must not wait); tracked so shutdown waits for it.
      tell: (text) => {
        if (!responseUrl) return;
        void inflight.track(
          outbox.enqueue(db, { kind: 'respond', payload: { responseUrl, text } }).catch((err: unknown) => logger.error({ err, actionId: element.action_id }, 'answer to a click could not be queued')),
        );
      },
      openModal: async (view) => {
        if (!payload.trigger_id) throw new Error('this interaction carries no trigger_id to open a modal with');
        await this.deps.openView(payload.trigger_id, view);
      },
    };
    const raw = element.value ?? element.selected_option?.value ?? element.block_id ?? '';
    try {
      const outcome = await action.run(ctx, raw, { policy, logger });
      metrics.actions.inc({ action: action.id, outcome });
      // A value the bot could not read changed nothing and is logged as a warning; every other click is recorded.
      if (outcome !== 'malformed') this.record(ctx.userId, action.id, outcome, raw);
    } catch (err) {
      metrics.actions.inc({ action: action.id, outcome: 'error' });
      this.record(ctx.userId, action.id, 'error', raw);
      const error = asWaygateError(err);
      logger.error({ err: error, code: error.code, actionId: action.id }, 'interaction handler failed');
      ctx.tell('Something went wrong handling that click. It has been logged.');
    }
  }
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
}
