/**
 * Where a procedure run stands, and how it moves: pure transitions (state + input → new state + effects).
 * The engine commits the new state and every effect (messages, audit rows, deadlines, executions) in one
 * transaction, then starts what runs outside it (a script, a health check).
 */
import type { AutomaticTask, Setting, Definition, Guard, Step } from './definition.js';

export type RunStatus = 'active' | 'done' | 'failed' | 'aborted' | 'rejected' | 'expired';
export type StepStatus = 'pending' | 'active' | 'held' | 'running' | 'done' | 'skipped' | 'failed' | 'interrupted';

export interface Stamp {
  by: string;
  at: number;
  /** What the person entered with it (a checklist item's link). */
  value?: string;
}

export interface ScriptOutcome {
  executionId: number;
  exitCode: number | null;
  timedOut: boolean;
  cancelledBy: string | null;
  failedToStart: string | null;
  durationMs: number;
}

export interface StepState {
  status: StepStatus;
  startedAt?: number;
  finishedAt?: number;
  /** Checklist: who ticked each item, and when. */
  ticks?: Record<string, Stamp>;
  approvals?: Stamp[];
  rejection?: Stamp & { reason: string };
  /** Guards a lead set aside, with their reason. */
  overrides?: Array<Stamp & { guard: Guard; reason: string }>;
  /** Why the step is held (guards that block), shown on the run's message. */
  heldBy?: Array<{ guard: Guard; reason: string }>;
  script?: ScriptOutcome;
  /** Verify: what the health check said. */
  detail?: string;
  /** During a watch's first hour: whether the last close look failed. */
  probeFailing?: boolean;
  /** Checklist items Waygate does itself that could not be done: why, and when it tried. */
  automaticFailed?: Record<string, { at: number; detail: string }>;
  /** Who retried, skipped or aborted an interrupted or failed step. */
  decidedBy?: Stamp & { decision: 'retry' | 'skip' | 'abort' };
}

export interface RunState {
  status: RunStatus;
  /** Index of the current step (steps.length when done). */
  step: number;
  /** Bumped by every transition; buttons carry it, so a click on an older message is recognised. */
  revision: number;
  steps: StepState[];
  endedAt?: number;
  /** A finished run someone rolled back: the rollback's run. */
  rolledBack?: { runId: number; by: string; at: number };
}

export interface Run {
  id: number;
  definition: Definition;
  definitionHash: string;
  requester: string;
  params: Record<string, string>;
  channel: string;
  createdAt: number;
  state: RunState;
}

export type RunInput =
  | { type: 'start' }
  | { type: 'tick'; step: number; selected: readonly string[]; by: string; values?: Readonly<Record<string, string>> }
  | { type: 'approve'; step: number; by: string }
  | { type: 'reject'; step: number; by: string; reason: string }
  | { type: 'override'; step: number; by: string; reason: string }
  | { type: 'script_done'; step: number; outcome: ScriptOutcome }
  | { type: 'verify_done'; step: number; ok: boolean; detail: string }
  | { type: 'deadline'; step: number; what: DeadlineKind }
  | { type: 'interrupted'; step: number }
  /** A close look at the service during a watch's first hour. */
  | { type: 'probe_result'; step: number; ok: boolean; detail: string }
  | { type: 'decide'; step: number; decision: 'retry' | 'skip' | 'abort'; by: string }
  /** An automatic checklist item finished: ticked by Waygate with `detail`, or left open with the reason. */
  | { type: 'automatic_done'; step: number; item: string; ok: boolean; detail: string }
  | { type: 'cancel'; by: string };

export type DeadlineKind = 'remind' | 'escalate' | 'expire' | 'watch' | 'probe';

export type Effect =
  /** Redraw the run's message. */
  | { kind: 'render' }
  /** A line in the run's thread; `mention` lines are shown in the channel too (Slack notifies only then). */
  | { kind: 'thread'; text: string; broadcast?: boolean }
  | { kind: 'audit'; action: 'sop.started' | 'sop.step' | 'sop.approved' | 'sop.rejected' | 'sop.override' | 'sop.ended'; actor: string; details: Record<string, unknown> }
  | { kind: 'schedule'; step: number; what: DeadlineKind; at: number }
  | { kind: 'cancel_deadlines'; step: number }
  /** Do an automatic checklist item once the transaction has committed; its end comes back as an input. */
  | { kind: 'automatic'; step: number; item: string; task: AutomaticTask }
  /** Start the step's script once the transaction has committed. */
  | { kind: 'run_script'; step: number }
  /** Stop the step's running script (the whole process tree). */
  | { kind: 'kill_script'; step: number; by: string }
  | { kind: 'verify'; step: number }
  /** Check the service now (a watch's close look); the result comes back as `probe_result`. */
  | { kind: 'probe'; step: number }
  /** The watch after a deploy ended: a summary of the service since `since` goes to the thread. */
  | { kind: 'watch_summary'; step: number; since: number }
  | { kind: 'notify'; to: string; text: string }
  /** The run ended and its definition asks for a report: its timeline goes to the thread and as a file. */
  | { kind: 'report' };

