import type { Transaction } from 'kysely';
import { afterCommit, isUniqueViolation, type DataLayer, type Executor, type Schema } from '../db/data-layer.js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { Outbox } from '../outbox/outbox.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Deadlines, DueDeadline } from '../core/deadlines.js';
import type { Executions } from '../core/executions.js';
import type { ProcessRunner, RunResult } from '../runner/runner.js';
import { escapeMrkdwn, formatDuration, truncate } from '../core/text.js';
import type { AutomaticTask, Definition, Setting, Guard, PinnedDefinition } from './definition.js';
import { buildArgv, paramProblem, type ScriptSpec } from './scripts.js';
import { initialState, timeline, transition, type DeadlineKind, type Effect, type Run, type RunInput, type ScriptOutcome } from './run-state.js';
import type { EnvironmentHolder, RunStore } from './run-store.js';
import { renderRun } from './run-message.js';
import { messageKeys, type MessageKey } from '../core/keys.js';
import { messageUrl } from '../slack/format.js';

/** The deadline owner of procedure reminders, escalations and expiries. */
export const SOP_DEADLINES = 'sop-run';
/** The execution kind of a procedure's script step. */
export const SCRIPT_EXECUTION = 'sop-script';
/** How long the alert cards' "recent changes" line is reused before it is read again. */
const RECENT_CHANGES_TTL_MS = 1_000;
/** Live output is redrawn at most this often (Slack's chat.update is rate limited, and people read slowly). */
export const OUTPUT_REFRESH_MS = 1_000;
/** Lines of output shown in the thread while a script runs. */
const TAIL_LINES = 20;
/** A Slack section takes 3,000 characters; the code block and the status line need some of them. */
const TAIL_CHARS = 2_600;
const VERIFY_TIMEOUT_MS = 10_000;
const VERIFY_INTERVAL_MS = 5_000;

export interface SopEngineOptions {
  data: DataLayer;
  /** This replica's name, recorded on the scripts it runs (decision 021). */
  replica?: string;
  /** Which of these replicas still run: their scripts are not marked interrupted at recovery. */
  liveReplicas?: (names: string[]) => Promise<ReadonlySet<string>>;
  clock: Clock;
  logger: Logger;
  outbox: Outbox;
  audit: AuditLog;
  deadlines: Deadlines;
  executions: Executions;
  runner: ProcessRunner;
  store: RunStore;
  definitions: ReadonlyMap<string, PinnedDefinition>;
  /** Channel aliases → ids. */
  channels: Readonly<Record<string, string | undefined>>;
  scripts: Readonly<Record<string, ScriptSpec>>;
  /** The service health URL the `verify` steps check. */
  healthUrl: string;
  /** Why a guard blocks now for this run, or null; read in the caller's transaction `ex`. */
  guards: (guard: Guard, run: Run, ex: Executor) => string | null | Promise<string | null>;
  /** One health check for a watch's close look, not recorded as a sample (it would skew uptime coverage). */
  probe: () => Promise<{ ok: boolean; detail: string }>;
  /** The watch after a deploy: what the service did since `since` (uptime, error lines, incidents opened). */
  watchSummary: (ex: Executor, since: number, until: number) => Promise<string>;
  describeRoles: (roles: readonly string[]) => string;
  /** YAML `approvals:` settings a definition may name. */
  settings: Readonly<Record<Setting, number>>;
  /** Checklist items Waygate does itself; an item whose task is missing here is left to a person. */
  automatic?: Partial<Record<AutomaticTask, (run: Run) => Promise<{ ok: boolean; detail: string }>>>;
  /**
   * Shares a text file in a thread (output too long for a message) in the caller's transaction `ex`; absent:
   * the output is cut, and says so.
   */
  shareFile?: (ex: Executor, opts: { channel: string; threadKey: MessageKey; filename: string; title: string; content: string }) => Promise<void>;
}

export interface StartOptions {
  definitionId: string;
  requester: string;
  params: Record<string, string>;
  /** A line posted in the run's thread as it starts. */
  note?: string;
  /**
   * Only these steps of the definition, under this title (the compliance calendar posts the monthly list of
   * SOP-COMP-001 on its own). The run pins the part, so its message and report show just that.
   */
  part?: { steps?: readonly string[]; title: string };
}

