import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { healthDetails, startTestBot, type TestBot } from '../helpers/bot.js';

const START = Date.parse('2026-03-02T08:00:00Z');

describe('deadlines when the database keeps failing', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  it('backs off instead of looping hot, and /health shows the error until it clears', async () => {
    const lines: Array<{ msg: string }> = [];
    const logger = pino({ level: 'error' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string }) });
    let broken = true;
    bot = await startTestBot({
      clock: new ManualClock(START),
      overrides: {
        logger,
        // A module whose deadline handler fails the way a locked or damaged database makes every handler fail.
        extraModules: (core) => {
          core.deadlines.on('flaky', () => {
            if (broken) throw new Error('SQLITE_BUSY: database is locked');
          });
          return [];
        },
      },
    });
    // Once started: on PostgreSQL the tables are created at start, not when the bot is built.
    await bot.waygate.deadlines.schedule(bot.waygate.data.db, 'flaky', 'k', START + 60_000);
    await bot.advanceTo(START + 60_000);
    const health = () => healthDetails(bot!.url);
    expect(await health()).toMatchObject({ status: 'degraded', deadlines: { lastError: 'SQLITE_BUSY: database is locked' } });
    // What a load balancer sees: degraded, and which part, without the error.
    expect(await (await fetch(`${bot.url}/health`)).json()).toEqual({ status: 'degraded', version: expect.any(String), components: expect.objectContaining({ deadlines: 'degraded' }) });

    // A minute of a persistent error: retries back off (1 s, 2 s, 4 s, … 32 s), not thousands of tries.
    await bot.advanceTo(START + 120_000);
    const tries = lines.filter((l) => l.msg === 'firing deadlines failed; retrying').length;
    expect(tries).toBeGreaterThanOrEqual(5);
    expect(tries).toBeLessThanOrEqual(8);

    broken = false;
    await bot.advanceTo(START + 240_000);
    expect(await health()).toMatchObject({ status: 'ok', deadlines: { lastError: null } });
  });
});
