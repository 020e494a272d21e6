import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { ManualClock } from '../../src/clock/clock.js';
import { fileConfigSchema } from '../../src/config/schema.js';
import { openDatabase, type Db } from '../../src/db/database.js';
import { DataLayer } from '../../src/db/data-layer.js';
import { BusinessCalendar } from '../../src/incidents/business-calendar.js';
import type { IncidentEvent } from '../../src/incidents/events.js';
import { IncidentRepository } from '../../src/incidents/incident-repository.js';
import { IncidentIngest } from '../../src/incidents/ingest.js';
import { IncidentLifecycle } from '../../src/incidents/lifecycle.js';

const START = Date.parse('2026-03-02T08:00:00.000Z');

function trigger(n: number): IncidentEvent {
  return {
    eventId: `EV${n}`,
    type: 'incident.triggered',
    occurredAt: START,
    agentName: null,
    incidentId: `PX${n}`,
    incident: { id: `PX${n}`, number: n, title: `t${n}`, status: 'triggered', priorityName: 'P3', urgency: 'low', service: null, htmlUrl: null, assignees: [], createdAt: START },
  };
}

describe('applying the webhook inbox in slices', () => {
  let db: Db;
  let clock: ManualClock;
  let ingest: IncidentIngest;
  /** How long applying one event takes, on the injected clock. */
  let costMs: number;

  beforeEach(async () => {
    db = openDatabase(':memory:');
    clock = new ManualClock(START);
    costMs = 0;
    const file = fileConfigSchema.parse({});
    const lifecycle = new IncidentLifecycle({
      repo: new IncidentRepository(DataLayer.sqlite(db)),
      clock,
      audit: new AuditLog(DataLayer.sqlite(db), clock),
      alertsChannel: undefined,
      sla: file.sla,
      calendar: new BusinessCalendar(file.businessHours, 'UTC'),
      urgencyPriority: file.incidents.urgencyPriority,
      syncToPagerDuty: false,
    });
    ingest = new IncidentIngest({ data: DataLayer.sqlite(db), clock, logger: pino({ level: 'silent' }), lifecycle, follow: async () => {
        clock.advance(costMs);
      },
    });
    for (let n = 1; n <= 40; n++) await ingest.inbox.accept(DataLayer.sqlite(db).db, trigger(n), clock.nowMs());
  });
  afterEach(() => db.close());

  it('applies up to the limit when events are quick, and says whether more are waiting', async () => {
    expect(await ingest.processInbox(25, 5)).toEqual({ applied: 25, more: true });
    expect(await ingest.processInbox(25, 5)).toEqual({ applied: 15, more: false });
    expect(await ingest.inbox.pendingCount()).toBe(0);
  });

  it('ends a slice once its time budget is spent, leaving the rest queued in order', async () => {
    costMs = 2;
    expect(await ingest.processInbox(25, 5)).toEqual({ applied: 3, more: true });
    expect(await ingest.inbox.pendingCount()).toBe(37);
    expect((await ingest.inbox.pending(DataLayer.sqlite(db).db, 1))[0]?.event.eventId).toBe('EV4');
  });

  it('always applies at least one event, however slow, so the inbox keeps moving', async () => {
    costMs = 50;
    expect(await ingest.processInbox(25, 5)).toEqual({ applied: 1, more: true });
  });
});
