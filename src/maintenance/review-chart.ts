/**
 * The weekly review's chart: uptime and incidents per day, this week against last week, drawn as SVG and
 * rendered to PNG on the server (docs/decisions/014-chart-rendering.md).
 */
import { createRequire } from 'node:module';

export interface ChartWeek {
  /** Legend text, e.g. "this week (25 Feb – 3 Mar)". */
  label: string;
  /** Per day, oldest first: uptime in %, or null for a day without samples. */
  uptimePct: Array<number | null>;
  /** Per day, oldest first: incidents opened. */
  incidents: number[];
}

export interface ReviewChartData {
  title: string;
  /** A line under the title, e.g. what a day on the axis covers. */
  caption?: string;
  /** One label per day slot, oldest first (both weeks share them: the same weekday, seven days apart). */
  dayLabels: string[];
  thisWeek: ChartWeek;
  lastWeek: ChartWeek;
}

/** The SVG's size; the PNG is twice as large, so it stays sharp on high-density screens. */
export const CHART_WIDTH = 800;
export const CHART_HEIGHT = 440;
export const CHART_SCALE = 2;

const FONT_FAMILY = 'Inter';
const THIS_WEEK = '#1d4e89';
const LAST_WEEK = '#a0aec0';
const INK = '#1a202c';
const MUTED = '#4a5568';
const GRID = '#e2e8f0';

const require = createRequire(import.meta.url);
/**
 * Bundled with the package rather than looked up on the host: the slim container image has no fonts, and
 * text drawn without one is silently left out of the picture.
 */
const FONT_FILES = [
  require.resolve('@expo-google-fonts/inter/400Regular/Inter_400Regular.ttf'),
  require.resolve('@expo-google-fonts/inter/600SemiBold/Inter_600SemiBold.ttf'),
];

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${xml(content)}</text>`;
}

/** The lowest round value at or below every uptime shown, so 99.2 % and 99.9 % do not look alike. */
export function uptimeFloor(values: ReadonlyArray<number | null>): number {
  const min = Math.min(100, ...values.filter((v): v is number => v !== null));
  return [99, 98, 95, 90, 80, 50].find((floor) => min >= floor) ?? 0;
}

/** Whole-number ticks from 0 covering `max`: at most five, evenly spaced. */
export function countTicks(max: number): number[] {
  const top = Math.max(1, Math.ceil(max));
  const step = top <= 4 ? 1 : Math.ceil(top / 4);
  const ticks: number[] = [];
  for (let t = 0; t < top + step; t += step) ticks.push(t);
  return ticks;
}

interface Panel {
  left: number;
  top: number;
  width: number;
  height: number;
}

function slotX(p: Panel, slots: number, i: number): number {
  return p.left + (p.width / slots) * (i + 0.5);
}

function axisLabels(p: Panel, labels: readonly string[]): string {
  return labels.map((l, i) => text(slotX(p, labels.length, i), p.top + p.height + 18, l, `text-anchor="middle" font-size="12" fill="${MUTED}"`)).join('');
}

function gridLine(p: Panel, y: number, label: string): string {
  return (
    `<line x1="${p.left}" y1="${y.toFixed(1)}" x2="${p.left + p.width}" y2="${y.toFixed(1)}" stroke="${GRID}" stroke-width="1"/>` +
    text(p.left - 8, y + 4, label, `text-anchor="end" font-size="11" fill="${MUTED}"`)
  );
}

function uptimePanel(p: Panel, d: ReviewChartData): string {
  const all = [...d.thisWeek.uptimePct, ...d.lastWeek.uptimePct];
  const parts = [text(p.left, p.top - 10, 'Uptime per day', `font-size="13" font-weight="600" fill="${INK}"`)];
  const floor = uptimeFloor(all);
  const y = (pct: number) => p.top + p.height - ((Math.max(floor, pct) - floor) / (100 - floor)) * p.height;
  for (const tick of [floor, (floor + 100) / 2, 100]) parts.push(gridLine(p, y(tick), `${Number.isInteger(tick) ? tick : tick.toFixed(1)} %`));
  if (all.every((v) => v === null)) {
    parts.push(text(p.left + p.width / 2, p.top + p.height / 4 + 4, 'no health samples in these two weeks', `text-anchor="middle" font-size="13" fill="${MUTED}"`));
  }
  const slots = d.dayLabels.length;
  const series = (values: ReadonlyArray<number | null>, color: string, dashed: boolean) => {
    // A day without samples breaks the line rather than pretending the service was up or down.
    const runs: string[][] = [[]];
    values.forEach((v, i) => {
      if (v === null) runs.push([]);
      else runs[runs.length - 1]!.push(`${slotX(p, slots, i).toFixed(1)},${y(v).toFixed(1)}`);
    });
    const dash = dashed ? ' stroke-dasharray="6 4"' : '';
    const lines = runs.filter((r) => r.length > 1).map((r) => `<polyline points="${r.join(' ')}" fill="none" stroke="${color}" stroke-width="2.5"${dash}/>`);
    const dots = values.flatMap((v, i) => (v === null ? [] : [`<circle cx="${slotX(p, slots, i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="${color}"/>`]));
    return [...lines, ...dots].join('');
  };
  parts.push(series(d.lastWeek.uptimePct, LAST_WEEK, true), series(d.thisWeek.uptimePct, THIS_WEEK, false));
  parts.push(axisLabels(p, d.dayLabels));
  return parts.join('');
}

