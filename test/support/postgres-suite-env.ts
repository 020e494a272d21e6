// A set-up file of the test run's "postgres" project: hands each test worker the server the project's global
// set-up (postgres-suite.ts) provides, where test/helpers/sql.ts looks for it.
import { inject } from 'vitest';

process.env.WAYGATE_TEST_DATABASE_URL = inject('waygateTestDatabaseUrl');
process.env.WAYGATE_TEST_RUN = inject('waygateTestRun');
process.env.WAYGATE_TEST_TEMPLATE = inject('waygateTestTemplate');