export type StartOutcome = { ok: true; run: Run } | { ok: false; problem: string };
export type ApplyOutcome = { ok: true; run: Run } | { ok: false; problem: string };

/**
 * Runs procedures: starts runs, applies inputs (clicks, deadlines, script and check results) through the
 * pure transitions, and commits each new state with everything it causes in one transaction. Scripts and
 * health checks run after that commit; their results come back as inputs.
 */
export class SopEngine {
  private readonly running = new Map<string, AbortController>();
  private recentChanges: { at: number; line: string } | undefined;
  private readonly work = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(private readonly opts: SopEngineOptions) {
    opts.deadlines.on(SOP_DEADLINES, (due, now, tx) => this.onDeadlines(due, now, tx));
  }

  definition(id: string): PinnedDefinition | undefined {
    return this.opts.definitions.get(id);
  }

  /** Every definition, in file order. */
  definitions(): Definition[] {
    return [...this.opts.definitions.values()].map((p) => p.definition);
  }

  /** The SOP catalog: definitions that stand for one SOP of the manual (those with a category), by SOP id. */
  catalog(): Definition[] {
    return this.definitions()
      .filter((d) => d.category !== undefined && d.sop !== undefined)
      .sort((a, b) => (a.sop ?? '').localeCompare(b.sop ?? ''));
  }

  /** A run, read in the caller's transaction `ex` when given. */
  async get(runId: number, ex: Executor = this.opts.data.db): Promise<Run | undefined> {
    return this.opts.store.get(ex, runId);
  }

  async active(ex: Executor = this.opts.data.db): Promise<Run[]> {
    return this.opts.store.active(ex);
  }

  /**
   * Production changes of the last 24 hours, for alert cards (SOP-MON-001: "check recent changes"): each
   * run with its version or ref, who, when, and a link to its thread. Empty when there were none.
   */
  async recentChangesLine(ex: Executor = this.opts.data.db): Promise<string> {
    const now = this.opts.clock.nowMs();
    const cached = this.cachedRecentChanges(now);
    if (cached !== undefined) return cached;
    const line = await this.describeRecentChanges(ex, await this.opts.store.changedSince(ex, 'production', now - 24 * 3_600_000));
    this.recentChanges = { at: now, line };
    return line;
  }

  private cachedRecentChanges(now: number): string | undefined {
    // Alert cards ask on every render, and a webhook flood renders many: one read a second is enough, and a
    // production run's change clears it at once.
    const cached = this.recentChanges;
    return cached && now - cached.at < RECENT_CHANGES_TTL_MS && now >= cached.at ? cached.line : undefined;
  }

  private async describeRecentChanges(ex: Executor, changed: readonly Run[]): Promise<string> {
    const runs = changed.slice(0, 3);
    if (runs.length === 0) return '';
    const parts: string[] = [];
    for (const r of runs) {
      const what = r.params.version ?? r.params.ref ?? '';
      const where = await this.opts.outbox.delivered(messageKeys.sopRun(r.id), ex);
      const label = `${r.definition.title} \`${what}\` by <@${r.requester}> <!date^${Math.floor(r.createdAt / 1000)}^{ago}|${new Date(r.createdAt).toISOString()}>`;
      parts.push(where ? `${label} (<${messageUrl(where)}|thread>)` : label);
    }
    return `Recent changes: ${parts.join('; ')}`;
  }

  /** The newest runs of these procedures, newest first. */
  async recent(definitionIds: readonly string[], limit: number): Promise<Run[]> {
    return this.opts.store.recent(this.opts.data.db, definitionIds, limit);
  }