/** What the engine knows of the world when a step is entered: the reason each guard blocks, or null. */
export interface TransitionContext {
  now: number;
  guards: (guard: Guard, run: Run) => string | null;
  /** Whether the YAML `scripts:` section has this script. */
  hasScript: (name: string) => boolean;
  /** Human words for a role list, e.g. "*lead*". */
  describeRoles: (roles: readonly string[]) => string;
  /** The duration of a setting a definition names (`approvals.hotfixReviewWithin`). */
  setting: (name: Setting) => number;
}

export type Refusal = { refused: string };
export type Transition = { state: RunState; effects: Effect[] } | Refusal;

/** During the first hour of a watch the service is checked every minute (SOP-OPS-001: monitor closely). */
export const PROBE_EVERY_MS = 60_000;
export const PROBE_FOR_MS = 60 * 60_000;

function formatAgo(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  return minutes < 1 ? 'under a minute' : `${minutes} min`;
}

export function initialState(definition: Definition): RunState {
  return { status: 'active', step: 0, revision: 0, steps: definition.steps.map(() => ({ status: 'pending' })) };
}

function clone(state: RunState): RunState {
  return structuredClone(state);
}

/** The roles that approve an approval step. */
export function approversOf(definition: Definition, step: Extract<Step, { kind: 'approval' }>): readonly string[] {
  return step.approvers ?? definition.permissions.approve ?? [];
}

/**
 * Applies one input. A refusal changes nothing and says why (a stale click, an approval by the requester,
 * a second approval of the same request); the caller answers the person with it.
 */
