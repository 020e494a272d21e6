import { describe, expect, it } from 'vitest';
import { validateMessage } from '../../standins/slack/index.js';

const section = (text: string, extra: Record<string, unknown> = {}) => ({
  type: 'section',
  text: { type: 'mrkdwn', text },
  ...extra,
});
const button = (actionId: string, extra: Record<string, unknown> = {}) => ({
  type: 'button',
  action_id: actionId,
  text: { type: 'plain_text', text: 'Go' },
  ...extra,
});
const actions = (...elements: unknown[]) => ({ type: 'actions', elements });

/** Asserts exactly one problem mentioning `fragment`, so each case proves the rule it names. */
function expectProblem(msg: Parameters<typeof validateMessage>[0], fragment: string): void {
  const problems = validateMessage(msg);
  expect(problems).toHaveLength(1);
  expect(problems[0]).toContain(fragment);
}

describe('validateMessage', () => {
  it('accepts a realistic message using every allowed block type', () => {
    const blocks = [
      { type: 'header', text: { type: 'plain_text', text: 'Deploy' } },
      section('*Ready*', { block_id: 's1', accessory: button('open', { url: 'https://example.com', style: 'primary' }) }),
      { type: 'section', fields: [{ type: 'mrkdwn', text: 'a' }, { type: 'plain_text', text: 'b' }] },
      { type: 'divider' },
      { type: 'context', elements: [{ type: 'mrkdwn', text: 'ctx' }, { type: 'image', image_url: 'https://x/i.png', alt_text: 'i' }] },
      actions(button('approve', { value: '1', style: 'danger' }), button('reject'), {
        type: 'static_select',
        action_id: 'pick',
        placeholder: { type: 'plain_text', text: 'Pick' },
        options: [{ text: { type: 'plain_text', text: 'One' }, value: '1' }],
      }),
      { type: 'image', image_url: 'https://x/i.png', alt_text: 'chart' },
      { type: 'input', label: { type: 'plain_text', text: 'Why' }, element: { type: 'plain_text_input', action_id: 'why' } },
      { type: 'rich_text', elements: [{ type: 'rich_text_section', elements: [{ type: 'text', text: 'hi' }] }] },
    ];
    expect(validateMessage({ text: 'fallback', blocks })).toEqual([]);
  });

  it('parses blocks sent as a JSON string, as the WebClient form-encodes them', () => {
    expect(validateMessage({ blocks: JSON.stringify([section('hi')]) })).toEqual([]);
    expectProblem({ blocks: JSON.stringify([{ type: 'carousel' }]) }, 'carousel');
  });

  it('reports no_text when there is nothing to show', () => {
    expect(validateMessage({})).toEqual(['no_text']);
    expect(validateMessage({ text: '', blocks: [] })).toEqual(['no_text']);
    expect(validateMessage({ attachments: [{ text: 'legacy' }] })).toEqual([]);
  });

  it('rejects non-array blocks and non-string text', () => {
    expect(validateMessage({ text: 'x', blocks: { type: 'section' } })).toEqual(['blocks must be an array']);
    expect(validateMessage({ text: 42 })).toContain('text must be a string');
  });

  it('limits top-level text to 40000 chars', () => {
    expect(validateMessage({ text: 'a'.repeat(40_000) })).toEqual([]);
    expectProblem({ text: 'a'.repeat(40_001) }, 'max is 40000');
  });

  it('limits a message to 50 blocks', () => {
    const blocks = Array.from({ length: 50 }, () => ({ type: 'divider' }));
    expect(validateMessage({ text: 'x', blocks })).toEqual([]);
    expectProblem({ text: 'x', blocks: [...blocks, { type: 'divider' }] }, 'max is 50');
  });

  it('rejects unknown block types and unknown element types', () => {
    expectProblem({ blocks: [{ type: 'video' }] }, 'video');
    expectProblem({ blocks: [actions({ type: 'plain_text_input', action_id: 'x' })] }, 'plain_text_input');
    expectProblem({ blocks: [section('x', { accessory: { type: 'timepicker', action_id: 'x' } })] }, 'timepicker');
    expectProblem(
      { blocks: [{ type: 'input', label: { type: 'plain_text', text: 'L' }, element: { type: 'button' } }] },
      'button',
    );
  });

  it('limits block_id length and requires it unique', () => {
    expectProblem({ blocks: [section('x', { block_id: 'b'.repeat(256) })] }, 'max is 255');
    expectProblem({ blocks: [section('x', { block_id: 'same' }), section('y', { block_id: 'same' })] }, 'not unique');
  });

  it('checks text object shape', () => {
    expectProblem({ blocks: [{ type: 'section', text: { type: 'markdown', text: 'x' } }] }, 'plain_text or mrkdwn');
    expectProblem({ blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '' } }] }, 'non-empty');
    expectProblem({ blocks: [{ type: 'section', text: 'bare string' }] }, 'text object');
  });

  it('enforces section rules', () => {
    expect(validateMessage({ blocks: [section('a'.repeat(3000))] })).toEqual([]);
    expectProblem({ blocks: [section('a'.repeat(3001))] }, 'max is 3000');
    expectProblem({ blocks: [{ type: 'section' }] }, 'needs text or fields');
    const field = { type: 'mrkdwn', text: 'f' };
    expectProblem({ blocks: [{ type: 'section', fields: Array(11).fill(field) }] }, 'fields');
    expectProblem({ blocks: [{ type: 'section', fields: [{ type: 'mrkdwn', text: 'f'.repeat(2001) }] }] }, 'max is 2000');
  });

  it('requires header text to be short plain_text', () => {
    expectProblem({ blocks: [{ type: 'header', text: { type: 'mrkdwn', text: 'h' } }] }, 'must be plain_text');
    expectProblem({ blocks: [{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }] }, 'max is 150');
  });

  it('limits context to 10 image or text elements', () => {
    const el = { type: 'mrkdwn', text: 'c' };
    expectProblem({ blocks: [{ type: 'context', elements: Array(11).fill(el) }] }, '1-10');
    expectProblem({ blocks: [{ type: 'context', elements: [button('b')] }] }, 'plain_text or mrkdwn');
  });

  it('limits actions to 25 elements with unique action_ids', () => {
    const many = Array.from({ length: 26 }, (_, i) => button(`b${i}`));
    expectProblem({ blocks: [actions(...many)] }, '1-25');
    expectProblem({ blocks: [actions(button('dup'), button('dup'))] }, 'duplicate action_id dup');
    // The same action_id in different blocks is fine: uniqueness is per block.
    expect(validateMessage({ blocks: [actions(button('a')), actions(button('a'))] })).toEqual([]);
  });

  it('enforces button limits', () => {
    expectProblem({ blocks: [actions(button('b', { text: { type: 'plain_text', text: 't'.repeat(76) } }))] }, 'max is 75');
    expectProblem({ blocks: [actions(button('b', { text: { type: 'mrkdwn', text: 'Go' } }))] }, 'must be plain_text');
    expectProblem({ blocks: [actions(button('a'.repeat(256)))] }, 'action_id');
    expectProblem({ blocks: [actions(button('b', { value: 'v'.repeat(2001) }))] }, 'max is 2000');
    expectProblem({ blocks: [actions(button('b', { url: 'u'.repeat(3001) }))] }, 'max is 3000');
    expectProblem({ blocks: [actions(button('b', { style: 'secondary' }))] }, 'primary or danger');
  });

  it('checks option-bearing elements', () => {
    expectProblem({ blocks: [actions({ type: 'overflow', action_id: 'o', options: [] })] }, 'options');
    expectProblem({ blocks: [actions({ type: 'static_select', action_id: 's' })] }, 'options must be an array');
  });

  it('checks image, input and rich_text blocks', () => {
    expectProblem({ blocks: [{ type: 'image', image_url: 'https://x/i.png' }] }, 'alt_text is required');
    expectProblem({ blocks: [{ type: 'input', label: { type: 'plain_text', text: 'L' } }] }, 'element is required');
    expectProblem({ blocks: [{ type: 'rich_text', elements: [{ type: 'section' }] }] }, 'not a rich_text element');
  });
});
