import type { MessageContent } from '../outbox/types.js';
import { actions, button, checkboxes, confirm, context, section, type Block } from '../core/blocks.js';
import { escapeMrkdwn, formatDuration, mention, truncate } from '../core/text.js';
import { slackDate } from '../slack/format.js';
import { SOP_ACTIONS, rollbackValue, stepValue } from './actions.js';
import type { Step } from './definition.js';
import { approversOf, type Run, type StepState } from './run-state.js';

const STATUS_ICON: Record<StepState['status'], string> = {
  pending: '◻️',
  active: '👉',
  held: '⏸️',
  running: '⏳',
  done: '✅',
  skipped: '⏭️',
  failed: '❌',
  interrupted: '⚠️',
};

const RUN_HEADLINE: Record<Run['state']['status'], string> = {
  active: '',
  done: '✅ Completed',
  failed: '❌ Failed',
  aborted: '🛑 Aborted',
  rejected: '⛔ Rejected',
  expired: '⌛ Expired',
};

const ago = (at: number): string => slackDate(new Date(at), '{ago}');

/** What the current step waits for, in a few words. */
function waitingFor(run: Run, describeRoles: (roles: readonly string[]) => string): string {
  const { state, definition } = run;
  const step = definition.steps[state.step];
  const s = state.steps[state.step];
  if (!step || !s) return '';
  const since = s.startedAt !== undefined ? ` (since ${ago(s.startedAt)})` : '';
  switch (s.status) {
    case 'held':
      return `held: ${(s.heldBy ?? []).map((h) => h.reason).join('; ')} — a lead may override with a reason`;
    case 'interrupted':
      return 'interrupted: Waygate stopped while it ran; Retry, Skip or Abort';
    case 'failed':
      return 'failed: Retry, Skip or Abort';
    case 'running':
      return step.kind === 'script' ? `running \`${step.script}\`${since}` : step.kind === 'watch' ? `watching the service after the deploy${since}` : `checking the service${since}`;
    default:
      break;
  }
  switch (step.kind) {
    case 'checklist': {
      const left = step.items.filter((i) => !s.ticks?.[i.id]).length;
      return `waiting for the checklist (${left} of ${step.items.length} left)`;
    }
    case 'approval':
      return `waiting for ${describeRoles(approversOf(definition, step))} approval${step.count > 1 ? ` (${s.approvals?.length ?? 0} of ${step.count})` : ''} (requested ${s.startedAt !== undefined ? ago(s.startedAt) : ''} by <@${run.requester}>)`;
    default:
      return step.title;
  }
}

function stepLine(run: Run, step: Step, s: StepState, index: number): string {
  const parts = [`${STATUS_ICON[s.status]} ${index + 1}. ${escapeMrkdwn(step.title)}`];
  if (s.approvals?.length) parts.push(`approved by ${s.approvals.map((a) => `<@${a.by}> ${ago(a.at)}`).join(', ')}`);
  if (s.rejection) parts.push(`rejected by <@${s.rejection.by}>: ${escapeMrkdwn(truncate(s.rejection.reason, 200))}`);
  if (s.script) {
    const o = s.script;
    const how = o.failedToStart
      ? `could not start: ${escapeMrkdwn(o.failedToStart)}`
      : o.cancelledBy
        ? `cancelled by <@${o.cancelledBy}>`
        : o.timedOut
          ? 'timed out and was stopped'
          : `exit ${o.exitCode ?? '?'}`;
    parts.push(`${how} after ${formatDuration(o.durationMs)}`);
  }
  if (s.detail) parts.push(escapeMrkdwn(truncate(s.detail, 200)));
  if (s.overrides?.length) parts.push(s.overrides.map((o) => `overridden by <@${o.by}>: ${escapeMrkdwn(truncate(o.reason, 150))}`).join('; '));
  if (s.decidedBy) parts.push(`${s.decidedBy.decision} by <@${s.decidedBy.by}>`);
  return parts.join(' — ');
}

/** What was entered with a tick: a link (a change ticket), or what Waygate did for an automatic item. */
function tickValue(value: string | undefined): string {
  if (!value) return '';
  return /^https?:\/\//.test(value) ? ` (<${value}|link>)` : ` (${escapeMrkdwn(truncate(value, 300))})`;
}

/**
 * The run's one message: where it stands ("Step 3 of 7 — waiting for a lead's approval (requested 12 min
 * ago by @ana)"), every step with who did what and when, and the buttons of the current step.
 */
