import { describe, expect, it } from 'vitest';
import { CHART_HEIGHT, CHART_SCALE, CHART_WIDTH, countTicks, renderReviewChart, reviewChartSvg, svgToPng, uptimeFloor, type ReviewChartData } from '../../src/maintenance/review-chart.js';
import { readPng } from '../support/png.js';

const DAYS = ['Wed', 'Thu', 'Fri', 'Sat', 'Sun', 'Mon', 'Tue'];
const week = (label: string, uptimePct: Array<number | null>, incidents: number[]) => ({ label, uptimePct, incidents });
const data: ReviewChartData = {
  title: 'Weekly performance review',
  dayLabels: DAYS,
  thisWeek: week('this week', [100, 99.7, 100, null, 98.6, 100, 100], [0, 2, 1, 0, 0, 3, 1]),
  lastWeek: week('last week', [99.3, 100, 100, 100, 100, 99.7, 100], [1, 0, 0, 4, 0, 1, 0]),
};

describe('the weekly review chart', () => {
  it('is a PNG of the chart size at twice the resolution', async () => {
    const png = await renderReviewChart(data);
    expect(readPng(png)).toMatchObject({ width: CHART_WIDTH * CHART_SCALE, height: CHART_HEIGHT * CHART_SCALE, chunks: expect.arrayContaining(['IHDR', 'IDAT', 'IEND']) });
  });

  it('renders two weeks without any data, saying there were no samples', async () => {
    const empty = week('x', Array<null>(7).fill(null), Array<number>(7).fill(0));
    const none = { ...data, thisWeek: empty, lastWeek: empty };
    expect(readPng(await renderReviewChart(none))).toMatchObject({ width: CHART_WIDTH * CHART_SCALE, height: CHART_HEIGHT * CHART_SCALE });
    expect(reviewChartSvg(none)).toContain('no health samples in these two weeks');
    expect(reviewChartSvg(data)).not.toContain('no health samples');
  });

  it('draws its text with the bundled font, whatever fonts the host has', async () => {
    // Text in a font that cannot be found is left out, so the picture would equal one without the text.
    const svg = (content: string) => `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><rect width="100%" height="100%" fill="#fff"/><text x="10" y="28" font-family="Inter" font-size="20">${content}</text></svg>`;
    expect((await svgToPng(svg('Uptime 99.5 %'))).equals(await svgToPng(svg('')))).toBe(false);
    expect((await svgToPng(svg('MTTA'))).equals(await svgToPng(svg('MTTR')))).toBe(false);
  });

  it('escapes text that would break the SVG', async () => {
    const svg = reviewChartSvg({ ...data, title: 'A <b> & "c"' });
    expect(svg).toContain('A &lt;b&gt; &amp; &quot;c&quot;');
    expect(readPng(await renderReviewChart({ ...data, title: 'A <b> & "c"' })).width).toBe(CHART_WIDTH * CHART_SCALE);
  });

  it('starts the uptime axis at a round value under the lowest day, and counts incidents in whole steps', () => {
    expect(uptimeFloor([100, 99.7])).toBe(99);
    expect(uptimeFloor([100, 98.6, null])).toBe(98);
    expect(uptimeFloor([null, null])).toBe(99);
    expect(uptimeFloor([12])).toBe(0);
    expect(countTicks(0)).toEqual([0, 1]);
    expect(countTicks(4)).toEqual([0, 1, 2, 3, 4]);
    expect(countTicks(9)).toEqual([0, 3, 6, 9]);
    expect(countTicks(10)).toEqual([0, 3, 6, 9, 12]);
  });
});
