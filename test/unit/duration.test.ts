import { describe, expect, it } from 'vitest';
import { durationSchema, parseDuration } from '../../src/config/duration.js';
import { formatDuration } from '../../src/core/text.js';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['2d', 172_800_000],
    ['0s', 0],
  ])('parses %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('ignores surrounding whitespace', () => {
    expect(parseDuration('  10m ')).toBe(600_000);
  });

  it.each(['5 minutes', '1.5h', '-1s', '', '5', 'm', '5M', '5 m', '1h30m', '10x'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it('round-trips the config defaults into readable text', () => {
    expect(formatDuration(parseDuration('5m')!)).toBe('5 min');
    expect(formatDuration(parseDuration('1d')!)).toBe('1 d');
  });
});

describe('durationSchema', () => {
  it('yields milliseconds for a valid duration', () => {
    expect(durationSchema.parse('30s')).toBe(30_000);
  });

  it('fails with a message that names the bad value and shows examples', () => {
    const result = durationSchema.safeParse('5 minutes');
    expect(result.success).toBe(false);
    const message = result.error?.issues[0]?.message ?? '';
    expect(message).toContain('"5 minutes"');
    expect(message).toContain('30s');
    expect(result.error?.issues).toHaveLength(1);
  });

  it('rejects non-strings', () => {
    expect(durationSchema.safeParse(30).success).toBe(false);
  });
});