  /**
   * Starts a run of a definition: its parameters are checked first (a refused value starts nothing), then
   * the run, its message and its first step commit together: in the caller's transaction `ex` when it is
   * one, else in one of its own.
   */
  async start(opts: StartOptions, ex: Executor = this.opts.data.db): Promise<StartOutcome> {
    const pinned = this.opts.definitions.get(opts.definitionId);
    if (!pinned) return { ok: false, problem: `There is no procedure \`${opts.definitionId}\`.` };
    const definition = opts.part ? partOf(pinned.definition, opts.part) : pinned.definition;
    if (definition.steps.length === 0) return { ok: false, problem: `\`${opts.definitionId}\` has none of the steps ${opts.part?.steps?.join(', ') ?? ''}.` };
    for (const [name, kind] of Object.entries(definition.params)) {
      const value = opts.params[name];
      if (value === undefined) return { ok: false, problem: `\`${name}\` is missing.` };
      const problem = paramProblem(name, kind, value);
      if (problem) return { ok: false, problem: `Refused: ${problem}. Nothing was started.` };
    }
    for (const step of definition.steps) {
      if (step.kind !== 'script') continue;
      const spec = this.opts.scripts[step.script];
      if (!spec && step.optional) continue;
      if (!spec) return { ok: false, problem: `The script \`${step.script}\` is not in the \`scripts:\` section of the config; nothing was started.` };
      const built = buildArgv(spec, opts.params, definition.params);
      if ('problem' in built) return { ok: false, problem: `Refused: ${built.problem}. Nothing was started.` };
    }
    const channel = this.opts.channels[definition.channel];
    if (!channel) return { ok: false, problem: `The channel \`${definition.channel}\` of this procedure is not configured under \`channels:\`.` };
    const now = this.opts.clock.nowMs();
    const { data, store } = this.opts;
    const held = (holder: EnvironmentHolder | undefined): StartOutcome => ({
      ok: false,
      problem: holder
        ? `\`${definition.environment}\` is held by run #${holder.runId} (${holder.title}) of <@${holder.requester}> since <!date^${Math.floor(holder.since / 1000)}^{date_short_pretty} {time}|${new Date(holder.since).toISOString()}>; one run per environment at a time.`
        : `\`${definition.environment}\` is held by another run.`,
    });
    try {
      return await data.within(ex, async (tx): Promise<StartOutcome> => {
        // One open run per environment: checked first, so a refusal leaves the transaction usable (on
        // PostgreSQL a refused insert would abort it); the unique index still decides a race.
        if (definition.environment !== undefined) {
          const holder = await store.holderOf(tx, definition.environment);
          if (holder) return held(holder);
        }
        const draft: Omit<Run, 'id'> = { definition, definitionHash: pinned.hash, requester: opts.requester, params: opts.params, channel, createdAt: now, state: initialState(definition) };
        const id = await store.insert(tx, draft, definition.environment ?? null, now);
        const run: Run = { ...draft, id };
        await this.opts.outbox.enqueue(tx, { kind: 'post', payload: { channel, ...renderRun(run, this.opts.describeRoles) }, messageKey: messageKeys.sopRun(id) });
        if (opts.note) await this.opts.outbox.enqueue(tx, { kind: 'post', payload: { channel, text: opts.note, threadKey: messageKeys.sopRun(id) } });
        const applied = await this.commit(tx, run, { type: 'start' }, now);
        return applied.ok ? applied : { ok: false, problem: applied.problem };
      });
    } catch (err) {
      // Another start took the environment between the check and the insert. Inside a caller's transaction
      // the error is theirs: their transaction failed with it.
      if (ex.isTransaction || definition.environment === undefined || !isUniqueViolation(err)) throw err;
      return held(await store.holderOf(data.db, definition.environment));
    }
  }

