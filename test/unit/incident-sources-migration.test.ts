import { afterEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Db } from '../../src/db/database.js';
import { MIGRATIONS } from '../../src/db/migrations.js';

describe('migration 9: where acknowledgements and resolutions came from', () => {
  let db: Db | undefined;
  afterEach(() => db?.close());

  it('recovers the source of incidents written before it from the acknowledgements and the audit trail', () => {
    db = openDatabase(':memory:', MIGRATIONS.filter((m) => m.version < 9));
    const insert = db.prepare(
      `INSERT INTO incidents (id, number, title, status, priority, created_at, last_event_at, updated_at, acknowledged_by, resolved_by)
       VALUES (?, ?, 't', ?, 'P1', 0, 0, 0, ?, ?)`,
    );
    insert.run('PSLACK', 1, 'acknowledged', 'U0ONCALL', null);
    insert.run('PPAGER', 2, 'resolved', 'U0ADMIN', 'U0ADMIN');
    insert.run('PSLKRS', 3, 'resolved', null, 'U0LEAD');
    insert.run('PNOREC', 4, 'resolved', null, 'U0GHOST');
    const ack = db.prepare(`INSERT INTO incident_acks (incident_id, acked_by, source, acked_at, time_to_ack_ms, sla_outcome) VALUES (?, ?, ?, 0, 0, 'met')`);
    ack.run('PSLACK', 'U0ONCALL', 'slack');
    ack.run('PPAGER', 'U0ADMIN', 'pagerduty');
    const audit = db.prepare(`INSERT INTO audit_log (at, actor, action, subject, details, prev_hash, hash) VALUES (0, ?, 'incident.resolved', '#', ?, '', '')`);
    audit.run('U0ADMIN', JSON.stringify({ id: 'PPAGER', source: 'pagerduty' }));
    audit.run('U0LEAD', JSON.stringify({ id: 'PSLKRS', source: 'slack' }));

    migrate(db, MIGRATIONS);
    const rows = db.prepare('SELECT id, acknowledged_source, resolved_source FROM incidents ORDER BY number').all();
    expect(rows).toEqual([
      { id: 'PSLACK', acknowledged_source: 'slack', resolved_source: null },
      { id: 'PPAGER', acknowledged_source: 'pagerduty', resolved_source: 'pagerduty' },
      { id: 'PSLKRS', acknowledged_source: null, resolved_source: 'slack' },
      // Nothing says where it came from: shown as plain text, never as a mention.
      { id: 'PNOREC', acknowledged_source: null, resolved_source: null },
    ]);
  });
});
