import { describe, expect, it } from 'vitest';
import { slackDate } from '../../src/slack/format.js';
import { context, divider, header, section } from '../../src/core/blocks.js';

describe('slackDate', () => {
  it('renders a Slack date token with unix seconds, the format and a UTC fallback', () => {
    const at = new Date('2026-03-29T07:00:42.900Z');
    expect(slackDate(at)).toBe(`<!date^${Date.parse('2026-03-29T07:00:42Z') / 1000}^{date_short_pretty} {time}|2026-03-29 07:00 UTC>`);
  });

  it('accepts a custom format', () => {
    const at = new Date('2026-01-05T08:00:00Z');
    expect(slackDate(at, '{date_num}')).toBe('<!date^1767600000^{date_num}|2026-01-05 08:00 UTC>');
  });

  it('uses UTC in the fallback regardless of the process time zone', () => {
    // 23:30Z is already the next day in Europe/Berlin; the fallback must still say the UTC date.
    const saved = process.env.TZ;
    process.env.TZ = 'Europe/Berlin';
    try {
      expect(new Date('2026-12-31T23:30:00Z').getDate()).toBe(1); // the zone change took effect
      expect(slackDate(new Date('2026-12-31T23:30:00Z'))).toMatch(/\|2026-12-31 23:30 UTC>$/);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe('section', () => {
  it('wraps text in a mrkdwn section', () => {
    expect(section('hello')).toEqual({ type: 'section', text: { type: 'mrkdwn', text: 'hello' } });
  });

  it('keeps text of exactly 3000 characters unchanged', () => {
    const text = 'x'.repeat(3000);
    expect(section(text)).toEqual({ type: 'section', text: { type: 'mrkdwn', text } });
  });

  it('truncates longer text to 3000 characters ending in an ellipsis', () => {
    const block = section('y'.repeat(2990) + 'z'.repeat(20)) as { text: { text: string } };
    expect(block.text.text).toHaveLength(3000);
    expect(block.text.text.endsWith('z'.repeat(9) + '…')).toBe(true);
    expect(block.text.text.startsWith('y'.repeat(2990))).toBe(true);
  });
});

describe('context', () => {
  it('makes one mrkdwn element per text', () => {
    expect(context('a', 'b')).toEqual({
      type: 'context',
      elements: [
        { type: 'mrkdwn', text: 'a' },
        { type: 'mrkdwn', text: 'b' },
      ],
    });
  });

  it('keeps only the first 10 elements (Slack’s limit)', () => {
    const texts = Array.from({ length: 12 }, (_, i) => `t${i}`);
    const block = context(...texts) as { elements: { text: string }[] };
    expect(block.elements).toHaveLength(10);
    expect(block.elements.map((e) => e.text)).toEqual(texts.slice(0, 10));
  });
});

describe('header', () => {
  it('makes a plain_text header', () => {
    expect(header('Deploy finished')).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Deploy finished' } });
  });

  it('limits the text to 150 characters', () => {
    const block = header('h'.repeat(149) + 'XYZ') as { text: { text: string } };
    expect(block.text.text).toBe('h'.repeat(149) + '…');
  });

  it('never cuts an emoji in half at the limit', () => {
    const block = section('x'.repeat(2998) + '😀😀') as { text: { text: string } };
    expect(block.text.text).toBe('x'.repeat(2998) + '…');
    expect(block.text.text.length).toBeLessThanOrEqual(3000);
  });

  it('keeps text of exactly 150 characters', () => {
    const text = 'k'.repeat(150);
    expect((header(text) as { text: { text: string } }).text.text).toBe(text);
  });
});

describe('divider', () => {
  it('is a divider block', () => {
    expect(divider()).toEqual({ type: 'divider' });
  });
});