  /**
   * **Rollback** on a finished run: starts its definition's rollback procedure with the same parameters and
   * marks the run as rolled back, in one transaction.
   */
  async rollback(runId: number, by: string): Promise<StartOutcome> {
    const { data, store, clock } = this.opts;
    return data.transaction(async (tx): Promise<StartOutcome> => {
      const run = await store.getForUpdate(tx, runId);
      const target = run?.definition.rollback;
      if (!run || !target) return { ok: false, problem: 'This run offers no rollback.' };
      if (run.state.status !== 'done') return { ok: false, problem: 'Only a completed run can be rolled back.' };
      if (run.state.rolledBack) return { ok: false, problem: `Run #${run.id} was already rolled back by <@${run.state.rolledBack.by}> (run #${run.state.rolledBack.runId}).` };
      const started = await this.start({ definitionId: target, requester: by, params: run.params, note: `↩️ Rollback of ${run.definition.title.toLowerCase()} run #${run.id}, asked for by <@${by}>.` }, tx);
      if (!started.ok) return started;
      const now = clock.nowMs();
      const state = { ...run.state, rolledBack: { runId: started.run.id, by, at: now }, revision: run.state.revision + 1 };
      await store.save(tx, run.id, state, now);
      await this.opts.audit.record(tx, { actor: by, action: 'sop.step', subject: `${run.definition.id} #${run.id}`, details: { rollback: started.run.id } });
      await this.opts.outbox.enqueue(tx, { kind: 'update', payload: { channel: run.channel, messageKey: messageKeys.sopRun(run.id), ...renderRun({ ...run, state }, this.opts.describeRoles) } });
      await this.opts.outbox.enqueue(tx, { kind: 'post', payload: { channel: run.channel, text: `↩️ <@${by}> started a rollback: run #${started.run.id}.`, threadKey: messageKeys.sopRun(run.id), broadcast: true } });
      return started;
    });
  }

  /**
   * Applies one input to a run in one transaction (the caller's `ex` when it is one); a refusal changes
   * nothing and says why.
   */
  async apply(runId: number, input: RunInput, ex: Executor = this.opts.data.db): Promise<ApplyOutcome> {
    const { data, store, clock } = this.opts;
    return data.within(ex, async (tx): Promise<ApplyOutcome> => {
      const run = await store.getForUpdate(tx, runId);
      if (!run) return { ok: false, problem: `There is no run #${runId}.` };
      return this.commit(tx, run, input, clock.nowMs());
    });
  }

  /** Inside a transaction: the transition, the new state and every effect that is a row. */
  private async commit(tx: Transaction<Schema>, run: Run, input: RunInput, now: number): Promise<ApplyOutcome> {
    // The transitions are pure and synchronous: the guards of the definition's steps are read first, in this
    // transaction, and answered from here (reading them changes nothing).
    const guarded = new Map<Guard, string | null>();
    for (const step of run.definition.steps) {
      for (const guard of step.when) if (!guarded.has(guard)) guarded.set(guard, await this.opts.guards(guard, run, tx));
    }
    const result = transition(run, input, {
      now,
      guards: (guard) => guarded.get(guard) ?? null,
      hasScript: (name) => Object.hasOwn(this.opts.scripts, name),
      describeRoles: this.opts.describeRoles,
      setting: (name) => this.opts.settings[name],
    });
    if ('refused' in result) return { ok: false, problem: result.refused };
    const next: Run = { ...run, state: result.state };
    await this.opts.store.save(tx, run.id, result.state, now);
    if (run.definition.environment === 'production') this.recentChanges = undefined;
    const after: Array<() => void> = [];
    for (const effect of result.effects) await this.effect(tx, next, effect, now, after);
    // What runs outside the transaction starts once it has committed (the caller's transaction ends first).
    if (after.length > 0) afterCommit(tx, () => after.forEach((fn) => fn()));
    return { ok: true, run: next };
  }

