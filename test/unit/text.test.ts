import { describe, expect, it } from 'vitest';
import { escapeMrkdwn, formatBytes, formatCount, formatDuration, oneLine, redactCredentials, truncate } from '../../src/core/text.js';

describe('truncate', () => {
  it('leaves text within the limit alone', () => {
    expect(truncate('hello', 5)).toBe('hello');
    expect(truncate('', 0)).toBe('');
  });

  it('cuts longer text to the limit, the ellipsis included', () => {
    expect(truncate('abcdefgh', 5)).toBe('abcd…');
  });

  it('drops a character outside the Basic Multilingual Plane whole instead of leaving half of it', () => {
    expect(truncate('ab😀cd', 4)).toBe('ab…');
  });

  it('counts UTF-16 code units, as Slack does', () => {
    expect(truncate('😀😀😀', 5)).toBe('😀😀…');
    expect(truncate('😀😀', 4)).toBe('😀😀');
  });

  it('takes another ellipsis and keeps within the limit with it', () => {
    const out = truncate('x'.repeat(100), 80, { ellipsis: '...' });
    expect(out).toBe(`${'x'.repeat(77)}...`);
    expect(truncate('x'.repeat(80), 80, { ellipsis: '...' })).toBe('x'.repeat(80));
  });
});

describe('oneLine', () => {
  it('collapses every whitespace run to one space and trims the ends', () => {
    expect(oneLine('  Service Unavailable: database   migration\nin progress\r\n')).toBe(
      'Service Unavailable: database migration in progress',
    );
    expect(oneLine(' \t\n ')).toBe('');
  });

  it('can instead show line breaks as \\n and \\r and keep the rest as written', () => {
    expect(oneLine('a\nb\r\nc  d', { escapeBreaks: true })).toBe('a\\nb\\r\\nc  d');
  });
});

describe('escapeMrkdwn', () => {
  it('escapes &, < and >', () => {
    expect(escapeMrkdwn('a < b && c > d')).toBe('a &lt; b &amp;&amp; c &gt; d');
  });

  it('neutralises user text that looks like a mention or link', () => {
    expect(escapeMrkdwn('<!channel> <@U0123> <https://evil|click>')).toBe(
      '&lt;!channel&gt; &lt;@U0123&gt; &lt;https://evil|click&gt;',
    );
  });

  it('escapes an existing entity so it shows literally', () => {
    expect(escapeMrkdwn('&lt;')).toBe('&amp;lt;');
  });

  it('leaves other mrkdwn characters alone', () => {
    expect(escapeMrkdwn('*bold* _it_ ~s~ `code`')).toBe('*bold* _it_ ~s~ `code`');
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0 ms'],
    [250, '250 ms'],
    [999, '999 ms'],
    [1_000, '1 s'],
    [1_500, '1.5 s'],
    [12_000, '12 s'],
    [60_000, '1 min'],
    [299_000, '4 min 59 s'],
    [300_000, '5 min'],
    [3_600_000, '1 h'],
    [5_400_000, '1 h 30 min'],
    [86_400_000, '1 d'],
    [172_800_000, '2 d'],
    [129_600_000, '1 d 12 h'],
  ])('formats %d ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([
    [9_990, '10 s'],
    [59_990, '1 min'],
    [3_599_600, '1 h'],
    [86_390_000, '1 d'],
  ])('shows %d ms, which rounds up to the next unit, in that unit (%j)', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('reads a negative duration as zero', () => {
    expect(formatDuration(-1_500)).toBe('0 ms');
    expect(formatDuration(-1_500, { precise: true })).toBe('0 ms');
  });

  describe('precise', () => {
    it.each([
      [300.4, '300 ms'],
      [1_000, '1 s'],
      [1_234, '1.2 s'],
      [5_000, '5 s'],
      [10_020, '10 s'],
      [12_345, '12.3 s'],
      [59_990, '1 min'],
      [90_000, '1 min 30 s'],
      [125_000, '2 min 5 s'],
      [7_200_000, '120 min'],
    ])('formats %d ms as %j', (ms, text) => {
      expect(formatDuration(ms, { precise: true })).toBe(text);
    });
  });
});

describe('formatBytes', () => {
  it('formats sizes in binary units', () => {
    expect(formatBytes(512)).toBe('512 bytes');
    expect(formatBytes(2048)).toBe('2.0 KiB');
    expect(formatBytes(12.5 * 1024 * 1024)).toBe('12.5 MiB');
  });
});

describe('formatCount', () => {
  it('groups thousands with commas, whatever the machine’s locale', () => {
    expect([0, 7, 999, 1000, 9995, 10000, 1234567].map(formatCount)).toEqual(['0', '7', '999', '1,000', '9,995', '10,000', '1,234,567']);
  });
});

describe('redactCredentials', () => {
  it.each([
    ['http://127.0.0.1:8000/health', 'http://127.0.0.1:8000/health'],
    ['http://user:pa55@host/health', 'http://[REDACTED]@host/health'],
    ['https://ghp_token@host.example:8443/p', 'https://[REDACTED]@host.example:8443/p'],
    ['https://host/p?q=1&token=abc&x=2', 'https://host/p?q=1&token=[REDACTED]&x=2'],
    ['https://host/p?keyboard=1&monkey=2&x-api-key=9&access_token=t&Password=p', 'https://host/p?keyboard=1&monkey=2&x-api-key=[REDACTED]&access_token=[REDACTED]&Password=[REDACTED]'],
    ['fetch failed for http://a:b@h/x: refused', 'fetch failed for http://[REDACTED]@h/x: refused'],
    ['mail ops@example.com about it', 'mail ops@example.com about it'],
  ])('%s → %s', (input, expected) => {
    expect(redactCredentials(input)).toBe(expected);
  });
});
