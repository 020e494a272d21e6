import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackStandIn } from '../../standins/slack/index.js';
import { BOT_TOKEN, USERS, healthDetails, startTestBot, type TestBot } from '../helpers/bot.js';
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

  it('refuses a second instance on SQLite, naming the one that holds it; on PostgreSQL the second follows the first; and lets the first carry on', async () => {
    const first = await startTestBot({ dir, slack });
    bots.push(first);
    if (testBackend() === 'postgres') {
      // Replicas share a PostgreSQL database: the second one follows the leader (decision 021).
      const second = await startTestBot({ dir, slack });
      bots.push(second);
      expect(await healthDetails(second.url)).toMatchObject({ leadership: { role: 'follower' } });
    } else {
      // SQLite's lock file names the process.
      const holder = `pid ${process.pid} on host ${hostname()}, running since 2026-03-02T08:00:00.000Z`;
      await expect(startTestBot({ dir, slack })).rejects.toThrow(`database ${await databaseLabel(dir)} is in use by another Waygate (${holder})`);
    }
    const ack = await first.signer.slashCommand({ text: 'help', userId: USERS.nobody, responseUrl: slack.responseUrl() });
    expect(ack.json.text).toContain('/waygate help');

    // Stopped, it lets the next one in.
    for (const bot of bots.splice(0).reverse()) await bot.waygate.stop();
    const next = await startTestBot({ dir, slack });
    bots.push(next);
    expect((await next.signer.slashCommand({ text: 'help', userId: USERS.nobody, responseUrl: slack.responseUrl() })).status).toBe(200);
  });
});
