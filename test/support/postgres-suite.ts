// The global set-up of the test run's "postgres" project (vitest.config.ts): one throwaway PostgreSQL cluster
// for the whole run, or the server WAYGATE_TEST_DATABASE_URL names. Every test bot of the project then gets a
// database of its own on it (test/helpers/sql.ts). Runs in vitest's main process, not in a test worker.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openPostgres } from '../../src/db/postgres.js';
import { startPostgres, type PostgresHandle } from './postgres-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** postgres://… of the server test bots create their databases on. */
    waygateTestDatabaseUrl: string;
    /** Hex: prefixes the databases of this run, so what is left of them can be dropped at its end. */
    waygateTestRun: string;
    /** A database with Waygate's schema, copied for each test bot instead of migrating each anew. */
    waygateTestTemplate: string;
  }
}

/**
 * A cluster that is thrown away afterwards need not survive a crash: its commits wait for no disk
 * (fsync is off already when it starts).
 */
const THROWAWAY_SETTINGS = ['synchronous_commit = off', 'full_page_writes = off'];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.WAYGATE_TEST_DATABASE_URL;
  const run = randomBytes(4).toString('hex');
  let cluster: PostgresHandle | undefined;
  let server: string;
  if (given !== undefined && given !== '') {
    server = given;
  } else {
    // A cluster of its own (not a database on a given server): `env` without WAYGATE_TEST_DATABASE_URL.
    cluster = await startPostgres({ env: {} });
    server = cluster.url;
    await onServer(server, async (client) => {
      for (const setting of THROWAWAY_SETTINGS) await client.query(`ALTER SYSTEM SET ${setting}`);
      await client.query('SELECT pg_reload_conf()');
    });
  }
  const template = `waygate_${run}_template`;
  await onServer(server, (client) => client.query(`CREATE DATABASE ${template}`).then(() => undefined));
  const url = new URL(server);
  url.pathname = `/${template}`;
  // Migrated once, and closed: PostgreSQL copies a database only while nobody is connected to it.
  await (await openPostgres(url.toString(), { poolSize: 2 })).close();
  project.provide('waygateTestDatabaseUrl', server);
  project.provide('waygateTestRun', run);
  project.provide('waygateTestTemplate', template);
  return async () => {
    if (cluster) {
      await cluster.stop();
      return;
    }
    // A server of one's own stays; the databases this run's bots made on it go.
    await onServer(server, async (client) => {
      const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`waygate\\_${run}\\_%`]);
      // Names of hex digits and underscores only: safe to quote as identifiers.
      for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    });
  };
}

async function onServer(url: string, work: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
