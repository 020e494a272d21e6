import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { DIGEST_ACTIONS } from '../../src/health/digest.js';
import { INCIDENT_ACTIONS } from '../../src/incidents/actions.js';
import { startTestBot, USERS, type TestBot } from '../helpers/bot.js';

const START = '2026-03-02T08:00:00.000Z';

/** A block_actions payload as Slack sends it, with `actions` replaced by what a test needs. */
function payload(actions: unknown): Record<string, unknown> {
  return {
    type: 'block_actions',
    user: { id: USERS.oncall, username: 'oncall', team_id: 'T0STANDIN' },
    api_app_id: 'A0STANDIN',
    token: 'verification-token',
    container: { type: 'message', message_ts: '1.000001', channel_id: 'C0ALERTS', is_ephemeral: false },
    trigger_id: '1.2.abc',
    team: { id: 'T0STANDIN', domain: 'standin' },
    channel: { id: 'C0ALERTS', name: 'alerts' },
    message: { type: 'message', ts: '1.000001', text: '', blocks: [] },
    state: { values: {} },
    response_url: 'http://127.0.0.1:9/unused',
    ...(actions === undefined ? {} : { actions }),
  };
}

describe('interaction payloads the bot cannot act on', () => {
  let bot: TestBot;
  let lines: Array<{ level: number; msg: string }>;

  beforeEach(async () => {
    lines = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
    bot = await startTestBot({ clock: new ManualClock(START), overrides: { logger } });
    lines.length = 0;
  });
  afterEach(async () => {
    await bot.stop();
  });

  /** Signs and sends a raw interaction exactly as Slack does (form body, `payload=<json>`). */
  async function send(body: Record<string, unknown>): Promise<{ status: number; text: string }> {
    const res = await bot.signer.interaction(body);
    return { status: res.status, text: res.text };
  }

  const state = async () => ({
    outbox: (await bot.waygate.services.outbox.stats()),
    audit: (await bot.waygate.services.audit.recent(100)).length,
    incidents: (await bot.waygate.services.incidents.open()).length,
  });

  it.each([
    { name: 'no actions array at all', actions: undefined, line: 'malformed block_actions payload ignored' },
    { name: 'an empty actions array', actions: [], line: 'malformed block_actions payload ignored' },
    { name: 'an action without an action_id', actions: [{ type: 'button', value: 'x' }], line: 'malformed block_actions payload ignored' },
    { name: 'an unknown action id', actions: [{ type: 'button', action_id: 'nobody.handles_this', value: 'x' }], line: 'interaction with no handler ignored' },
    { name: 'a malformed incident id', actions: [{ type: 'button', action_id: INCIDENT_ACTIONS.acknowledge, value: 'not an id; DROP TABLE' }], line: 'interaction with a malformed value ignored' },
    { name: 'a digest number that is not a number', actions: [{ type: 'button', action_id: DIGEST_ACTIONS.reviewed, value: '1e9999' }], line: 'interaction with a malformed value ignored' },
  ])('acks $name at once (200, not Bolt\'s timeout), changes nothing and logs one line', async ({ actions, line }) => {
    const before = await state();
    const res = await send(payload(actions));
    expect(res).toEqual({ status: 200, text: '' });
    await bot.settle();
    expect(await state()).toEqual(before);
    expect(lines.map((l) => l.msg)).toEqual([line]);
    expect(lines[0]?.level).toBe(40); // warn
  });
});
