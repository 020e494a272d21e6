import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/core/text.js';
import { change, collectReview, compare, incidentTotals, renderReview, reviewChartData, WEEK_MS, type ReviewSources } from '../../src/maintenance/performance-review.js';
import type { ServiceFigures } from '../../src/health/health-service.js';
import type { ResponseFigures } from '../../src/incidents/incident-repository.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-03-03T13:00:00Z');

const service = (over: Partial<ServiceFigures> = {}): ServiceFigures => ({
  samples: 2016,
  okSamples: 2016,
  uptimePct: 100,
  p50Ms: 120,
  p95Ms: 300,
  expectedSamples: 2016,
  errors: { digests: 7, errorLines: 10 },
  ...over,
});
const row = (priority: string, over: Partial<ResponseFigures> = {}): ResponseFigures => ({
  priority,
  incidents: 1,
  acknowledged: 1,
  resolved: 1,
  mttaMs: 60_000,
  mttrMs: 600_000,
  breaches: 0,
  ...over,
});

/** Sources that answer the same figures for every span, and record the spans asked for. */
function sources(figures: { lastWeek: [ServiceFigures, ResponseFigures[]]; thisWeek: [ServiceFigures, ResponseFigures[]] }) {
  const asked: Array<[number, number]> = [];
  const pick = (from: number) => (from >= NOW - WEEK_MS ? figures.thisWeek : figures.lastWeek);
  const s: ReviewSources = {
    service: (from, until) => {
      asked.push([from, until]);
      return pick(from)[0];
    },
    incidents: (from) => pick(from)[1],
  };
  return { s, asked };
}

const sectionsOf = (blocks: unknown) => (blocks as Array<{ type: string; text?: { text: string } }>).filter((b) => b.type === 'section').map((b) => b.text!.text);

describe('week-over-week change', () => {
  it('says how much a figure rose or fell relative to last week, and in points for percentages', () => {
    expect(change(250_000, 150_000)).toBe('▼ 40 %');
    expect(change(4, 5)).toBe('▲ 25 %');
    expect(change(1000, 1003)).toBe('▲ 0.3 %');
    expect(change(100_000, 100_001)).toBe('▲ <0.1 %');
    expect(change(99.4, 100, 'points')).toBe('▲ 0.6 pt');
    expect(change(100, 97.25, 'points')).toBe('▼ 2.8 pt');
    expect(change(7, 7)).toBe('(no change)');
  });

  it('never divides by zero: a rise from nothing is the arrow alone', () => {
    expect(change(0, 3)).toBe('▲');
    expect(change(0, 0)).toBe('(no change)');
    expect(change(3, 0)).toBe('▼ 100 %');
  });

  it('has no change to give when either week has no figure', () => {
    expect(change(null, 3)).toBeUndefined();
    expect(change(3, null)).toBeUndefined();
  });

  it('writes a figure as last week → this week with its change, or says which week has no data', () => {
    expect(compare('MTTA', 250_000, 150_000, formatDuration)).toBe('MTTA 4 min 10 s → 2 min 30 s ▼ 40 %');
    expect(compare('MTTA', null, 150_000, formatDuration)).toBe('MTTA 2 min 30 s (no data last week)');
    expect(compare('MTTA', 250_000, null, formatDuration)).toBe('MTTA 4 min 10 s → no data this week');
    expect(compare('MTTA', null, null, formatDuration)).toBe('MTTA: no data either week');
  });
});

describe('incident totals', () => {
  it('weights each priority\'s mean by the incidents it covers', () => {
    const totals = incidentTotals([
      row('P1', { incidents: 3, acknowledged: 3, mttaMs: 60_000, resolved: 1, mttrMs: 600_000, breaches: 1 }),
      row('P3', { incidents: 2, acknowledged: 1, mttaMs: 240_000, resolved: 0, mttrMs: null, breaches: 2 }),
    ]);
    expect(totals).toEqual({ incidents: 5, acknowledged: 4, resolved: 1, mttaMs: (3 * 60_000 + 240_000) / 4, mttrMs: 600_000, breaches: 3 });
  });

  it('has no means when nothing was acknowledged or resolved', () => {
    expect(incidentTotals([])).toEqual({ incidents: 0, acknowledged: 0, resolved: 0, mttaMs: null, mttrMs: null, breaches: 0 });
    expect(incidentTotals([row('P2', { acknowledged: 0, mttaMs: null, resolved: 0, mttrMs: null })]).mttaMs).toBeNull();
  });
});

