import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase } from '../../src/db/database.js';
import { MIGRATIONS } from '../../src/db/migrations.js';

describe('opening the database', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waygate-db-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a database with migrations this version does not know, naming them, and changes nothing', () => {
    const path = join(dir, 'waygate.db');
    openDatabase(path).close();
    const newest = Math.max(...MIGRATIONS.map((m) => m.version));
    const raw = new Database(path);
    raw.prepare('INSERT INTO schema_migrations (version, name) VALUES (?, ?), (?, ?)').run(newest + 3, 'sop runs', newest + 4, 'sop steps');
    raw.close();

    const older = MIGRATIONS.slice(0, -1);
    expect(() => openDatabase(path, older)).toThrow(
      `database ${path} has migrations this version of Waygate does not know: ${newest} (${MIGRATIONS.at(-1)?.name}), ${newest + 3} (sop runs), ${newest + 4} (sop steps).`,
    );
    const check = new Database(path, { readonly: true });
    expect(check.prepare('SELECT COUNT(*) FROM schema_migrations').pluck().get()).toBe(MIGRATIONS.length + 2);
    check.close();
  });

  it('still applies the migrations it knows to a database that has only older ones', () => {
    const db = new Database(':memory:');
    expect(migrate(db, MIGRATIONS.slice(0, 2))).toBe(2);
    expect(migrate(db, MIGRATIONS)).toBe(MIGRATIONS.length - 2);
    db.close();
  });
});