export function transition(run: Run, input: RunInput, ctx: TransitionContext): Transition {
  const state = clone(run.state);
  const effects: Effect[] = [];
  const { definition } = run;
  // A reminder step's post is due whatever came after it, unless the run was stopped.
  const reminder = input.type === 'deadline' && input.what === 'remind' && definition.steps[input.step]?.kind === 'remind';
  if (reminder) return remindLater(run, state, input.step);
  if (input.type !== 'start' && state.status !== 'active') return { refused: `This ${definition.title.toLowerCase()} has ended (${state.status}); nothing was done.` };
  const current = (step: number): StepState | Refusal => {
    if (step !== state.step) return { refused: 'That step is no longer the current one; nothing was done. The run’s message shows where it stands.' };
    return state.steps[step]!;
  };
  const enterNext = (): void => enter(run, state, state.step + 1, effects, ctx);

  switch (input.type) {
    case 'start':
      effects.push({ kind: 'audit', action: 'sop.started', actor: run.requester, details: { definition: definition.id, hash: run.definitionHash, params: run.params } });
      enter(run, state, 0, effects, ctx);
      break;
    case 'tick': {
      const s = current(input.step);
      if ('refused' in s) return s;
      const step = definition.steps[input.step]!;
      if (step.kind !== 'checklist' || s.status !== 'active') return { refused: 'That checklist is not open for ticking now.' };
      const ticks = s.ticks ?? {};
      const selected = new Set(input.selected);
      let changed = false;
      for (const item of step.items) {
        if (selected.has(item.id) && !ticks[item.id]) {
          const value = input.values?.[item.id];
          if (item.input && !value) return { refused: `“${item.text}” needs its link; tick it again and give the link.` };
          ticks[item.id] = { by: input.by, at: ctx.now, ...(value ? { value } : {}) };
          changed = true;
        } else if (!selected.has(item.id) && ticks[item.id]) {
          delete ticks[item.id];
          changed = true;
        }
      }
      s.ticks = ticks;
      if (!changed) return { state, effects: [] };
      effects.push({ kind: 'render' });
      completeChecklist(step, s, input.step, input.by, effects, ctx, enterNext);
      break;
    }
    case 'automatic_done': {
      const s = state.steps[input.step];
      const step = definition.steps[input.step];
      const item = step?.kind === 'checklist' ? step.items.find((i) => i.id === input.item) : undefined;
      // A person ticked it meanwhile, or the run moved on: their word stands.
      if (input.step !== state.step || step?.kind !== 'checklist' || !s || s.status !== 'active' || !item || s.ticks?.[item.id]) return { refused: 'moot' };
      effects.push({ kind: 'audit', action: 'sop.step', actor: 'waygate', details: { step: step.id, item: item.id, automatic: item.automatic, ok: input.ok, detail: input.detail } });
      if (!input.ok) {
        s.automaticFailed = { ...s.automaticFailed, [item.id]: { at: ctx.now, detail: input.detail } };
        effects.push({ kind: 'thread', text: `⚠️ ${item.text}: Waygate could not do it — ${input.detail}. Put it right and tick it by hand.`, broadcast: true });
        effects.push({ kind: 'render' });
        break;
      }
      if (s.automaticFailed) delete s.automaticFailed[item.id];
      s.ticks = { ...s.ticks, [item.id]: { by: 'waygate', at: ctx.now, value: input.detail } };
      effects.push({ kind: 'thread', text: `🤖 ${item.text}: done by Waygate — ${input.detail}` });
      effects.push({ kind: 'render' });
      completeChecklist(step, s, input.step, 'waygate', effects, ctx, enterNext);
      break;
    }
    case 'approve': {
      const s = current(input.step);
      const step = definition.steps[input.step];
      if (step?.kind !== 'approval') return { refused: 'There is no approval to give here.' };
      if ('refused' in s) {
        const done = run.state.steps[input.step];
        if (done?.approvals?.length) return { refused: `Already approved by ${done.approvals.map((a) => `<@${a.by}>`).join(', ')}; nothing more to do.` };
        return s;
      }
      if (s.status !== 'active') return { refused: 'This approval is not open now.' };
      if (step.notRequester && input.by === run.requester) return { refused: 'You requested this, so someone else must approve it (four-eyes rule); nothing was done.' };
      const approvals = s.approvals ?? [];
      if (approvals.some((a) => a.by === input.by)) return { refused: `You have approved this already; it needs ${step.count} different people.` };
      approvals.push({ by: input.by, at: ctx.now });
      s.approvals = approvals;
      effects.push({ kind: 'audit', action: 'sop.approved', actor: input.by, details: { step: step.id, requester: run.requester } });
      effects.push({ kind: 'thread', text: `✅ Approved by <@${input.by}>${step.count > 1 ? ` (${approvals.length} of ${step.count})` : ''}.` });
      effects.push({ kind: 'render' });
      if (approvals.length >= step.count) {
        s.status = 'done';
        s.finishedAt = ctx.now;
        effects.push({ kind: 'cancel_deadlines', step: input.step });
        enterNext();
      }
      break;
    }
    case 'reject': {
      const s = current(input.step);
      if ('refused' in s) return s;
      const step = definition.steps[input.step]!;
      if (step.kind !== 'approval' || s.status !== 'active') return { refused: 'There is no open approval to reject.' };
      s.status = 'failed';
      s.rejection = { by: input.by, at: ctx.now, reason: input.reason };
      effects.push({ kind: 'cancel_deadlines', step: input.step });
      effects.push({ kind: 'audit', action: 'sop.rejected', actor: input.by, details: { step: step.id, reason: input.reason, requester: run.requester } });
      effects.push({ kind: 'thread', text: `⛔ Rejected by <@${input.by}>: ${input.reason}` });
      end(state, 'rejected', input.by, ctx, effects);
      break;
    }
    case 'override': {
      const s = current(input.step);
      if ('refused' in s) return s;
      if (s.status !== 'held' || !s.heldBy?.length) return { refused: 'Nothing holds this step; nothing to override.' };
      s.overrides = [...(s.overrides ?? []), ...s.heldBy.map((h) => ({ guard: h.guard, by: input.by, at: ctx.now, reason: input.reason }))];
      effects.push({ kind: 'audit', action: 'sop.override', actor: input.by, details: { step: definition.steps[input.step]!.id, guards: s.heldBy.map((h) => h.guard), reason: input.reason } });
      effects.push({ kind: 'thread', text: `⚠️ <@${input.by}> overrode ${s.heldBy.map((h) => h.reason).join('; ')} — reason: ${input.reason}` });
      delete s.heldBy;
      enter(run, state, input.step, effects, ctx);
      break;
    }
    case 'script_done': {
      const s = current(input.step);
      if ('refused' in s) return s;
      if (s.status !== 'running') return { refused: 'That script is not running.' };
      s.script = input.outcome;
      s.finishedAt = ctx.now;
      const ok = input.outcome.exitCode === 0 && !input.outcome.timedOut && !input.outcome.cancelledBy && !input.outcome.failedToStart;
      effects.push({ kind: 'render' });
      if (ok) {
        s.status = 'done';
        enterNext();
      } else {
        s.status = 'failed';
        effects.push({ kind: 'audit', action: 'sop.step', actor: 'waygate', details: { step: definition.steps[input.step]!.id, outcome: input.outcome } });
        if (input.outcome.cancelledBy) end(state, 'aborted', input.outcome.cancelledBy, ctx, effects);
      }
      break;
    }
    case 'verify_done': {
      const s = current(input.step);
      if ('refused' in s) return s;
      if (s.status !== 'running') return { refused: 'That check is not running.' };
      s.detail = input.detail;
      s.finishedAt = ctx.now;
      s.status = input.ok ? 'done' : 'failed';
      effects.push({ kind: 'render' });
      if (input.ok) enterNext();
      break;
    }
    case 'deadline': {
      const s = state.steps[input.step];
      const step = definition.steps[input.step];
      if (input.what === 'watch') {
        if (input.step !== state.step || step?.kind !== 'watch' || s?.status !== 'running') return { refused: 'moot' };
        s.status = 'done';
        s.finishedAt = ctx.now;
        effects.push({ kind: 'watch_summary', step: input.step, since: s.startedAt ?? ctx.now });
        enterNext();
        break;
      }
      if (input.what === 'probe') {
        if (input.step !== state.step || step?.kind !== 'watch' || s?.status !== 'running') return { refused: 'moot' };
        return { state, effects: [{ kind: 'probe', step: input.step }] };
      }
      if (input.what === 'remind' && step?.kind === 'checklist') {
        if (input.step !== state.step || s?.status !== 'active' || !step.remindEvery) return { refused: 'moot' };
        const open = step.items.filter((item) => !s.ticks?.[item.id]);
        effects.push({ kind: 'notify', to: step.remindTo, text: `📋 ${step.title} is still open (${open.length} of ${step.items.length}): ${open.map((i) => i.text).join('; ')}.` });
        effects.push({ kind: 'schedule', step: input.step, what: 'remind', at: ctx.now + step.remindEvery });
        return { state, effects };
      }
      if (input.step !== state.step || step?.kind !== 'approval' || s?.status !== 'active') return { refused: 'moot' };
      const who = ctx.describeRoles(approversOf(definition, step));
      if (input.what === 'remind') effects.push({ kind: 'thread', text: `⏰ Still waiting for ${who} to approve (requested by <@${run.requester}>).`, broadcast: true });
      else if (input.what === 'escalate') effects.push({ kind: 'thread', text: `🚨 Nobody has approved this yet; ${who} please review it now.`, broadcast: true });
      else {
        s.status = 'failed';
        effects.push({ kind: 'thread', text: '⌛ The approval request expired; start a new one if it is still needed.' });
        end(state, 'expired', 'waygate', ctx, effects);
      }
      break;
    }
    case 'probe_result': {
      const s = state.steps[input.step];
      if (input.step !== state.step || s?.status !== 'running' || definition.steps[input.step]?.kind !== 'watch') return { refused: 'moot' };
      const was = s.probeFailing === true;
      s.probeFailing = !input.ok;
      if (!input.ok && !was) effects.push({ kind: 'thread', text: `⚠️ <@${run.requester}> the service failed a health check ${formatAgo(ctx.now - (s.startedAt ?? ctx.now))} after the deploy: ${input.detail}. Consider Rollback once the run completes, or act now.`, broadcast: true });
      if (input.ok && was) effects.push({ kind: 'thread', text: `✅ The service answers its health check again (${input.detail}).` });
      // A close look every minute for the first hour; the summary deadline covers the rest of the watch.
      if (ctx.now + PROBE_EVERY_MS <= (s.startedAt ?? ctx.now) + PROBE_FOR_MS) effects.push({ kind: 'schedule', step: input.step, what: 'probe', at: ctx.now + PROBE_EVERY_MS });
      return { state, effects };
    }
    case 'interrupted': {
      const s = state.steps[input.step];
      if (!s || s.status !== 'running') return { refused: 'moot' };
      s.status = 'interrupted';
      effects.push({ kind: 'thread', text: `⚠️ Waygate stopped while step ${input.step + 1} was running. It was not re-run: decide with Retry, Skip or Abort.`, broadcast: true });
      effects.push({ kind: 'render' });
      break;
    }
    case 'decide': {
      const s = current(input.step);
      if ('refused' in s) return s;
      if (s.status !== 'interrupted' && s.status !== 'failed') return { refused: 'That step is not waiting for a decision.' };
      s.decidedBy = { by: input.by, at: ctx.now, decision: input.decision };
      effects.push({ kind: 'audit', action: 'sop.step', actor: input.by, details: { step: definition.steps[input.step]!.id, decision: input.decision } });
      effects.push({ kind: 'thread', text: `<@${input.by}> chose *${input.decision}* for step ${input.step + 1}.` });
      if (input.decision === 'retry') {
        delete s.script;
        delete s.detail;
        enter(run, state, input.step, effects, ctx);
      } else if (input.decision === 'skip') {
        s.status = 'skipped';
        enterNext();
      } else end(state, 'aborted', input.by, ctx, effects);
      break;
    }
    case 'cancel': {
      const s = state.steps[state.step];
      if (s?.status === 'running' && definition.steps[state.step]?.kind === 'script') {
        // The script's end (killed) ends the run; the message says who stopped it.
        effects.push({ kind: 'kill_script', step: state.step, by: input.by });
        return { state, effects };
      }
      effects.push({ kind: 'cancel_deadlines', step: state.step });
      effects.push({ kind: 'thread', text: `🛑 Cancelled by <@${input.by}>.` });
      end(state, 'aborted', input.by, ctx, effects);
      break;
    }
  }
  state.revision++;
  if (run.state.status === 'active' && state.status !== 'active' && definition.report) effects.push({ kind: 'report' });
  return { state, effects };
}

