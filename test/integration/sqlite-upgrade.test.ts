import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.js';
import { openDatabase } from '../../src/db/database.js';
import { MIGRATIONS } from '../../src/db/migrations.js';
import { startTestBot, USERS } from '../helpers/bot.js';

// A SQLite file written by an old version, upgraded by this one's migrations at start. PostgreSQL's schema
// begins at a later baseline, so these run on SQLite only.

const START = '2026-03-02T08:00:00.000Z'; // Monday 09:00 in Berlin
const at = (minutes: number) => Date.parse(START) + minutes * 60_000;
const iso = (minutes: number) => new Date(at(minutes)).toISOString();

describe('upgrading a database whose incidents were stamped by changes made in Slack', () => {
  it('orders the next PagerDuty event against PagerDuty’s own last event, and numbers the members of a storm still going', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waygate-upgrade-'));
    // What the previous version left: acknowledged in Slack at minute 3 (the bot's clock), PagerDuty's last
    // event the trigger at minute 0, still in the webhook inbox; and an incident whose inbox rows were pruned.
    const old = openDatabase(join(dir, 'waygate.db'), MIGRATIONS.filter((m) => m.version <= 4));
    const insert = old.prepare(
      `INSERT INTO incidents (id, number, title, status, priority, created_at, last_event_at, acknowledged_at, acknowledged_by, sla_deadline, sla_warn_at, sla_state, alert_channel, updated_at)
       VALUES (?, ?, ?, 'acknowledged', 'P1', ?, ?, ?, ?, ?, ?, 'met', NULL, ?)`,
    );
    insert.run('PUP0001', 1801, 'upgraded', at(0), at(3), at(3), USERS.oncall, at(5), at(4), at(3));
    insert.run('PUP0002', 1802, 'pruned', at(0), at(3), at(3), USERS.oncall, at(5), at(4), at(3));
    // And one acknowledged in PagerDuty at minute 2, whose older events must still count as out of date.
    insert.run('PUP0003', 1803, 'acked in PagerDuty', at(0), at(2), at(2), 'Pat Pager', at(5), at(4), at(2));
    const inbox = old.prepare(`INSERT INTO webhook_inbox (event_id, event, received_at, processed_at, result) VALUES (?, ?, ?, ?, 'applied')`);
    const seen = (eventId: string, type: string, minute: number, incidentId: string) =>
      inbox.run(eventId, JSON.stringify({ eventId, type, occurredAt: at(minute), agentName: null, incidentId }), at(minute), at(minute));
    seen('EVUP1', 'incident.triggered', 0, 'PUP0001');
    seen('EVUP2', 'incident.triggered', 0, 'PUP0003');
    seen('EVUP3', 'incident.acknowledged', 2, 'PUP0003');
    seen('EVUP4', 'incident.annotated', 3, 'PUP0003');
    // A storm still going: its summary, drawn after the upgrade, must know how many incidents it holds.
    old.prepare(`INSERT INTO storms (id, channel, started_at) VALUES (1, 'C0ALERTS', ?)`).run(at(0));
    old.prepare(`UPDATE incidents SET storm_id = 1 WHERE id IN ('PUP0002', 'PUP0003')`).run();
    old.close();

    const bot = await startTestBot({ clock: new ManualClock(at(4)), pagerDuty: true, dir, backend: 'sqlite' });
    try {
      for (const [id, number] of [['PUP0001', 1801], ['PUP0002', 1802]] as const) {
        const res = await bot.pdSigner.send(
          bot.pdSigner.incidentEvent('incident.resolved', { id, number, priority: 'P1', created_at: iso(0) }, { eventId: `EVUPR${number}`, occurredAt: new Date(at(3) - 1_000).toISOString() }),
        );
        expect(res.status).toBe(200);
      }
      const late = await bot.pdSigner.send(
        bot.pdSigner.incidentEvent('incident.unacknowledged', { id: 'PUP0003', number: 1803, priority: 'P1', created_at: iso(0) }, { eventId: 'EVUPU', occurredAt: iso(1) }),
      );
      expect(late.status).toBe(200);
      const reopen = await bot.pdSigner.send(
        bot.pdSigner.incidentEvent('incident.priority_updated', { id: 'PUP0003', number: 1803, priority: 'P2', created_at: iso(0) }, { eventId: 'EVUPP', occurredAt: new Date(at(2) + 1).toISOString() }),
      );
      expect(reopen.status).toBe(200);
      await bot.waygate.inboxProcessor.whenIdle();
      expect((await bot.waygate.services.incidents.get('PUP0001'))?.status).toBe('resolved');
      expect((await bot.waygate.services.incidents.get('PUP0002'))?.status).toBe('resolved');
      // The late unacknowledgement is older than PagerDuty's acknowledgement; a note says nothing about state.
      expect(await bot.waygate.services.incidents.get('PUP0003')).toMatchObject({ status: 'acknowledged', priority: 'P2' });
      expect([await bot.waygate.services.incidents.stormShown(1, 2), await bot.waygate.services.incidents.stormShown(1, 3)]).toEqual([true, false]);
      expect((await bot.waygate.services.incidents.get('PUP0003'))?.storm_seq).toBe(2);
    } finally {
      await bot.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
