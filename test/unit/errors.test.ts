import { describe, expect, it } from 'vitest';
import { BackupError } from '../../src/backup/backup-service.js';
import { asWaygateError, ErrorCode, WaygateError } from '../../src/core/errors.js';
import { ReportedJobFailure } from '../../src/jobs/reported-failure.js';
import { DeliveryError } from '../../src/outbox/types.js';

describe('WaygateError', () => {
  it('is an Error with a code, a message and an optional cause', () => {
    const cause = new Error('disk full');
    const err = new WaygateError(ErrorCode.BackupFailed, 'cannot write', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('backup_failed');
    expect(err.message).toBe('cannot write');
    expect(err.name).toBe('WaygateError');
    expect(err.cause).toBe(cause);
  });

  it.each([
    ['BackupError', new BackupError('cannot write to /x: ENOTDIR', '/x'), 'backup_failed', 'cannot write to /x: ENOTDIR'],
    ['DeliveryError', new DeliveryError({ kind: 'permanent', detail: 'channel_not_found' }), 'delivery_failed', 'channel_not_found'],
    ['ReportedJobFailure', new ReportedJobFailure('log rotation exited 1'), 'job_failure_reported', 'log rotation exited 1'],
  ])('%s keeps its name, class and message and carries its code', (name, err, code, message) => {
    expect(err).toBeInstanceOf(WaygateError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe(name);
    expect(err.code).toBe(code);
    expect(err.message).toBe(message);
    expect(asWaygateError(err)).toBe(err);
  });
});

describe('asWaygateError', () => {
  it('wraps a foreign error as unexpected, keeping its message and the original as the cause', () => {
    const original = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    const wrapped = asWaygateError(original);
    expect(wrapped).toBeInstanceOf(WaygateError);
    expect(wrapped.code).toBe(ErrorCode.Unexpected);
    expect(wrapped.message).toBe('ENOENT: no such file');
    expect(wrapped.cause).toBe(original);
  });

  it('wraps only once', () => {
    const once = asWaygateError(new TypeError('boom'));
    expect(asWaygateError(once)).toBe(once);
    expect(asWaygateError(asWaygateError(once)).cause).toBeInstanceOf(TypeError);
  });

  it('leaves a WaygateError of any code alone', () => {
    const err = new WaygateError(ErrorCode.DeliveryFailed, 'rate limited');
    expect(asWaygateError(err)).toBe(err);
  });

  it.each([
    ['a string', 'socket hang up', 'socket hang up'],
    ['an object with a message', { message: 'rejected', status: 500 }, 'rejected'],
    ['a number', 42, '42'],
    ['undefined', undefined, 'undefined'],
    ['null', null, 'null'],
    ['an object without a prototype', Object.create(null) as object, '[object Object]'],
  ])('wraps %s that was thrown', (_what, thrown, message) => {
    const wrapped = asWaygateError(thrown);
    expect(wrapped.code).toBe('unexpected');
    expect(wrapped.message).toBe(message);
    expect(wrapped.cause).toBe(thrown);
  });
});