function incidentPanel(p: Panel, d: ReviewChartData): string {
  const parts = [text(p.left, p.top - 10, 'Incidents opened per day', `font-size="13" font-weight="600" fill="${INK}"`)];
  const ticks = countTicks(Math.max(0, ...d.thisWeek.incidents, ...d.lastWeek.incidents));
  const top = ticks[ticks.length - 1]!;
  const y = (n: number) => p.top + p.height - (n / top) * p.height;
  for (const tick of ticks) parts.push(gridLine(p, y(tick), String(tick)));
  const slots = d.dayLabels.length;
  const slot = p.width / slots;
  const bar = Math.min(22, slot * 0.3);
  d.dayLabels.forEach((_, i) => {
    const centre = slotX(p, slots, i);
    for (const [week, color, offset] of [[d.lastWeek, LAST_WEEK, -bar - 1], [d.thisWeek, THIS_WEEK, 1]] as const) {
      const n = week.incidents[i] ?? 0;
      if (n <= 0) continue;
      parts.push(`<rect x="${(centre + offset).toFixed(1)}" y="${y(n).toFixed(1)}" width="${bar.toFixed(1)}" height="${(p.top + p.height - y(n)).toFixed(1)}" fill="${color}"/>`);
    }
  });
  parts.push(axisLabels(p, d.dayLabels));
  return parts.join('');
}

function legend(d: ReviewChartData): string {
  const x = CHART_WIDTH - 300;
  return [
    `<rect x="${x}" y="44" width="14" height="4" fill="${THIS_WEEK}"/>`,
    text(x + 20, 50, d.thisWeek.label, `font-size="12" fill="${INK}"`),
    `<rect x="${x}" y="62" width="14" height="4" fill="${LAST_WEEK}"/>`,
    text(x + 20, 68, d.lastWeek.label, `font-size="12" fill="${INK}"`),
  ].join('');
}

/** The chart as an SVG document (fonts by family name; see svgToPng). */
export function reviewChartSvg(d: ReviewChartData): string {
  const body = [
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    text(24, 32, d.title, `font-size="16" font-weight="600" fill="${INK}"`),
    d.caption ? text(24, 52, d.caption, `font-size="12" fill="${MUTED}"`) : '',
    legend(d),
    uptimePanel({ left: 64, top: 104, width: CHART_WIDTH - 96, height: 110 }, d),
    incidentPanel({ left: 64, top: 280, width: CHART_WIDTH - 96, height: 110 }, d),
  ].join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_WIDTH}" height="${CHART_HEIGHT}" viewBox="0 0 ${CHART_WIDTH} ${CHART_HEIGHT}" font-family="${FONT_FAMILY}">${body}</svg>`;
}

/**
 * Renders SVG to PNG at CHART_SCALE with the bundled font only: the output is the same on every host. The
 * renderer's native binary is loaded on first use, so a host without one loses the chart, not the bot.
 */
export async function svgToPng(svg: string): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js');
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: CHART_SCALE },
    font: { fontFiles: FONT_FILES, loadSystemFonts: false, defaultFontFamily: FONT_FAMILY },
  });
  return resvg.render().asPng();
}

export function renderReviewChart(d: ReviewChartData): Promise<Buffer> {
  return svgToPng(reviewChartSvg(d));
}
