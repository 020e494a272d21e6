import { describe, expect, it } from 'vitest';
import { isStorageError } from '../../src/db/database.js';
import { FencedOut } from '../../src/cluster/leader-lease.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isStorageError: the database failed, not the event (the work stays queued)', () => {
  it("knows SQLite's file errors", () => {
    expect(isStorageError(withCode('SQLITE_FULL'))).toBe(true);
    expect(isStorageError(withCode('SQLITE_CORRUPT'))).toBe(true);
    expect(isStorageError(withCode('SQLITE_CONSTRAINT_UNIQUE'))).toBe(false);
  });

  it("knows PostgreSQL's connection, deadlock, shutdown and timeout errors, and a lost connection", () => {
    for (const code of ['08006', '08003', '40001', '40P01', '53300', '57014', '57P01', '58030', 'XX000', '55P03']) expect(isStorageError(withCode(code)), code).toBe(true);
    expect(isStorageError(withCode('ECONNREFUSED'))).toBe(true);
    expect(isStorageError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isStorageError(new FencedOut(3n, 4n))).toBe(true);
  });

  it("leaves an event's own faults to be recorded as failed", () => {
    for (const code of ['23505', '23502', '22P02', '42703']) expect(isStorageError(withCode(code)), code).toBe(false);
    expect(isStorageError(new Error('incident PX not found'))).toBe(false);
    expect(isStorageError(null)).toBe(false);
  });
});
