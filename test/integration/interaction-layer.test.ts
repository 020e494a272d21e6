import { z } from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { defineAction, defineView, jsonValue } from '../../src/core/interactions.js';
import { modal, textInput } from '../../src/core/blocks.js';
import type { WaygateModule } from '../../src/core/module.js';
import { startTestBot, USERS, type TestBot } from '../helpers/bot.js';

const START = '2026-03-02T08:00:00.000Z';

/**
 * A small feature module of the kind procedures will be: a checklist whose message has a revision, a menu,
 * and a button that opens a form. It records what reached it, so the tests see exactly what the layer let
 * through. It runs inside the real bot, behind real Bolt, with requests signed as Slack signs them.
 */
function checklistModule() {
  const state = { revision: 3, ticked: [] as string[][], picked: [] as string[], reasons: [] as Array<{ run: number; reason: string; by: string }> };
  const item = jsonValue(z.object({ run: z.number().int(), rev: z.number().int() }));
  const form = jsonValue(z.object({ run: z.number().int() }));
  const module: WaygateModule = {
    name: 'checklist-under-test',
    permissions: { 'sop.TEST.tick': ['oncall'] },
    actions: [
      defineAction({
        id: 'test.tick',
        value: item.schema,
        isStale: (v) => v.rev !== state.revision,
        permission: { name: 'sop.TEST.tick', what: 'ticking this checklist' },
        handle(ctx) {
          state.ticked.push(ctx.selected);
        },
      }),
      defineAction({ id: 'test.menu', value: z.enum(['retry', 'skip', 'abort']), handle: (_ctx, v) => void state.picked.push(v) }),
      defineAction({
        id: 'test.open_form',
        value: z.string(),
        async handle(ctx) {
          await ctx.openModal(
            modal({
              callbackId: 'test.form',
              title: 'Why roll back?',
              submit: 'Roll back',
              metadata: form.encode({ run: 7 }),
              blocks: [textInput({ blockId: 'reason', label: 'Reason', multiline: true })],
            }),
          );
        },
      }),
    ],
    views: [
      defineView({
        callbackId: 'test.form',
        metadata: form.schema,
        fields: z.object({ reason: z.string({ message: 'Please say why.' }).min(10, { message: 'Say a little more: at least 10 characters.' }) }),
        handle(ctx, meta, fields) {
          if (fields.reason.includes('because')) return { errors: { reason: 'No excuses, please.' } };
          state.reasons.push({ run: meta.run, reason: fields.reason, by: ctx.userId });
          return undefined;
        },
      }),
    ],
  };
  return { module, state, item, form };
}

describe('the interaction layer', () => {
  let bot: TestBot;
  let feature: ReturnType<typeof checklistModule>;

  beforeEach(async () => {
    feature = checklistModule();
    bot = await startTestBot({ clock: new ManualClock(START), overrides: { extraModules: () => [feature.module] } });
  });
  afterEach(async () => {
    await bot.stop();
  });

  const click = (input: Partial<Parameters<TestBot['signer']['blockAction']>[0]> & { actionId: string }, responseId = 'r') =>
    bot.signer.blockAction({ userId: USERS.oncall, channelId: 'C0OPS', messageTs: '1.000001', responseUrl: bot.slack.responseUrl(responseId), ...input });

  it('hands checkboxes the whole current selection, from a message of the current revision', async () => {
    const res = await click({ actionId: 'test.tick', type: 'checkboxes', blockId: feature.item.encode({ run: 7, rev: 3 }), selectedOptions: ['backup', 'notify'] });
    expect(res.status).toBe(200);
    await bot.settle();
    expect(feature.state.ticked).toEqual([['backup', 'notify']]);
  });

  it('answers a click on a stale message politely and changes nothing', async () => {
    await click({ actionId: 'test.tick', type: 'checkboxes', blockId: feature.item.encode({ run: 7, rev: 2 }), selectedOptions: ['backup'] }, 'stale');
    await bot.settle();
    expect(feature.state.ticked).toEqual([]);
    expect(bot.slack.responsePosts('stale').map((p) => p.body.text)).toEqual([
      'This message has changed since it was drawn, so nothing was done. Please look at the updated message and try again.',
    ]);
  });

  it('checks the permission a procedure declares, naming its roles', async () => {
    await click({ actionId: 'test.tick', type: 'checkboxes', userId: USERS.ops, blockId: feature.item.encode({ run: 7, rev: 3 }), selectedOptions: ['x'] }, 'denied');
    await bot.settle();
    expect(feature.state.ticked).toEqual([]);
    expect(bot.slack.responsePosts('denied')[0]?.body.text).toContain('Sorry, ticking this checklist needs the *oncall* role.');
  });

  it('hands an overflow menu its chosen option, and refuses an option it does not know', async () => {
    await click({ actionId: 'test.menu', type: 'overflow', selectedOption: 'skip' });
    await click({ actionId: 'test.menu', type: 'overflow', selectedOption: 'explode' });
    await bot.settle();
    expect(feature.state.picked).toEqual(['skip']);
  });

  it('opens a modal with the click\'s trigger_id; shows field errors in the modal; commits a valid submission before closing it', async () => {
    await click({ actionId: 'test.open_form', value: 'x', triggerId: '111.222.abc' });
    const [opened] = bot.slack.views();
    expect(opened).toMatchObject({ triggerId: '111.222.abc', callbackId: 'test.form', title: 'Why roll back?', privateMetadata: '{"run":7}' });
    const submit = (reason: string | null) =>
      bot.signer.viewSubmission({
        callbackId: 'test.form',
        userId: USERS.lead,
        viewId: opened?.id ?? '',
        privateMetadata: opened?.privateMetadata ?? '',
        values: { reason: { value: { type: 'plain_text_input', value: reason } } },
      });

    const empty = await submit(null);
    expect(empty.json).toEqual({ response_action: 'errors', errors: { reason: 'Please say why.' } });
    const short = await submit('oops');
    expect(short.json).toEqual({ response_action: 'errors', errors: { reason: 'Say a little more: at least 10 characters.' } });
    const refused = await submit('because it is Friday');
    expect(refused.json).toEqual({ response_action: 'errors', errors: { reason: 'No excuses, please.' } });
    expect(feature.state.reasons).toEqual([]);

    const ok = await submit('error rate doubled after 1.4.2');
    expect(ok).toMatchObject({ status: 200, text: '' });
    expect(feature.state.reasons).toEqual([{ run: 7, reason: 'error rate doubled after 1.4.2', by: USERS.lead }]);
  });

  it('closes a submission of a modal nobody handles, or with metadata it cannot read, without doing anything', async () => {
    const unknown = await bot.signer.viewSubmission({ callbackId: 'nobody.form', userId: USERS.lead, values: {} });
    const garbled = await bot.signer.viewSubmission({
      callbackId: 'test.form',
      userId: USERS.lead,
      privateMetadata: '{"run":"seven"}',
      values: { reason: { value: { type: 'plain_text_input', value: 'a perfectly good reason' } } },
    });
    expect([unknown.status, unknown.text, garbled.status, garbled.text]).toEqual([200, '', 200, '']);
    expect(feature.state.reasons).toEqual([]);
  });

  it('refuses to encode a value Slack would refuse', () => {
    expect(() => feature.form.encode({ run: 1, pad: 'x'.repeat(2000) } as unknown as { run: number })).toThrow(/exceeds Slack's 2000/);
  });
});