  private async effect(tx: Transaction<Schema>, run: Run, effect: Effect, now: number, after: Array<() => void>): Promise<void> {
    const { outbox, audit, deadlines, executions } = this.opts;
    const threadKey = messageKeys.sopRun(run.id);
    switch (effect.kind) {
      case 'render':
        await outbox.enqueue(tx, { kind: 'update', payload: { channel: run.channel, messageKey: threadKey, ...renderRun(run, this.opts.describeRoles) } });
        return;
      case 'thread':
        await outbox.enqueue(tx, { kind: 'post', payload: { channel: run.channel, text: effect.text, threadKey, ...(effect.broadcast ? { broadcast: true } : {}) } });
        return;
      case 'audit':
        await audit.record(tx, { actor: effect.actor, action: effect.action, subject: `${run.definition.id} #${run.id}`, details: effect.details });
        return;
      case 'schedule':
        await deadlines.schedule(tx, SOP_DEADLINES, deadlineKey(run.id, effect.step, effect.what), effect.at);
        return;
      case 'cancel_deadlines':
        for (const what of ['remind', 'escalate', 'expire', 'watch', 'probe'] as const) await deadlines.cancel(tx, SOP_DEADLINES, deadlineKey(run.id, effect.step, what));
        return;
      case 'notify': {
        const channel = effect.to === 'requester' ? run.requester : this.opts.channels[effect.to];
        if (channel) await outbox.enqueue(tx, { kind: 'post', payload: { channel, text: `${effect.text} (${run.definition.title} run #${run.id})` } });
        else await outbox.enqueue(tx, { kind: 'post', payload: { channel: run.channel, text: `⚠️ \`channels.${effect.to}\` is not configured, so nobody was notified there.`, threadKey } });
        return;
      }
      case 'run_script': {
        const step = run.definition.steps[effect.step];
        if (step?.kind !== 'script') return;
        const executionId = await executions.start(tx, {
          kind: SCRIPT_EXECUTION,
          name: `${run.id}:${effect.step}`,
          trigger: 'manual',
          by: run.requester,
          at: now,
          ...(this.opts.replica === undefined ? {} : { runner: this.opts.replica }),
        });
        const outputKey = messageKeys.sopOutput(run.id, effect.step, executionId);
        await outbox.enqueue(tx, { kind: 'post', payload: { channel: run.channel, text: `⏳ \`${step.script}\` started…`, threadKey }, messageKey: outputKey });
        after.push(() => this.runScript(run, effect.step, executionId));
        return;
      }
      case 'automatic': {
        const task = this.opts.automatic?.[effect.task];
        if (task) after.push(() => this.runAutomatic(run, effect.step, effect.item, task));
        return;
      }
      case 'kill_script':
        after.push(() => this.running.get(`${run.id}:${effect.step}`)?.abort(effect.by));
        return;
      case 'verify':
        after.push(() => this.verify(run, effect.step));
        return;
      case 'probe':
        after.push(() => {
          const task = this.opts
            .probe()
            .catch((err: unknown) => ({ ok: false, detail: (err as Error).message }))
            .then((r) => {
              if (!this.stopping) return this.apply(run.id, { type: 'probe_result', step: effect.step, ok: r.ok, detail: r.detail });
            })
            .catch((err: unknown) => this.opts.logger.error({ err, runId: run.id }, 'procedure probe result not applied'));
          this.track(task);
        });
        return;
      case 'report': {
        const events = timeline(run);
        const when = (at: number) => `${new Date(at).toISOString().replace('T', ' ').slice(0, 16)} UTC`;
        const params = Object.entries(run.params).map(([k, v]) => `${k}: ${v}`).join(', ');
        const markdown = [
          `# ${run.definition.title} — run #${run.id}`,
          '',
          `${params ? `${params}\n\n` : ''}Started ${when(run.createdAt)} by ${run.requester}; ${run.state.status}${run.state.endedAt !== undefined ? ` ${when(run.state.endedAt)}` : ''}.`,
          '',
          '## Timeline',
          '',
          ...events.map((e) => `- ${when(e.at)} — ${e.who} — ${e.what}`),
          '',
        ].join('\n');
        const lines = events.map((e) => `• <!date^${Math.floor(e.at / 1000)}^{date_short_pretty} {time}|${when(e.at)}> ${e.who === 'waygate' ? 'Waygate' : `<@${e.who}>`}: ${escapeMrkdwn(e.what)}`);
        await outbox.enqueue(tx, { kind: 'post', payload: { channel: run.channel, text: truncate(`📄 *Report of run #${run.id}*\n${lines.join('\n')}`, 2_900), threadKey } });
        await this.opts.shareFile?.(tx, { channel: run.channel, threadKey, filename: `${run.definition.id}-run-${run.id}.md`, title: `${run.definition.title} run #${run.id}: report`, content: markdown });
        return;
      }
      case 'watch_summary':
        await outbox.enqueue(tx, { kind: 'post', payload: { channel: run.channel, text: `📊 Since the deploy: ${await this.opts.watchSummary(tx, effect.since, now)}`, threadKey } });
        return;
    }
  }