/** Everything that happened in a run, oldest first: who ticked, approved, decided and ran what, when. */
export function timeline(run: Run): Array<{ at: number; who: string; what: string }> {
  const events: Array<{ at: number; who: string; what: string }> = [{ at: run.createdAt, who: run.requester, what: `started ${run.definition.title}` }];
  run.definition.steps.forEach((step, i) => {
    const s = run.state.steps[i];
    if (!s) return;
    if (step.kind === 'checklist') {
      for (const item of step.items) {
        const tick = s.ticks?.[item.id];
        if (tick) events.push({ at: tick.at, who: tick.by, what: `${step.title}: ${item.text}${tick.value ? ` (${tick.value})` : ''}` });
      }
    }
    for (const a of s.approvals ?? []) events.push({ at: a.at, who: a.by, what: `approved: ${step.title}` });
    if (s.rejection) events.push({ at: s.rejection.at, who: s.rejection.by, what: `rejected: ${s.rejection.reason}` });
    for (const o of s.overrides ?? []) events.push({ at: o.at, who: o.by, what: `overrode ${o.guard}: ${o.reason}` });
    if (s.decidedBy) events.push({ at: s.decidedBy.at, who: s.decidedBy.by, what: `${s.decidedBy.decision}: ${step.title}` });
    if (s.script && s.finishedAt !== undefined) events.push({ at: s.finishedAt, who: 'waygate', what: `${step.title}: exit ${s.script.exitCode ?? '?'}` });
  });
  if (run.state.endedAt !== undefined) events.push({ at: run.state.endedAt, who: 'waygate', what: `ended: ${run.state.status}` });
  return events.sort((a, b) => a.at - b.at);
}

