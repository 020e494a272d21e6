import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { DataLayer, all } from '../../src/db/data-layer.js';
import { openPostgres } from '../../src/db/postgres.js';
import type { IncidentEvent } from '../../src/incidents/events.js';
import { WebhookInbox } from '../../src/incidents/webhook-inbox.js';
import { startPostgres, type PostgresHandle } from '../support/postgres-cluster.js';

const START = Date.parse('2026-03-02T08:00:00.000Z');

function trigger(id: string): IncidentEvent {
  return {
    eventId: id,
    type: 'incident.triggered',
    occurredAt: START,
    agentName: null,
    incidentId: `P${id}`,
    incident: { id: `P${id}`, number: 1, title: id, status: 'triggered', priorityName: 'P3', urgency: 'low', service: null, htmlUrl: null, assignees: [], createdAt: START },
  };
}

let server: PostgresHandle;
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

const backends: Array<[string, () => Promise<{ data: DataLayer; close(): Promise<void> }>]> = [
  [
    'SQLite',
    () => {
      const db = openDatabase(':memory:');
      return Promise.resolve({
        data: DataLayer.sqlite(db),
        close: () => {
          db.close();
          return Promise.resolve();
        },
      });
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const data = await openPostgres(server.url);
      await sql`TRUNCATE webhook_inbox`.execute(data.db);
      return { data, close: () => data.close() };
    },
  ],
];

describe.each(backends)('the webhook inbox’s group commit on %s', (_name, open) => {
  it('stores a burst in arrival order, and tells a redelivery from a new event, also within one burst', async () => {
    const { data, close } = await open();
    try {
      const inbox = new WebhookInbox(data);
      expect(await inbox.acceptSoon(trigger('EV0'), START)).toBe(true);
      // Arriving in one turn of the event loop: committed together.
      const burst = ['EV1', 'EV2', 'EV1', 'EV0', 'EV3'].map((id) => inbox.acceptSoon(trigger(id), START + 1));
      expect(await Promise.all(burst)).toEqual([true, true, false, false, true]);
      const rows = await all(data.db, sql<{ event_id: string }>`SELECT event_id FROM webhook_inbox ORDER BY seq`);
      expect(rows.map((r) => r.event_id)).toEqual(['EV0', 'EV1', 'EV2', 'EV3']);
    } finally {
      await close();
    }
  });

  it('takes a burst larger than one statement holds, in order', async () => {
    const { data, close } = await open();
    try {
      const inbox = new WebhookInbox(data);
      const ids = Array.from({ length: 1_201 }, (_, i) => `EV${String(i).padStart(5, '0')}`);
      const fresh = await Promise.all([...ids, ids[7]!].map((id) => inbox.acceptSoon(trigger(id), START)));
      expect(fresh.filter(Boolean)).toHaveLength(ids.length);
      expect(fresh.at(-1)).toBe(false);
      const rows = await all(data.db, sql<{ event_id: string }>`SELECT event_id FROM webhook_inbox ORDER BY seq`);
      expect(rows.map((r) => r.event_id)).toEqual(ids);
      expect(await inbox.pendingCount()).toBe(ids.length);
    } finally {
      await close();
    }
  });
});