  private track(task: Promise<unknown>): void {
    this.work.add(task);
    void task.finally(() => this.work.delete(task));
  }

  /** Runs a script step with its output streamed into the thread; its end comes back as an input. */
  private runScript(run: Run, stepIndex: number, executionId: number): void {
    const step = run.definition.steps[stepIndex];
    if (step?.kind !== 'script') return;
    const spec = this.opts.scripts[step.script];
    const built = spec ? buildArgv(spec, run.params, run.definition.params) : { problem: `script ${step.script} is not configured` };
    const cancel = new AbortController();
    const key = `${run.id}:${stepIndex}`;
    this.running.set(key, cancel);
    const live = new LiveOutput(this.opts, run, messageKeys.sopOutput(run.id, stepIndex, executionId), step.script, (work) => this.track(work));
    const task = (async () => {
      const result: RunResult =
        'problem' in built || !spec
          ? { argv: [], ok: false, exitCode: null, signal: null, timedOut: false, failedToStart: 'problem' in built ? built.problem : 'not configured', durationMs: 0, output: '' }
          : await this.opts.runner.run({
              argv: built.argv,
              timeoutMs: spec.timeout,
              ...(spec.cwd ? { cwd: spec.cwd } : {}),
              maxOutputBytes: 8 * 1024 * 1024,
              signal: cancel.signal,
              onOutput: (chunk) => live.push(chunk),
            });
      this.running.delete(key);
      // Shutting down: the run is left running in the database, and the next start marks it interrupted.
      if (this.stopping) {
        live.abandon();
        return;
      }
      const cancelledBy = result.cancelled ? String(cancel.signal.reason ?? 'someone') : null;
      const outcome: ScriptOutcome = {
        executionId,
        exitCode: result.exitCode,
        timedOut: result.timedOut,
        cancelledBy,
        failedToStart: result.failedToStart,
        durationMs: Math.round(result.durationMs),
      };
      const now = this.opts.clock.nowMs();
      // The process has ended: its outcome, the output's last redraw and the step's result commit together.
      await this.opts.data.transaction(async (tx) => {
        await live.finish(tx, result, cancelledBy);
        await this.opts.executions.finish(tx, executionId, now, result.ok ? 'ok' : 'failed', describeOutcome(outcome), result.ok ? null : describeOutcome(outcome));
        const applied = await this.apply(run.id, { type: 'script_done', step: stepIndex, outcome }, tx);
        if (!applied.ok) this.opts.logger.warn({ runId: run.id, step: stepIndex, problem: applied.problem }, 'script result not applied');
      });
    })().catch((err: unknown) => this.opts.logger.error({ err, runId: run.id }, 'procedure script failed'));
    this.track(task);
  }

  /** An automatic checklist item: the task runs outside the transaction, its result comes back as an input. */
  private runAutomatic(run: Run, step: number, item: string, task: (run: Run) => Promise<{ ok: boolean; detail: string }>): void {
    const work = (async () => {
      const result = await task(run).catch((err: unknown) => ({ ok: false, detail: (err as Error).message }));
      if (this.stopping) return;
      const applied = await this.apply(run.id, { type: 'automatic_done', step, item, ok: result.ok, detail: result.detail });
      if (!applied.ok && applied.problem !== 'moot') this.opts.logger.warn({ runId: run.id, item, problem: applied.problem }, 'automatic item result not applied');
    })().catch((err: unknown) => this.opts.logger.error({ err, runId: run.id, item }, 'automatic checklist item failed'));
    this.track(work);
  }

