import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/db/database.js';
import { DataLayer } from '../../src/db/data-layer.js';
import { IncidentRepository, type Incident } from '../../src/incidents/incident-repository.js';
import { renderStorm } from '../../src/incidents/storm-message.js';
import { validateMessage } from '../../standins/slack/block-kit.js';

const START = Date.parse('2026-03-02T08:00:00.000Z');

function incident(n: number, changes: Partial<Incident>): Incident {
  return {
    id: `PS${n}`,
    number: n,
    title: `incident ${n}`,
    status: 'triggered',
    priority: 'P3',
    pd_priority: null,
    urgency: 'high',
    service: null,
    html_url: null,
    assignees: '[]',
    created_at: START + n * 1000,
    last_event_at: START,
    last_pd_event_at: START,
    acknowledged_at: null,
    acknowledged_by: null,
    acknowledged_source: null,
    resolved_at: null,
    resolved_by: null,
    resolved_source: null,
    sla_deadline: null,
    sla_warn_at: null,
    sla_state: 'running',
    breached_at: null,
    escalations: 0,
    alert_channel: 'C0ALERTS',
    alert_posted: 0,
    pd_sync: null,
    storm_id: 1,
    storm_seq: n,
    assigned_slack: null,
    updated_at: START,
    ...changes,
  };
}

describe('the storm summary, counted in the database', () => {
  let db: Db;
  let repo: IncidentRepository;
  let data: DataLayer;
  beforeEach(() => {
    db = openDatabase(':memory:');
    data = DataLayer.sqlite(db);
    repo = new IncidentRepository(DataLayer.sqlite(db));
  });
  afterEach(() => db.close());

  it('counts by priority, open and unacknowledged P1, lists the newest and the ones waiting in storm order', async () => {
    await repo.insert(data.db, incident(1, { priority: 'P1', alert_posted: 1 }));
    await repo.insert(data.db, incident(2, { priority: 'P1', status: 'acknowledged' }));
    await repo.insert(data.db, incident(3, { priority: 'P2', status: 'resolved' }));
    await repo.insert(data.db, incident(4, { priority: 'P1' }));
    await repo.insert(data.db, incident(5, { priority: 'P3', created_at: START })); // the oldest, though numbered later
    await repo.insert(data.db, incident(6, { storm_id: 2, priority: 'P1' }));
    await repo.insert(data.db, incident(7, { storm_id: null, priority: 'P1' }));

    expect(await repo.stormSummary(data.db, 1, { newest: 3, waitingLimit: 2 })).toEqual({
      total: 5,
      open: 4,
      unacknowledgedP1: 2,
      rev: 5,
      byPriority: [
        { priority: 'P1', count: 3 },
        { priority: 'P2', count: 1 },
        { priority: 'P3', count: 1 },
      ],
      newest: [
        { priority: 'P1', number: 4, title: 'incident 4' },
        { priority: 'P2', number: 3, title: 'incident 3' },
        { priority: 'P1', number: 2, title: 'incident 2' },
      ],
      waitingCount: 4,
      waiting: [5, 2],
    });
    expect(await repo.stormSummary(data.db, 3, { newest: 3, waitingLimit: 2 })).toMatchObject({ total: 0, open: 0, waiting: [], byPriority: [] });
  });

  it('renders a storm of 20,000 incidents as valid Block Kit, listing as many waiting numbers as fit', async () => {
    await data.transaction(async (tx) => {
      for (let n = 1; n <= 20_000; n++) await repo.insert(tx, incident(n, { priority: n % 10 === 0 ? 'P1' : 'P3' }));
    });
    const storm = { id: 1, channel: 'C0ALERTS', started_at: START, ended_at: null };
    const content = renderStorm(storm, await repo.stormSummary(data.db, 1, { newest: 5, waitingLimit: 14_000 }));
    expect(content.text).toBe('Alert storm: 20000 incidents (20000 open)');
    expect(validateMessage(content)).toEqual([]);
    const blocks = JSON.stringify(content.blocks);
    expect(blocks).toContain('Not yet posted individually (20000):');
    expect(blocks).toContain('#14000');
    expect(blocks).not.toContain('#14001');
    expect(blocks).toContain('Acknowledge all P1 (2000)');
  });
});
