import { z } from 'zod';
import { defineAction, defineView, type Action, type ActionContext, type View } from '../core/interactions.js';
import type { Policy } from '../core/policy.js';
import { modal, section, textInput } from '../core/blocks.js';
import { escapeMrkdwn } from '../core/text.js';
import { SOP_ACTIONS, SOP_VIEWS, rollbackValue, startValue, stepValue, tickMetadata, type StepValue } from './actions.js';
import type { SopEngine } from './engine.js';
import type { Run, RunInput } from './run-state.js';
import { sopPermissions } from './permissions.js';
import { PARAM_RULES } from './scripts.js';

const reasonField = (blockId: string) =>
  z.object({ [blockId]: z.string({ message: 'Give a reason' }).trim().min(3, { message: 'Give a reason (a few words)' }).max(500, { message: 'At most 500 characters' }) });

/**
 * The buttons and checkboxes of a run's message. Each carries run, step and revision: a click on a message
 * drawn before the run moved on is answered politely and changes nothing; the engine's transitions decide
 * the rest (four-eyes, a second approval) and their refusals are told to the clicker.
 */
export function sopActions(engine: SopEngine, policy: Policy): { actions: Action[]; views: View[] } {
  const runOf = (v: StepValue): Promise<Run | undefined> => engine.get(v.run);
  const defOf = async (v: StepValue): Promise<string> => (await runOf(v))?.definition.id ?? 'unknown';
  const stale = async (v: StepValue): Promise<boolean> => {
    const run = await runOf(v);
    return !run || run.state.revision !== v.rev;
  };
  const applyAndTell = async (ctx: ActionContext, v: StepValue, input: RunInput): Promise<void> => {
    const outcome = await engine.apply(v.run, input);
    if (!outcome.ok) ctx.tell(outcome.problem);
  };
  /** The requester may cancel their own run; anyone else needs the approve permission (a lead). */
  const requesterOrApprover = async (ctx: ActionContext, v: StepValue, what: string): Promise<boolean> => {
    const run = await runOf(v);
    if (!run) return false;
    if (run.requester === ctx.userId) return true;
    const decision = await policy.check({ permission: sopPermissions(run.definition.id).approve, user: ctx.userId, what, subject: `${run.definition.id} #${run.id}` });
    if (!decision.allowed) ctx.tell(decision.message);
    return decision.allowed;
  };
  const stepAction = (id: string, permission: 'start' | 'approve', what: string, input: (ctx: ActionContext, v: StepValue) => RunInput) =>
    defineAction({
      id,
      value: stepValue.schema,
      permission: { name: async (v) => sopPermissions(await defOf(v))[permission], what, subject: async (v) => `${await defOf(v)} #${v.run}` },
      handle(ctx, v) {
        return applyAndTell(ctx, v, input(ctx, v));
      },
    });

  const actions: Action[] = [
    defineAction({
      id: SOP_ACTIONS.tick,
      value: stepValue.schema,
      permission: { name: async (v) => sopPermissions(await defOf(v)).start, what: 'ticking this checklist', subject: async (v) => `${await defOf(v)} #${v.run}` },
      // Ticks are checked against the run's current state, not the revision: two people ticking different
      // boxes of one checklist at once must both count.
      async handle(ctx, v) {
        const run = await runOf(v);
        const step = run?.definition.steps[v.step];
        const ticks = run?.state.steps[v.step]?.ticks ?? {};
        // Newly ticked items that need a link (a change ticket) ask for it first; the tick waits for the modal.
        const needing = step?.kind === 'checklist' ? step.items.filter((item) => item.input && ctx.selected.includes(item.id) && !ticks[item.id]) : [];
        if (run && needing.length > 0 && run.state.step === v.step) {
          await ctx.openModal(
            modal({
              callbackId: SOP_VIEWS.itemInputs,
              title: 'Links',
              submit: 'Tick',
              metadata: tickMetadata.encode({ ...v, selected: ctx.selected.slice(0, 10) }),
              blocks: needing.map((item) => textInput({ blockId: item.id, label: `${item.text}: link`, placeholder: 'https://…' })),
            }),
          );
          return;
        }
        await applyAndTell(ctx, v, { type: 'tick', step: v.step, selected: ctx.selected, by: ctx.userId });
      },
    }),
    defineAction({
      id: SOP_ACTIONS.start,
      value: startValue.schema,
      permission: { name: (v) => sopPermissions(v.definition).start, what: 'starting this procedure', subject: (v) => v.definition },
      async handle(ctx, v) {
        const started = await engine.start({ definitionId: v.definition, requester: ctx.userId, params: {} });
        ctx.tell(started.ok ? `Started *${started.run.definition.title}* run #${started.run.id}; follow it in <#${started.run.channel}>.` : started.problem);
      },
    }),
    defineAction({
      id: SOP_ACTIONS.rollback,
      value: rollbackValue.schema,
      permission: { name: async (v) => sopPermissions((await engine.get(v.run))?.definition.id ?? 'unknown').approve, what: 'rolling back', subject: (v) => `run #${v.run}` },
      async handle(ctx, v) {
        const started = await engine.rollback(v.run, ctx.userId);
        if (!started.ok) ctx.tell(started.problem);
      },
    }),
    // Approval is judged on the run's state (already approved? by the requester?), so a second click says why.
    stepAction(SOP_ACTIONS.approve, 'approve', 'approving this', (ctx, v) => ({ type: 'approve', step: v.step, by: ctx.userId })),
    defineAction({
      id: SOP_ACTIONS.reject,
      value: stepValue.schema,
      permission: { name: async (v) => sopPermissions(await defOf(v)).approve, what: 'rejecting this', subject: async (v) => `${await defOf(v)} #${v.run}` },
      isStale: stale,
      async handle(ctx, v) {
        const run = await runOf(v);
        if (!run) return;
        await ctx.openModal(
          modal({
            callbackId: SOP_VIEWS.reject,
            title: 'Reject',
            submit: 'Reject',
            metadata: stepValue.encode(v),
            blocks: [section(`Reject *${escapeMrkdwn(run.definition.title)}* run #${run.id} of <@${run.requester}>?`), textInput({ blockId: 'reason', label: 'Why', multiline: true })],
          }),
        );
      },
    }),
    defineAction({
      id: SOP_ACTIONS.override,
      value: stepValue.schema,
      permission: { name: async (v) => sopPermissions(await defOf(v)).approve, what: 'overriding a hold', subject: async (v) => `${await defOf(v)} #${v.run}` },
      isStale: stale,
      async handle(ctx, v) {
        const run = await runOf(v);
        if (!run) return;
        const held = run.state.steps[v.step]?.heldBy ?? [];
        await ctx.openModal(
          modal({
            callbackId: SOP_VIEWS.override,
            title: 'Override',
            submit: 'Override',
            metadata: stepValue.encode(v),
            blocks: [section(`Go ahead despite: ${held.map((h) => escapeMrkdwn(h.reason)).join('; ')}? The reason is recorded in the audit trail.`), textInput({ blockId: 'reason', label: 'Reason', multiline: true })],
          }),
        );
      },
    }),
    defineAction({
      id: SOP_ACTIONS.cancel,
      value: stepValue.schema,
      isStale: stale,
      async handle(ctx, v) {
        if (await requesterOrApprover(ctx, v, 'cancelling this run')) await applyAndTell(ctx, v, { type: 'cancel', by: ctx.userId });
      },
    }),
    ...(['retry', 'skip', 'abort'] as const).map((decision) =>
      defineAction({
        id: SOP_ACTIONS[decision],
        value: stepValue.schema,
        permission: { name: async (v: StepValue) => sopPermissions(await defOf(v)).approve, what: `${decision} for this step`, subject: async (v: StepValue) => `${await defOf(v)} #${v.run}` },
        isStale: stale,
        handle(ctx: ActionContext, v: StepValue) {
          return applyAndTell(ctx, v, { type: 'decide', step: v.step, decision, by: ctx.userId });
        },
      }),
    ),
  ];

  const views: View[] = [
    defineView({
      callbackId: SOP_VIEWS.itemInputs,
      metadata: tickMetadata.schema,
      fields: z.record(z.string(), z.union([z.string(), z.array(z.string()), z.null()])),
      async handle(ctx, m, fields) {
        const run = await engine.get(m.run);
        if (!run) return { errors: {} };
        const errors: Record<string, string> = {};
        const values: Record<string, string> = {};
        for (const [item, value] of Object.entries(fields)) {
          const link = typeof value === 'string' ? value.trim() : '';
          if (!PARAM_RULES.link.check(link)) errors[item] = 'Give an http(s) link';
          else values[item] = link;
        }
        if (Object.keys(errors).length > 0) return { errors };
        const decision = await policy.check({ permission: sopPermissions(run.definition.id).start, user: ctx.userId, what: 'ticking this checklist', subject: `${run.definition.id} #${run.id}` });
        const first = Object.keys(fields)[0] ?? '';
        if (!decision.allowed) return { errors: { [first]: decision.message } };
        const outcome = await engine.apply(m.run, { type: 'tick', step: m.step, selected: m.selected, by: ctx.userId, values });
        return outcome.ok ? undefined : { errors: { [first]: outcome.problem } };
      },
    }),
    defineView({
      callbackId: SOP_VIEWS.reject,
      metadata: stepValue.schema,
      fields: reasonField('reason'),
      async handle(ctx, v, fields) {
        const run = await runOf(v);
        if (!run) return { errors: { reason: 'That run is gone.' } };
        return decideInModal(engine, policy, ctx.userId, run, v, { type: 'reject', step: v.step, by: ctx.userId, reason: String(fields.reason) }, 'rejecting this');
      },
    }),
    defineView({
      callbackId: SOP_VIEWS.override,
      metadata: stepValue.schema,
      fields: reasonField('reason'),
      async handle(ctx, v, fields) {
        const run = await runOf(v);
        if (!run) return { errors: { reason: 'That run is gone.' } };
        return decideInModal(engine, policy, ctx.userId, run, v, { type: 'override', step: v.step, by: ctx.userId, reason: String(fields.reason) }, 'overriding a hold');
      },
    }),
  ];
  return { actions, views };
}

/** A decision submitted in a modal: checked again (the modal may have been open a while), then applied. */
async function decideInModal(engine: SopEngine, policy: Policy, user: string, run: Run, v: StepValue, input: RunInput, what: string): Promise<void | { errors: Record<string, string> }> {
  const decision = await policy.check({ permission: sopPermissions(run.definition.id).approve, user, what, subject: `${run.definition.id} #${run.id}` });
  if (!decision.allowed) return { errors: { reason: decision.message } };
  const outcome = await engine.apply(v.run, input);
  return outcome.ok ? undefined : { errors: { reason: outcome.problem } };
}
