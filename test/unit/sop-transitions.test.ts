import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDefinition } from '../../src/sops/definition.js';
import { initialState, transition, type Run, type RunInput, type TransitionContext } from '../../src/sops/run-state.js';

const NOW = Date.parse('2026-03-03T14:00:00Z');
const ctx = (over: Partial<TransitionContext> = {}): TransitionContext => ({
  now: NOW,
  guards: () => null,
  hasScript: () => true,
  describeRoles: (roles) => roles.join('/'),
  setting: () => 3_600_000,
  ...over,
});

function hotfixRun(): Run {
  const parsed = parseDefinition(readFileSync(new URL('../../sops/hotfix.yml', import.meta.url), 'utf8'));
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  const { definition, hash } = parsed.pinned;
  return { id: 1, definition, definitionHash: hash, requester: 'UREQ', params: { ref: 'main', description: 'x' }, channel: 'C1', createdAt: NOW, state: initialState(definition) };
}

function step(run: Run, input: RunInput, c = ctx()): Run {
  const t = transition(run, input, c);
  if ('refused' in t) throw new Error(t.refused);
  return { ...run, state: t.state };
}

describe('procedure transitions', () => {
  it('starting schedules the approval reminder, escalation and expiry from the settings it names', () => {
    const t = transition(hotfixRun(), { type: 'start' }, ctx());
    if ('refused' in t) throw new Error(t.refused);
    expect(t.effects.filter((e) => e.kind === 'schedule')).toEqual([
      { kind: 'schedule', step: 0, what: 'remind', at: NOW + 45 * 60_000 },
      { kind: 'schedule', step: 0, what: 'escalate', at: NOW + 3_600_000 },
      { kind: 'schedule', step: 0, what: 'expire', at: NOW + 3_600_000 },
    ]);
  });

  it('approval by the requester, twice by one person, or after it was given is refused and changes nothing', () => {
    const run = step(hotfixRun(), { type: 'start' });
    expect(transition(run, { type: 'approve', step: 0, by: 'UREQ' }, ctx())).toEqual({ refused: expect.stringContaining('four-eyes') });
    const approved = step(run, { type: 'approve', step: 0, by: 'ULEAD' });
    expect(approved.state.step).toBe(1);
    expect(approved.state.steps[1]?.status).toBe('running');
    expect(transition(approved, { type: 'approve', step: 0, by: 'ULEAD2' }, ctx())).toEqual({ refused: 'Already approved by <@ULEAD>; nothing more to do.' });
  });

  it('a guard holds the step with its reason until a lead overrides it, and the override is recorded', () => {
    const run = hotfixRun();
    run.definition = { ...run.definition, steps: [{ ...run.definition.steps[1]!, when: ['noOpenP1'] } as never, ...run.definition.steps.slice(2)] };
    run.state = initialState(run.definition);
    const held = step(run, { type: 'start' }, ctx({ guards: () => 'deploy freeze: a P1 is open' }));
    expect(held.state.steps[0]).toMatchObject({ status: 'held', heldBy: [{ guard: 'noOpenP1', reason: 'deploy freeze: a P1 is open' }] });
    const t = transition(held, { type: 'override', step: 0, by: 'ULEAD', reason: 'the fix is for that P1' }, ctx({ guards: () => 'deploy freeze: a P1 is open' }));
    if ('refused' in t) throw new Error(t.refused);
    expect(t.state.steps[0]?.status).toBe('running');
    expect(t.effects).toContainEqual({ kind: 'audit', action: 'sop.override', actor: 'ULEAD', details: { step: 'deploy', guards: ['noOpenP1'], reason: 'the fix is for that P1' } });
  });

  it('an interrupted script waits for a decision; retry runs it again, abort ends the run', () => {
    let run = step(step(hotfixRun(), { type: 'start' }), { type: 'approve', step: 0, by: 'ULEAD' });
    run = step(run, { type: 'interrupted', step: 1 });
    expect(run.state.steps[1]?.status).toBe('interrupted');
    const retried = transition(run, { type: 'decide', step: 1, decision: 'retry', by: 'ULEAD' }, ctx());
    if ('refused' in retried) throw new Error(retried.refused);
    expect(retried.effects).toContainEqual({ kind: 'run_script', step: 1 });
    const aborted = step(run, { type: 'decide', step: 1, decision: 'abort', by: 'ULEAD' });
    expect(aborted.state.status).toBe('aborted');
    expect(transition(aborted, { type: 'cancel', by: 'UREQ' }, ctx())).toEqual({ refused: 'This hotfix has ended (aborted); nothing was done.' });
  });

  it('rejects a definition naming a step twice or an approval without approvers, naming the field', () => {
    const bad = parseDefinition(`id: x\ntitle: X\nowner: lead\nchannel: ops\npermissions: { start: [lead] }\nsteps:\n  - { id: a, kind: approval, title: A }\n  - { id: a, kind: notify, title: N, to: ops, text: hi }\n`);
    expect(bad).toEqual({ ok: false, problems: ['steps.0.approvers: an approval step needs approvers, or the definition permissions.approve', 'steps.1.id: step id a is used twice'] });
  });

  it('a remind step posts later without holding the run, even after the run completed, but not after it was stopped', () => {
    const parsed = parseDefinition(
      `id: r\ntitle: R\nowner: lead\nchannel: ops\npermissions: { start: [lead] }\nsteps:\n  - { id: later, kind: remind, title: Later, after: 7d, to: requester, text: Write the post-mortem }\n  - { id: c, kind: checklist, title: C, items: [{ id: x, text: X }] }\n`,
    );
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const run: Run = { id: 2, definition: parsed.pinned.definition, definitionHash: parsed.pinned.hash, requester: 'UREQ', params: {}, channel: 'C1', createdAt: NOW, state: initialState(parsed.pinned.definition) };
    const t = transition(run, { type: 'start' }, ctx());
    if ('refused' in t) throw new Error(t.refused);
    expect(t.state.step).toBe(1);
    expect(t.effects).toContainEqual({ kind: 'schedule', step: 0, what: 'remind', at: NOW + 7 * 86_400_000 });
    const done = step({ ...run, state: t.state }, { type: 'tick', step: 1, selected: ['x'], by: 'UREQ' });
    expect(done.state.status).toBe('done');
    const due = transition(done, { type: 'deadline', step: 0, what: 'remind' }, ctx());
    expect(due).toMatchObject({ effects: [{ kind: 'notify', to: 'requester', text: 'Write the post-mortem' }] });
    const stopped = step({ ...run, state: t.state }, { type: 'cancel', by: 'UREQ' });
    expect(transition(stopped, { type: 'deadline', step: 0, what: 'remind' }, ctx())).toEqual({ refused: 'moot' });
  });
});