/** A checklist whose every item is ticked is done, and the run goes on. */
function completeChecklist(
  step: Extract<Step, { kind: 'checklist' }>,
  s: StepState,
  index: number,
  by: string,
  effects: Effect[],
  ctx: TransitionContext,
  enterNext: () => void,
): void {
  const ticks = s.ticks ?? {};
  if (!step.items.every((item) => ticks[item.id])) return;
  s.status = 'done';
  s.finishedAt = ctx.now;
  effects.push({ kind: 'cancel_deadlines', step: index });
  effects.push({ kind: 'audit', action: 'sop.step', actor: by, details: { step: step.id, ticks } });
  enterNext();
}

function end(state: RunState, status: Exclude<RunStatus, 'active'>, by: string, ctx: TransitionContext, effects: Effect[]): void {
  state.status = status;
  state.endedAt = ctx.now;
  effects.push({ kind: 'audit', action: 'sop.ended', actor: by, details: { status } });
  effects.push({ kind: 'render' });
}

/** Enters step `index` (or ends the run past the last one): guards first, then what the kind does. */
function enter(run: Run, state: RunState, index: number, effects: Effect[], ctx: TransitionContext): void {
  const { definition } = run;
  state.step = index;
  effects.push({ kind: 'render' });
  const step = definition.steps[index];
  if (!step) {
    end(state, 'done', run.requester, ctx, effects);
    return;
  }
  const s = state.steps[index]!;
  s.startedAt = ctx.now;
  const overridden = new Set((s.overrides ?? []).map((o) => o.guard));
  const held = step.when.flatMap((guard) => {
    if (overridden.has(guard)) return [];
    const reason = ctx.guards(guard, run);
    return reason ? [{ guard, reason }] : [];
  });
  if (held.length > 0) {
    s.status = 'held';
    s.heldBy = held;
    effects.push({ kind: 'thread', text: `⏸️ Step ${index + 1} (${step.title}) is held: ${held.map((h) => h.reason).join('; ')}. A lead may override with a reason.`, broadcast: true });
    return;
  }
  switch (step.kind) {
    case 'checklist':
      s.status = 'active';
      if (step.remindEvery) effects.push({ kind: 'schedule', step: index, what: 'remind', at: ctx.now + step.remindEvery });
      for (const item of step.items) {
        if (item.automatic && !s.ticks?.[item.id]) effects.push({ kind: 'automatic', step: index, item: item.id, task: item.automatic });
      }
      return;
    case 'remind':
      s.status = 'done';
      s.finishedAt = ctx.now;
      effects.push({ kind: 'schedule', step: index, what: 'remind', at: ctx.now + step.after });
      enter(run, state, index + 1, effects, ctx);
      return;
    case 'approval': {
      s.status = 'active';
      const who = ctx.describeRoles(approversOf(definition, step));
      effects.push({ kind: 'thread', text: `🙋 <@${run.requester}> asks ${who} to approve: ${step.title}.`, broadcast: true });
      const after = (t: number | Setting): number => (typeof t === 'number' ? t : ctx.setting(t));
      if (step.remindAfter !== undefined) effects.push({ kind: 'schedule', step: index, what: 'remind', at: ctx.now + after(step.remindAfter) });
      if (step.escalateAfter !== undefined) effects.push({ kind: 'schedule', step: index, what: 'escalate', at: ctx.now + after(step.escalateAfter) });
      if (step.expiresAfter !== undefined) effects.push({ kind: 'schedule', step: index, what: 'expire', at: ctx.now + after(step.expiresAfter) });
      return;
    }
    case 'script':
      if (step.optional && !ctx.hasScript(step.script)) {
        s.status = 'skipped';
        s.finishedAt = ctx.now;
        s.detail = `skipped: \`${step.script}\` is not configured`;
        enter(run, state, index + 1, effects, ctx);
        return;
      }
      s.status = 'running';
      effects.push({ kind: 'run_script', step: index });
      return;
    case 'watch': {
      s.status = 'running';
      const ms = typeof step.for === 'number' ? step.for : ctx.setting(step.for);
      effects.push({ kind: 'schedule', step: index, what: 'watch', at: ctx.now + ms });
      effects.push({ kind: 'schedule', step: index, what: 'probe', at: ctx.now + PROBE_EVERY_MS });
      effects.push({ kind: 'thread', text: `👀 Watching the service until <!date^${Math.floor((ctx.now + ms) / 1000)}^{date_short_pretty} {time}|${new Date(ctx.now + ms).toISOString()}>; a summary follows here.` });
      return;
    }
    case 'verify':
      s.status = 'running';
      effects.push({ kind: 'verify', step: index });
      return;
    case 'notify':
      s.status = 'done';
      s.finishedAt = ctx.now;
      effects.push({ kind: 'notify', to: step.to, text: step.text });
      enter(run, state, index + 1, effects, ctx);
      return;
  }
}

/** A `remind` step's deadline: its message, unless the run was stopped (aborted, rejected, expired). */
function remindLater(run: Run, state: RunState, index: number): Transition {
  const step = run.definition.steps[index];
  if (step?.kind !== 'remind' || ['aborted', 'rejected', 'expired'].includes(state.status)) return { refused: 'moot' };
  return { state, effects: [{ kind: 'notify', to: step.to, text: step.text }] };
}