describe('the review', () => {
  it('reads this week as the 7 days before the run and last week as the 7 before those, day by day', async () => {
    const { s, asked } = sources({ lastWeek: [service(), []], thisWeek: [service(), []] });
    const data = await collectReview(s, NOW, 'Europe/Berlin');
    expect([data.thisWeek.from, data.thisWeek.until]).toEqual([NOW - 7 * DAY, NOW]);
    expect([data.lastWeek.from, data.lastWeek.until]).toEqual([NOW - 14 * DAY, NOW - 7 * DAY]);
    expect(asked).toContainEqual([NOW - 7 * DAY, NOW]);
    expect(asked).toContainEqual([NOW - DAY, NOW]);
    expect(asked).toContainEqual([NOW - 14 * DAY, NOW - 13 * DAY]);
    expect(data.thisWeek.days).toHaveLength(7);
  });

  it('compares every figure, overall and by priority', async () => {
    const { s } = sources({
      lastWeek: [service({ okSamples: 2004, uptimePct: (2004 / 2016) * 100, p50Ms: 200, errors: { digests: 7, errorLines: 15 } }), [row('P1', { incidents: 2, acknowledged: 2, mttaMs: 250_000, breaches: 1 })]],
      thisWeek: [service({ p50Ms: 100, errors: { digests: 6, errorLines: 3 } }), [row('P1', { mttaMs: 150_000 }), row('P2')]],
    });
    const [svc, incidents] = sectionsOf(renderReview((await collectReview(s, NOW, 'Europe/Berlin'))).blocks);
    expect(svc).toContain('Uptime 99.4 % → 100 % ▲ 0.6 pt · 2,016 of 2,016 checks → 2,016 of 2,016 checks');
    expect(svc).toContain('Response time p50 200 ms → 100 ms ▼ 50 %');
    expect(svc).toContain('ERROR lines 15 → 3 ▼ 80 % · counted by 7 daily digests → 6 daily digests');
    expect(incidents).toContain('Incidents 2 → 2 (no change)');
    expect(incidents).toContain(`MTTA 4 min 10 s → ${formatDuration((150_000 + 60_000) / 2)} ▼ 58 %`);
    expect(incidents).toContain('• *P1* incidents 2 → 1 ▼ 50 % · MTTA 4 min 10 s → 2 min 30 s ▼ 40 %');
    expect(incidents).toContain('• *P2* incidents 0 → 1 ▲ · MTTA 1 min (no data last week)');
  });

  it('says "no data last week" for a first week, and counts nothing that was not counted', async () => {
    const { s } = sources({
      lastWeek: [service({ samples: 0, okSamples: 0, uptimePct: null, p50Ms: null, p95Ms: null, errors: { digests: 0, errorLines: 0 } }), []],
      thisWeek: [service({ errors: { digests: 0, errorLines: 0 } }), []],
    });
    const review = renderReview((await collectReview(s, NOW, 'Europe/Berlin')));
    const [svc, incidents] = sectionsOf(review.blocks);
    expect(svc).toContain('Uptime 100 % (no data last week) · 0 of 2,016 checks → 2,016 of 2,016 checks');
    expect(svc).toContain('Response time p95 300 ms (no data last week)');
    expect(svc).toContain('ERROR lines: not counted (no scheduled daily digest read the log in these two weeks)');
    expect(incidents).toContain('No incidents either week.');
    expect(review.text).toBe('Weekly performance review — Tue 3 Mar 2026: uptime 100 % (last week n/a), 0 incidents (0), 0 SLA breaches (0)');
  });

  it('shows checks without an expected count when the check\'s schedule is not every N minutes', async () => {
    const irregular = service({ expectedSamples: undefined, samples: 90, okSamples: 90 });
    const { s } = sources({ lastWeek: [irregular, []], thisWeek: [irregular, []] });
    expect(sectionsOf(renderReview((await collectReview(s, NOW, 'UTC'))).blocks)[0]).toContain('(no change) · 90 checks → 90 checks');
  });

  it('names the chart\'s days by this week\'s weekdays and tells what a day covers', async () => {
    const { s } = sources({ lastWeek: [service(), [row('P1')]], thisWeek: [service({ uptimePct: 99 }), []] });
    const chart = reviewChartData((await collectReview(s, NOW, 'Europe/Berlin')));
    expect(chart.dayLabels).toEqual(['Wed', 'Thu', 'Fri', 'Sat', 'Sun', 'Mon', 'Tue']);
    expect(chart.caption).toBe('Each day is the 24 h up to 14:00 (Europe/Berlin) on that day');
    expect(chart.thisWeek).toMatchObject({ label: 'this week (24 Feb – 3 Mar)', uptimePct: Array(7).fill(99), incidents: Array(7).fill(0) });
    expect(chart.lastWeek).toMatchObject({ label: 'last week (17 – 24 Feb)', incidents: Array(7).fill(1) });
  });
});
