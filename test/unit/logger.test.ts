import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createLogger, scrub } from '../../src/logging/logger.js';

const SIGNING_SECRET = 'my-signing-secret-123';

function capture(level = 'info'): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const logger = createLogger({
    level,
    secrets: [SIGNING_SECRET],
    destination: { write: (s: string) => void lines.push(s) },
  });
  return { lines, logger };
}

describe('scrub', () => {
  it('replaces every occurrence of a configured secret value', () => {
    expect(scrub('sig=abc123secret and again abc123secret', ['abc123secret'])).toBe(
      'sig=[REDACTED] and again [REDACTED]',
    );
  });

  it('leaves very short configured values alone (they would mangle ordinary text)', () => {
    expect(scrub('the cat sat', ['cat'])).toBe('the cat sat');
  });

  it.each([
    ['bot token', 'auth xoxb-test-1234-5678-AbCdEf done', 'auth [REDACTED] done'],
    ['user token', 'auth xoxp-1-test-2-3-abc done', 'auth [REDACTED] done'],
    ['app token', 'socket xapp-1-test-A0B1-2-deadbeef open', 'socket [REDACTED] open'],
    ['PagerDuty key', 'Authorization: Token token=y_NbAkKc66ryYTWUXYEu, next', 'Authorization: [REDACTED], next'],
  ])('replaces a %s by its shape, with no configured secrets', (_name, line, expected) => {
    expect(scrub(line, [])).toBe(expected);
  });

  it('replaces a token inside a serialized JSON line without breaking the JSON', () => {
    const line = JSON.stringify({ url: 'https://slack.com/api/auth.test?token=xoxb-9-test-abc', n: 1 });
    const out = scrub(line, []);
    expect(out).not.toContain('xoxb-9-test-abc');
    expect(JSON.parse(out)).toEqual({ url: 'https://slack.com/api/auth.test?token=[REDACTED]', n: 1 });
  });

  it('leaves lines without secrets unchanged', () => {
    const line = '{"msg":"delivered 3 messages to C0123ABCD"}';
    expect(scrub(line, [SIGNING_SECRET])).toBe(line);
  });
});

describe('createLogger', () => {
  it('writes JSON lines tagged with the service name', () => {
    const { lines, logger } = capture();
    logger.info({ job: 'housekeeping' }, 'job finished');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ service: 'waygate', job: 'housekeeping', msg: 'job finished' });
  });

  it('respects the level', () => {
    const { lines, logger } = capture('warn');
    logger.info('quiet');
    logger.warn('loud');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('loud');
  });

  it('redacts a token field', () => {
    const { lines, logger } = capture();
    logger.info({ token: 'xoxb-1-test-abc' }, 'calling Slack');
    const out = lines.join('');
    expect(out).not.toContain('xoxb-1-test-abc');
    expect(JSON.parse(lines[0]!)).toMatchObject({ token: '[REDACTED]', msg: 'calling Slack' });
  });

  it('redacts an authorization header', () => {
    const { lines, logger } = capture();
    logger.info({ headers: { authorization: 'Bearer xoxb-test-42-secretpart' } }, 'request');
    const out = lines.join('');
    expect(out).not.toContain('xoxb-test-42-secretpart');
    expect(out).not.toContain('secretpart');
    expect(JSON.parse(lines[0]!)).toMatchObject({ headers: { authorization: '[REDACTED]' } });
  });

  it('redacts the signing secret from an error message and its stack', () => {
    const { lines, logger } = capture();
    logger.error(new Error(`signature check failed with ${SIGNING_SECRET}`));
    logger.error({ err: new Error(`bad secret ${SIGNING_SECRET}`) }, 'verification failed');
    const out = lines.join('');
    expect(lines).toHaveLength(2);
    expect(out).not.toContain(SIGNING_SECRET);
    const first = JSON.parse(lines[0]!) as { err: { message: string; stack: string } };
    expect(first.err.message).toBe('signature check failed with [REDACTED]');
    expect(first.err.stack).toContain('[REDACTED]');
  });

  it('redacts a token inside the message text', () => {
    const { lines, logger } = capture();
    logger.warn('retrying with xoxb-test-77-abcdef after failure');
    expect(lines.join('')).not.toContain('xoxb-test-77-abcdef');
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'retrying with [REDACTED] after failure' });
  });

  it('redacts a token-shaped value under a field name pino does not know', () => {
    const { lines, logger } = capture();
    logger.info({ request: { body: { note: 'use xapp-1-test-A-2-zzz for socket' } } }, 'debug dump');
    const out = lines.join('');
    expect(out).not.toContain('xapp-1-test-A-2-zzz');
    expect(out).toContain('[REDACTED]');
  });

  it('does not alter the caller’s object while redacting', () => {
    const { logger } = capture();
    const fields = { token: 'xoxb-1-test-abc', headers: { authorization: 'Bearer x' } };
    logger.info(fields, 'call');
    expect(fields).toEqual({ token: 'xoxb-1-test-abc', headers: { authorization: 'Bearer x' } });
  });
});

describe('scrub with JSON-escaped secrets', () => {
  it('redacts a secret containing quotes and backslashes as it appears in a JSON line', () => {
    const secret = 'quote"secret\\x';
    const line = JSON.stringify({ v: `value ${secret} end` });
    const out = scrub(line, [secret]);
    expect(out).not.toContain('secret');
    expect(out).toContain('[REDACTED]');
  });
});

describe('the scrubber and the configuration', () => {
  // For each secret variable, values from long down to one character: whatever loadConfig accepts must be scrubbed.
  const SECRET_VARIABLES = ['SLACK_SIGNING_SECRET', 'PAGERDUTY_WEBHOOK_SECRET', 'PAGERDUTY_API_TOKEN', 'HEALTH_DETAILS_TOKEN'];
  const base = { SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_SIGNING_SECRET: 'a-signing-secret-0123456789abcdef' };

  it.each(SECRET_VARIABLES)('never writes an accepted %s to the log, however short', (name) => {
    for (let length = 32; length >= 1; length--) {
      const value = 'Qz9'.repeat(11).slice(0, length);
      const result = loadConfig({ ...base, [name]: value });
      if (!result.ok) continue;
      const lines: string[] = [];
      const logger = createLogger({ level: 'info', secrets: result.config.secrets, destination: { write: (s: string) => void lines.push(s) } });
      logger.error({ err: new Error(`rejected with ${value}`) }, `request carried ${value}`);
      expect(lines.join(''), `${name} of ${length} characters`).not.toContain(value);
    }
  });
});
