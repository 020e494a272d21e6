import { ErrorCode } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../src/outbox/dispatcher.js';
import { classifySlackError } from '../../src/outbox/slack-delivery.js';
import { DeliveryError } from '../../src/outbox/types.js';

/** Errors shaped the way @slack/web-api's WebClient rejects (see its errors.js). */
function rateLimited(retryAfter: number): Error {
  return Object.assign(new Error('A rate limit was exceeded'), { code: ErrorCode.RateLimitedError, retryAfter });
}
function platform(error: string, messages?: string[]): Error {
  return Object.assign(new Error(`An API error occurred: ${error}`), {
    code: ErrorCode.PlatformError,
    data: { ok: false, error, ...(messages ? { response_metadata: { messages } } : {}) },
  });
}
function http(statusCode: number): Error {
  return Object.assign(new Error(`An HTTP protocol error occurred: statusCode = ${statusCode}`), {
    code: ErrorCode.HTTPError,
    statusCode,
    statusMessage: 'x',
    headers: {},
  });
}

describe('classifySlackError', () => {
  it('returns a DeliveryError whose message is the detail', () => {
    const result = classifySlackError(platform('channel_not_found'));
    expect(result).toBeInstanceOf(DeliveryError);
    expect(result.message).toBe('channel_not_found');
  });

  it('honours Retry-After (seconds) for a rate-limited call', () => {
    expect(classifySlackError(rateLimited(30)).failure).toEqual({
      kind: 'rate_limited',
      retryAfterMs: 30_000,
      detail: 'rate limited, retry after 30s',
    });
  });

  it('waits at least one second when Retry-After is missing or zero', () => {
    const missing = Object.assign(new Error('rate limited'), { code: ErrorCode.RateLimitedError });
    expect(classifySlackError(missing).failure).toMatchObject({ kind: 'rate_limited', retryAfterMs: 1000 });
    expect(classifySlackError(rateLimited(0)).failure).toMatchObject({ kind: 'rate_limited', retryAfterMs: 1000 });
  });

  it.each(['invalid_blocks', 'channel_not_found', 'not_in_channel', 'msg_too_long', 'invalid_auth'])(
    'treats platform error %s as permanent',
    (code) => {
      expect(classifySlackError(platform(code)).failure).toEqual({ kind: 'permanent', detail: code });
    },
  );

  it.each(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'ratelimited'])(
    'treats platform error %s as retryable',
    (code) => {
      expect(classifySlackError(platform(code)).failure).toEqual({ kind: 'retryable', detail: code });
    },
  );

  it('includes Slack’s response_metadata messages in the detail so operators see what was wrong', () => {
    const err = platform('invalid_blocks', ['[ERROR] must be more than 0 characters [json-pointer:/blocks/0/text]']);
    expect(classifySlackError(err).failure).toEqual({
      kind: 'permanent',
      detail: 'invalid_blocks: [ERROR] must be more than 0 characters [json-pointer:/blocks/0/text]',
    });
  });

  it('treats a platform error without an error code as permanent', () => {
    const err = Object.assign(new Error('odd'), { code: ErrorCode.PlatformError, data: { ok: false } });
    expect(classifySlackError(err).failure).toEqual({ kind: 'permanent', detail: 'unknown_error' });
  });

  it.each([500, 502, 503, 504])('retries HTTP %d', (status) => {
    expect(classifySlackError(http(status)).failure).toEqual({ kind: 'retryable', detail: `HTTP ${status}` });
  });

  it.each([400, 403, 404, 410])('gives up on HTTP %d', (status) => {
    expect(classifySlackError(http(status)).failure).toEqual({ kind: 'permanent', detail: `HTTP ${status}` });
  });

  it.each([408, 429])('retries HTTP %d (timeout / too many requests)', (status) => {
    expect(classifySlackError(http(status)).failure).toEqual({ kind: 'retryable', detail: `HTTP ${status}` });
  });

  it('retries a network-level request error, keeping its message', () => {
    const err = Object.assign(new Error('A request error occurred: connect ECONNREFUSED 127.0.0.1:9'), {
      code: ErrorCode.RequestError,
      original: new Error('connect ECONNREFUSED'),
    });
    expect(classifySlackError(err).failure).toEqual({
      kind: 'retryable',
      detail: 'A request error occurred: connect ECONNREFUSED 127.0.0.1:9',
    });
  });

  it('retries an unrecognised error, and copes with non-Error values', () => {
    expect(classifySlackError(new TypeError('fetch failed')).failure).toEqual({ kind: 'retryable', detail: 'fetch failed' });
    expect(classifySlackError('socket hang up').failure).toEqual({ kind: 'retryable', detail: 'socket hang up' });
    expect(classifySlackError(undefined).failure.kind).toBe('retryable');
    expect(classifySlackError(null).failure.kind).toBe('retryable');
  });
});

describe('backoffMs', () => {
  it('starts at one second and doubles with each attempt', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, 300_000))).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000]);
  });

  it('caps at the configured maximum', () => {
    expect(backoffMs(9, 300_000)).toBe(256_000);
    expect(backoffMs(10, 300_000)).toBe(300_000);
    expect(backoffMs(50, 300_000)).toBe(300_000);
    expect(backoffMs(5000, 300_000)).toBe(300_000);
    expect(backoffMs(3, 2_500)).toBe(2_500);
  });

  it('treats attempt 0 or below like the first attempt', () => {
    expect(backoffMs(0, 300_000)).toBe(1000);
    expect(backoffMs(-3, 300_000)).toBe(1000);
  });
});
