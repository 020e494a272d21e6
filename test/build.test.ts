/**
 * The production build (`npm run build`: src/, commands/, jobs/), built once into a temporary directory laid
 * out like the image, then started.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SlackStandIn } from '../standins/slack/index.js';
import { BOT_TOKEN, DEFAULT_YAML, testEnv } from './helpers/bot.js';
import { spawnBot, type BotProcess } from './helpers/process.js';
import { PRODUCTION_BUILD_TIMEOUT_MS, startProductionBuild, type ProductionBuild } from './support/production-build.js';

describe('the production build', () => {
  let build: ProductionBuild | undefined;

  beforeAll(async () => {
    build = startProductionBuild();
    await build.done;
  }, PRODUCTION_BUILD_TIMEOUT_MS);
  afterAll(async () => {
    await build?.remove();
  });

  describe('started with `npm start`', () => {
    let slack: SlackStandIn;
    let dir: string;
    let bot: BotProcess | undefined;

    beforeEach(async () => {
      slack = await SlackStandIn.start({ token: BOT_TOKEN });
      dir = mkdtempSync(join(tmpdir(), 'waygate-proc-'));
    });
    afterEach(async () => {
      if (bot && bot.child.exitCode === null && bot.child.signalCode === null) {
        process.kill(-bot.child.pid!, 'SIGKILL'); // the whole group: npm and the bot under it
      }
      await bot?.exited;
      await slack.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('runs the bot, which serves /health and /metrics and stops on SIGTERM', async () => {
      bot = spawnBot({ ...testEnv(dir, slack, DEFAULT_YAML), LOG_LEVEL: 'info' }, { npmStartIn: build!.root });
      const port = await bot.ready;
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', version: '0.1.0', database: { reachable: true } });
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain('waygate_commands_total');
      process.kill(-bot.child.pid!, 'SIGTERM'); // npm and the bot share the group
      await bot.exited;
      expect(bot.stdout.some((l) => l.includes('Waygate stopped'))).toBe(true);
    });
  });
});