  /** Checks the service's health URL, a few attempts apart; the outcome comes back as an input. */
  private verify(run: Run, stepIndex: number): void {
    const step = run.definition.steps[stepIndex];
    if (step?.kind !== 'verify') return;
    const task = (async () => {
      let detail = '';
      let ok = false;
      for (let attempt = 1; attempt <= step.attempts && !this.stopping; attempt++) {
        if (attempt > 1) await new Promise<void>((resolve) => this.opts.clock.setTimer(VERIFY_INTERVAL_MS, resolve));
        try {
          const res = await fetch(this.opts.healthUrl, { signal: AbortSignal.timeout(VERIFY_TIMEOUT_MS), redirect: 'manual' });
          await res.body?.cancel();
          ok = res.status === step.expectStatus;
          detail = `health URL answered ${res.status}${ok ? '' : ` (expected ${step.expectStatus})`} on attempt ${attempt} of ${step.attempts}`;
        } catch (err) {
          detail = `health URL did not answer (${(err as Error).message}) on attempt ${attempt} of ${step.attempts}`;
        }
        if (ok) break;
      }
      if (this.stopping) return;
      const applied = await this.apply(run.id, { type: 'verify_done', step: stepIndex, ok, detail });
      if (!applied.ok) this.opts.logger.warn({ runId: run.id, problem: applied.problem }, 'verify result not applied');
    })().catch((err: unknown) => this.opts.logger.error({ err, runId: run.id }, 'procedure check failed'));
    this.track(task);
  }

  /** Runs inside the transaction that marks the deadlines fired, so each input commits with its firing. */
  private async onDeadlines(due: readonly DueDeadline[], _now: number, tx: Transaction<Schema>): Promise<void> {
    for (const d of due) {
      const [runId, step, what] = d.key.split(':');
      const applied = await this.apply(Number(runId), { type: 'deadline', step: Number(step), what: what as DeadlineKind }, tx);
      if (!applied.ok && applied.problem !== 'moot') this.opts.logger.info({ key: d.key, problem: applied.problem }, 'procedure deadline had nothing to do');
    }
  }

  /**
   * After a restart: a script that was running when the bot died is shown as interrupted (never re-run on
   * its own); a health check that was running is simply run again (it changes nothing).
   */
  async recover(): Promise<void> {
    const now = this.opts.clock.nowMs();
    // Marking a script interrupted and telling its run commit together.
    const active = await this.opts.data.transaction(async (tx) => {
      // Scripts run where their button was pressed: one a live replica is still running is left to it.
      for (const e of await this.opts.executions.interruptRunning(tx, SCRIPT_EXECUTION, now, this.opts.liveReplicas)) {
        const [runId, step] = e.name.split(':').map(Number);
        await this.apply(runId ?? 0, { type: 'interrupted', step: step ?? 0 }, tx);
      }
      return this.opts.store.active(tx);
    });
    for (const run of active) {
      const step = run.definition.steps[run.state.step];
      const s = run.state.steps[run.state.step];
      if (step?.kind === 'verify' && s?.status === 'running') this.verify(run, run.state.step);
      // An automatic item the bot died during is done again: both tasks write or read nothing a repeat harms.
      if (step?.kind === 'checklist' && s?.status === 'active') {
        for (const item of step.items) {
          const task = item.automatic ? this.opts.automatic?.[item.automatic] : undefined;
          if (task && !s.ticks?.[item.id] && !s.automaticFailed?.[item.id]) this.runAutomatic(run, run.state.step, item.id, task);
        }
      }
    }
  }

  /** Resolves when every script and check started so far has finished and been applied. */
  async whenIdle(): Promise<void> {
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
  }

