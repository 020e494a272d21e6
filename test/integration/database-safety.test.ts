import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackStandIn } from '../../standins/slack/index.js';
import { BOT_TOKEN, USERS, startTestBot, type TestBot } from '../helpers/bot.js';
import { databaseLabel, testBackend } from '../helpers/sql.js';

// SQLite's damaged, read-only and full files are in sqlite-database-safety.test.ts; a PostgreSQL database that
// cannot be reached for a while is in postgres-bot.test.ts.

describe('one Waygate per database', () => {
  let slack: SlackStandIn;
  let dir: string;
  const bots: TestBot[] = [];

  beforeEach(async () => {
    slack = await SlackStandIn.start({ token: BOT_TOKEN });
    dir = mkdtempSync(join(tmpdir(), 'waygate-db-'));
  });
  afterEach(async () => {
    for (const bot of bots.splice(0).reverse()) await bot.waygate.stop();
    await slack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a second instance on the same database, naming the one that holds it, and lets the first carry on', async () => {
    const first = await startTestBot({ dir, slack });
    bots.push(first);
    // SQLite's lock file names the process; PostgreSQL's advisory lock names it through its session.
    // (The session's name is cut at PostgreSQL's 63 characters.)
    const holder =
      testBackend() === 'postgres'
        ? `waygate ${hostname()}:${process.pid} since 2026-03-02T08:00:00.000Z`.slice(0, 63)
        : `pid ${process.pid} on host ${hostname()}, running since 2026-03-02T08:00:00.000Z`;
    await expect(startTestBot({ dir, slack })).rejects.toThrow(`database ${await databaseLabel(dir)} is in use by another Waygate (${holder})`);
    const ack = await first.signer.slashCommand({ text: 'help', userId: USERS.nobody, responseUrl: slack.responseUrl() });
    expect(ack.json.text).toContain('/waygate help');

    // Stopped, it lets the next one in.
    await first.waygate.stop();
    bots.pop();
    const next = await startTestBot({ dir, slack });
    bots.push(next);
    expect((await next.signer.slashCommand({ text: 'help', userId: USERS.nobody, responseUrl: slack.responseUrl() })).status).toBe(200);
  });
});
