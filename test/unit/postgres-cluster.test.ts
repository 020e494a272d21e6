import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findPostgresBinDir, NOT_INSTALLED_MESSAGE, startPostgres } from '../support/postgres-cluster.js';

let root: string | undefined;

afterEach(() => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
  root = undefined;
});

/** A fake Debian layout: <root>/<version>/bin with the named programs (executable unless told otherwise). */
function layout(versions: Record<string, string[]>): string {
  root = mkdtempSync(join(tmpdir(), 'waygate-pg-layout-'));
  for (const [version, programs] of Object.entries(versions)) {
    const bin = join(root, version, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const program of programs) {
      writeFileSync(join(bin, program), '#!/bin/sh\n');
      chmodSync(join(bin, program), 0o755);
    }
  }
  return root;
}

describe('startPostgres without a PostgreSQL server', () => {
  it('fails with how to install it when the server programs are absent, instead of skipping', async () => {
    await expect(startPostgres({ env: {}, findBinDir: () => undefined })).rejects.toThrow(NOT_INSTALLED_MESSAGE);
    expect(NOT_INSTALLED_MESSAGE).toBe("PostgreSQL's server is not installed: apt-get install postgresql (.ci/run installs it)");
  });

  it('fails the same way when the directory the programs live in does not exist', async () => {
    const missing = join(tmpdir(), 'waygate-no-postgresql-here', 'lib', 'postgresql');
    await expect(startPostgres({ env: {}, findBinDir: () => findPostgresBinDir(missing) })).rejects.toThrow(
      "PostgreSQL's server is not installed: apt-get install postgresql",
    );
  });

  it('ignores an empty WAYGATE_TEST_DATABASE_URL', async () => {
    await expect(startPostgres({ env: { WAYGATE_TEST_DATABASE_URL: '' }, findBinDir: () => undefined })).rejects.toThrow(
      NOT_INSTALLED_MESSAGE,
    );
  });
});

describe('findPostgresBinDir', () => {
  it('picks the newest major version, comparing versions as numbers', () => {
    const dir = layout({ '9.6': ['initdb', 'pg_ctl'], '15': ['initdb', 'pg_ctl'], '17': ['initdb', 'pg_ctl'], '16': ['initdb', 'pg_ctl'] });
    expect(findPostgresBinDir(dir)).toBe(join(dir, '17', 'bin'));
  });

  it('passes over a version without both initdb and pg_ctl (the client package alone)', () => {
    const dir = layout({ '15': ['initdb', 'pg_ctl'], '17': ['psql', 'pg_ctl'] });
    expect(findPostgresBinDir(dir)).toBe(join(dir, '15', 'bin'));
  });

  it('ignores entries that are not version numbers', () => {
    const dir = layout({ '15': ['initdb', 'pg_ctl'], 'lib': ['initdb', 'pg_ctl'] });
    expect(findPostgresBinDir(dir)).toBe(join(dir, '15', 'bin'));
  });

  it('finds nothing in an empty directory', () => {
    expect(findPostgresBinDir(layout({}))).toBeUndefined();
  });
});