  /** Stops running scripts without recording an outcome: the next start shows them interrupted. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const controller of this.running.values()) controller.abort('shutdown');
    await this.whenIdle();
  }
}

/** The steps of a definition a run of only part of it has, under the part's title. */
function partOf(definition: Definition, part: NonNullable<StartOptions['part']>): Definition {
  return { ...definition, title: part.title, steps: part.steps ? definition.steps.filter((s) => part.steps?.includes(s.id)) : definition.steps };
}

function deadlineKey(runId: number, step: number, what: DeadlineKind): string {
  return `${runId}:${step}:${what}`;
}

function describeOutcome(o: ScriptOutcome): string {
  if (o.failedToStart) return `could not start: ${o.failedToStart}`;
  if (o.cancelledBy) return `cancelled after ${formatDuration(o.durationMs)}`;
  if (o.timedOut) return `timed out after ${formatDuration(o.durationMs)} and was stopped`;
  return `exit ${o.exitCode ?? '?'} after ${formatDuration(o.durationMs)}`;
}

/**
 * A running script's output in the run's thread: the last lines in a code block with the time so far,
 * redrawn at most once a second through the outbox; at the end the exit status and duration, and the
 * whole output as a file when it is longer than a message shows.
 */
class LiveOutput {
  private text = '';
  private timer: TimerHandle | undefined;
  private readonly startedAt: number;

  constructor(
    private readonly opts: SopEngineOptions,
    private readonly run: Run,
    private readonly key: MessageKey,
    private readonly script: string,
    /** Keeps a redraw in progress in the engine's work, so stopping waits for it before the database closes. */
    private readonly track: (work: Promise<unknown>) => void,
  ) {
    this.startedAt = opts.clock.nowMs();
  }

  push(chunk: string): void {
    this.text += chunk;
    // Keep what can still be shown or shared; the runner keeps its own capped copy as well.
    if (this.text.length > 8 * 1024 * 1024) this.text = this.text.slice(-8 * 1024 * 1024);
    this.timer ??= this.opts.clock.setTimer(OUTPUT_REFRESH_MS, () => {
      this.timer = undefined;
      const status = `⏳ \`${this.script}\` running for ${formatDuration(this.opts.clock.nowMs() - this.startedAt)}`;
      this.track(
        this.opts.data
          .transaction((tx) => this.draw(tx, status))
          .catch((err: unknown) => this.opts.logger.error({ err, runId: this.run.id }, 'procedure output not redrawn')),
      );
    });
  }

  /** The bot is stopping: no redraw may come after the database closed. */
  abandon(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** The end of the script, in the transaction `tx` that records its outcome. */
  async finish(tx: Transaction<Schema>, result: RunResult, cancelledBy: string | null): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    const text = this.text || result.output;
    this.text = text;
    const took = formatDuration(result.durationMs);
    const status = result.failedToStart
      ? `❌ \`${this.script}\` could not start: ${result.failedToStart}`
      : cancelledBy
        ? `🛑 \`${this.script}\` cancelled by <@${cancelledBy}> after ${took}`
        : result.timedOut
          ? `❌ \`${this.script}\` timed out after ${took}; it and everything it started were stopped`
          : result.exitCode === 0
            ? `✅ \`${this.script}\` finished: exit 0 after ${took}`
            : `❌ \`${this.script}\` failed: exit ${result.exitCode ?? '?'} after ${took}`;
    const shared = text.length > TAIL_CHARS && this.opts.shareFile !== undefined;
    await this.draw(tx, shared ? `${status} — the whole output (${text.split('\n').length} lines) is attached below` : status);
    if (shared) {
      await this.opts.shareFile?.(tx, { channel: this.run.channel, threadKey: messageKeys.sopRun(this.run.id), filename: `${this.script}-run-${this.run.id}.log`, title: `${this.script} output (run #${this.run.id})`, content: text });
    }
  }

  private async draw(ex: Executor, status: string): Promise<void> {
    const lines = this.text.replace(/\r?\n$/, '').split(/\r?\n/);
    let tail = lines.slice(-TAIL_LINES).join('\n');
    const cut = tail.length > TAIL_CHARS || lines.length > TAIL_LINES;
    if (tail.length > TAIL_CHARS) tail = tail.slice(-TAIL_CHARS);
    // A code block ends at three backticks; output containing them must not end it early.
    tail = tail.replace(/```/g, 'ˋˋˋ');
    const body = this.text === '' ? '' : `\n\`\`\`\n${cut ? '…\n' : ''}${tail}\n\`\`\``;
    await this.opts.outbox.enqueue(ex, { kind: 'update', payload: { channel: this.run.channel, messageKey: this.key, text: truncate(`${status}${body}`, 2_990) } });
  }
}
