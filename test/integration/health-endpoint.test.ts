import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import type { JobDefinition } from '../../src/jobs/types.js';
import type { JobContext } from '../../src/context.js';
import { HEALTH_TOKEN, fetchHealthDetails, startTestBot, type TestBot } from '../helpers/bot.js';
import { testBackend } from '../helpers/sql.js';

/** A job that fails the way real ones do: with an internal path in its error. */
const failing: JobDefinition<JobContext> = {
  name: 'nightly-export',
  description: 'test job',
  defaultSchedule: '0 9 * * *',
  run: () => Promise.reject(new Error('cannot write /var/lib/waygate/exports/2026-03-02.csv: disk full')),
};

describe('GET /health on the public port', () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  const start = async (env: Record<string, string | undefined> = {}) => {
    bot = await startTestBot({ clock: new ManualClock('2026-03-02T07:30:00Z'), overrides: { jobs: [failing] }, env });
    await bot.advanceTo('2026-03-02T08:00:00Z'); // 09:00 in Berlin: the job fails
    return bot;
  };

  it('tells a caller without the token only the status, the version and each component state', async () => {
    const b = await start();
    const res = await fetch(`${b.url}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({
      status: 'ok',
      version: '0.1.0',
      components: { database: 'ok', inbox: 'ok', oncall: 'ok', pagerduty: 'ok', jobs: 'ok', outbox: 'ok', deadlines: 'ok', procedures: 'ok', leadership: 'ok' },
    });
  });

  it('shows the details, job errors included, to a caller with the token', async () => {
    const b = await start();
    const res = await fetchHealthDetails(b.url);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body).toMatchObject({ status: 'ok', version: '0.1.0', components: { database: 'ok' }, database: { reachable: true } });
    // On SQLite the one process leads; on PostgreSQL the one replica there is has won the lease.
    expect(body.leadership).toMatchObject({ mode: testBackend() === 'postgres' ? 'replicas' : 'single', role: 'leader' });
    expect(body.leadership.holder).toBe(body.leadership.replica);
    expect(body.jobs['nightly-export'].lastRun).toMatchObject({ outcome: 'failed', error: 'cannot write /var/lib/waygate/exports/2026-03-02.csv: disk full' });
  });

  it('answers 401 and no details to a wrong token, or to any token when none is configured', async () => {
    const b = await start();
    for (const authorization of [`Bearer ${HEALTH_TOKEN}x`, 'Bearer ', HEALTH_TOKEN, `Basic ${HEALTH_TOKEN}`]) {
      const res = await fetch(`${b.url}/health`, { headers: { authorization } });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(await res.text()).not.toContain('/var/lib/waygate');
    }
    await b.stop();
    bot = undefined;
    const without = await start({ HEALTH_DETAILS_TOKEN: undefined });
    const res = await fetchHealthDetails(without.url);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'health details are not enabled: set HEALTH_DETAILS_TOKEN' });
    expect(await (await fetch(`${without.url}/health`)).json()).toMatchObject({ status: 'ok', components: { jobs: 'ok' } });
  });
});
