import { describe, expect, it } from 'vitest';
import type { AuditRow } from '../../src/audit/audit-log.js';
import { auditCsv, auditJson, csvField } from '../../src/audit/export.js';
import { parseCsv } from '../support/csv.js';

const row = (over: Partial<AuditRow>): AuditRow => ({
  id: 1,
  at: Date.parse('2026-03-01T10:00:00Z'),
  actor: 'U0OPS',
  action: 'job.run',
  subject: null,
  details: '{}',
  prev_hash: '0'.repeat(64),
  hash: 'a'.repeat(64),
  ...over,
});

describe('audit export CSV', () => {
  it.each([
    ['plain', 'plain'],
    ['', ''],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['cr\r\nlf', '"cr\r\nlf"'],
    ['"', '""""'],
  ])('quotes %j as RFC 4180 does', (value, expected) => {
    expect(csvField(value)).toBe(expected);
  });

  it.each(['=HYPERLINK("http://x")', '+1', '-2', '@SUM(A1)', '\tx'])('keeps a spreadsheet from running %j as a formula', (value) => {
    const field = csvField(value);
    expect(parseCsv(`${field}\r\n`)[0]![0]).toBe(`'${value}`);
  });

  it('writes a header and one record per row, which a strict reader gives back unchanged', () => {
    const rows = [
      row({ id: 3, subject: 'deploy "v1,2"\nsecond line', details: JSON.stringify({ reason: 'a, "b"', n: 1 }) }),
      row({ id: 4, at: Date.parse('2026-03-01T23:59:59.123Z'), actor: 'waygate', action: 'audit.keyed', hash: 'b'.repeat(64) }),
    ];
    const csv = auditCsv(rows);
    expect(csv.endsWith('\r\n')).toBe(true);
    expect(parseCsv(csv)).toEqual([
      ['id', 'at', 'actor', 'action', 'subject', 'details', 'hash'],
      ['3', '2026-03-01T10:00:00.000Z', 'U0OPS', 'job.run', 'deploy "v1,2"\nsecond line', '{"reason":"a, \\"b\\"","n":1}', 'a'.repeat(64)],
      ['4', '2026-03-01T23:59:59.123Z', 'waygate', 'audit.keyed', '', '{}', 'b'.repeat(64)],
    ]);
  });

  it('writes only the header for no rows', () => {
    expect(auditCsv([])).toBe('id,at,actor,action,subject,details,hash\r\n');
  });
});

describe('audit export JSON', () => {
  it('carries every value, with the parsed details, epoch milliseconds and the previous hash', () => {
    const meta = { from: '2026-03-01', to: '2026-03-01', timezone: 'UTC', exportedAt: Date.parse('2026-03-02T00:00:00Z'), exportedBy: 'U0SEC' };
    const parsed = JSON.parse(auditJson([row({ details: '{"k":[1,2]}' }), row({ id: 2, details: 'not json' })], meta)) as Record<string, unknown>;
    expect(parsed).toEqual({
      ...meta,
      exportedAt: '2026-03-02T00:00:00.000Z',
      entries: [
        { id: 1, at: '2026-03-01T10:00:00.000Z', atMs: Date.parse('2026-03-01T10:00:00Z'), actor: 'U0OPS', action: 'job.run', subject: null, details: { k: [1, 2] }, prevHash: '0'.repeat(64), hash: 'a'.repeat(64) },
        expect.objectContaining({ id: 2, details: 'not json' }),
      ],
    });
  });
});
