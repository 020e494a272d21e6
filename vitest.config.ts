import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Coverage globs match anywhere in a file's absolute path: a bare 'standins/**' would also drop every file
// of a checkout whose path contains that text, so exclusions are anchored at the repository root.
const root = fileURLToPath(new URL('.', import.meta.url));
const NOT_PRODUCT = ['standins', 'sandbox', 'test', 'bench'].map((dir) => `${root}${dir}/**`);

/**
 * Integration tests the PostgreSQL run leaves out: SQLite's own mechanisms (`sqlite-*`), tests that start a
 * PostgreSQL cluster or database of their own and already run in the first project, and the sandbox, which
 * `npm start` always runs on a SQLite file of its own.
 */
const NOT_ON_POSTGRES = [
  'test/integration/sqlite-*.test.ts',
  'test/integration/postgres-*.test.ts',
  'test/integration/move-to-postgres.test.ts',
  'test/integration/leader-lease.test.ts',
  'test/integration/replay-claims.test.ts',
  'test/integration/inbox-group-commit.test.ts',
  'test/integration/sandbox.test.ts',
];

export default defineConfig({
  test: {
    // Integration tests boot real HTTP servers and SQLite files; keep parallelism modest for 2-core CI.
    pool: 'forks',
    maxWorkers: 2,
    // Test files share their worker's loaded modules instead of loading the bot afresh for each file: that
    // loading was a third of the run. Every test builds its own bot, stand-ins and clock, and restores any
    // environment variable it sets, so no state crosses files.
    isolate: false,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Every test on SQLite, then the integration tests again on PostgreSQL (decision 020).
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['test/integration/**/*.test.ts'],
          exclude: NOT_ON_POSTGRES,
          // Test bots start on PostgreSQL, each with a database of its own on the one server the set-up starts.
          env: { WAYGATE_TEST_BACKEND: 'postgres' },
          // Each statement is a round trip to another process: room for three times SQLite's time (timeLimit()).
          testTimeout: 60_000,
          hookTimeout: 60_000,
          globalSetup: ['test/support/postgres-suite.ts'],
          setupFiles: ['test/support/postgres-suite-env.ts'],
        },
      },
    ],
    coverage: {
      provider: 'v8',
      // Product code only: stand-ins and test support are exercised by the tests but never shipped.
      include: ['src/**/*.ts', 'commands/**/*.ts', 'jobs/**/*.ts'],
      exclude: ['src/main.ts', ...NOT_PRODUCT],
      reporter: ['text-summary', 'text'],
      // Ratchet: raise these as coverage rises, never lower them. The incident domain pages people: stricter.
      thresholds: {
        lines: 96,
        branches: 82,
        functions: 96,
        statements: 93.5,
        'src/incidents/**': { lines: 98, branches: 83, functions: 98, statements: 96 },
      },
    },
  },
});