export function renderRun(run: Run, describeRoles: (roles: readonly string[]) => string): MessageContent {
  const { definition, state } = run;
  const total = definition.steps.length;
  const params = Object.entries(run.params)
    .map(([k, v]) => {
      const kind = definition.params[k];
      // A person is shown as a mention; a link as a link (both checked by their rule before the run began).
      if (kind === 'user') return `${k} <@${v}>`;
      if (kind === 'link') return `${k} <${v}|${escapeMrkdwn(truncate(v, 80))}>`;
      return `${k} \`${escapeMrkdwn(truncate(v, 100))}\``;
    })
    .join(', ');
  const title = `*${escapeMrkdwn(definition.title)}*${params ? ` (${params})` : ''} — run #${run.id}, started by ${mention(run.requester)} ${ago(run.createdAt)}`;
  const where =
    state.status === 'active'
      ? `*Step ${state.step + 1} of ${total}* — ${waitingFor(run, describeRoles)}`
      : `*${RUN_HEADLINE[state.status]}*${state.endedAt !== undefined ? ` ${ago(state.endedAt)}` : ''}`;
  const lines = definition.steps.map((step, i) => stepLine(run, step, state.steps[i]!, i));
  const blocks: Block[] = [section(`${title}\n${where}`), section(lines.join('\n'))];
  const step = definition.steps[state.step];
  const s = state.steps[state.step];
  if (state.status === 'active' && step && s) {
    const value = stepValue.encode({ run: run.id, step: state.step, rev: state.revision });
    if (step.kind === 'checklist' && s.status === 'active') {
      blocks.push({
        type: 'actions',
        block_id: value,
        elements: [
          checkboxes({
            actionId: SOP_ACTIONS.tick,
            options: step.items.map((item) => ({ text: item.text, value: item.id })),
            selected: Object.keys(s.ticks ?? {}),
          }),
        ],
      });
      const ticked = step.items.flatMap((item) => {
        const tick = s.ticks?.[item.id];
        return tick ? [`${escapeMrkdwn(item.text)}: ${mention(tick.by)} ${ago(tick.at)}${tickValue(tick.value)}`] : [];
      });
      if (ticked.length > 0) blocks.push(context(truncate(`Ticked — ${ticked.join(' · ')}`, 2000)));
      // Once someone ticks it by hand, the item's failure is history (the thread keeps it).
      const failed = Object.entries(s.automaticFailed ?? {}).filter(([id]) => !s.ticks?.[id]).map(([id, f]) => `${escapeMrkdwn(step.items.find((i) => i.id === id)?.text ?? id)}: Waygate could not do it ${ago(f.at)} — ${escapeMrkdwn(truncate(f.detail, 300))}`);
      if (failed.length > 0) blocks.push(context(truncate(`⚠️ ${failed.join(' · ')}`, 2000)));
    }
    const buttons = [];
    if (step.kind === 'approval' && s.status === 'active') {
      buttons.push(button({ actionId: SOP_ACTIONS.approve, text: 'Approve', style: 'primary', value }));
      buttons.push(button({ actionId: SOP_ACTIONS.reject, text: 'Reject', style: 'danger', value }));
    }
    if (s.status === 'held') buttons.push(button({ actionId: SOP_ACTIONS.override, text: 'Override…', value }));
    if (s.status === 'interrupted' || s.status === 'failed') {
      buttons.push(button({ actionId: SOP_ACTIONS.retry, text: 'Retry', style: 'primary', value }));
      buttons.push(button({ actionId: SOP_ACTIONS.skip, text: 'Skip', value }));
      buttons.push(button({ actionId: SOP_ACTIONS.abort, text: 'Abort', style: 'danger', value }));
    }
    if (s.status !== 'interrupted' && s.status !== 'failed') {
      buttons.push(
        button({
          actionId: SOP_ACTIONS.cancel,
          text: s.status === 'running' && step.kind === 'script' ? 'Cancel script' : 'Cancel',
          value,
          confirm: confirm({ title: 'Cancel this run?', text: s.status === 'running' ? 'The running script and everything it started is stopped.' : 'Nothing more of it will run.', confirm: 'Cancel it', deny: 'Keep it' }),
        }),
      );
    }
    blocks.push(actions(`sop-run:${run.id}:${state.revision}`, buttons));
  }
  if (state.status === 'done' && definition.rollback) {
    blocks.push(
      state.rolledBack
        ? context(`↩️ Rolled back by <@${state.rolledBack.by}> ${ago(state.rolledBack.at)} (run #${state.rolledBack.runId})`)
        : actions(`sop-done:${run.id}`, [
            button({
              actionId: SOP_ACTIONS.rollback,
              text: 'Rollback',
              style: 'danger',
              value: rollbackValue.encode({ run: run.id }),
              confirm: confirm({ title: 'Roll back?', text: `This starts \`${definition.rollback}\` with the same parameters.`, confirm: 'Roll back', deny: 'Keep it' }),
            }),
          ]),
    );
  }
  const text = `${definition.title} run #${run.id}: ${state.status === 'active' ? `step ${state.step + 1} of ${total}` : state.status}`;
  return { text, blocks };
}
