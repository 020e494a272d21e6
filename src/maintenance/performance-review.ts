/**
 * SOP-MAINT-002 step 5, "Performance review: analyse weekly metrics, identify trends": the last 7 days
 * against the 7 days before, each figure with its change, and the data of the chart that goes with it.
 */
import { DateTime, IANAZone } from 'luxon';
import { formatCount, formatDuration } from '../core/text.js';
import { context, header, section, type Block } from '../core/blocks.js';
import type { MessageContent } from '../outbox/types.js';
import type { ServiceFigures } from '../health/health-service.js';
import type { ResponseFigures } from '../incidents/incident-repository.js';
import { formatPercent } from '../health/digest.js';
import type { ReviewChartData } from './review-chart.js';

export const WEEK_MS = 7 * 86_400_000;
const DAY_MS = 86_400_000;

/** Where the review reads its figures, each for a span [from, until); either may answer now or later. */
export interface ReviewSources {
  service(from: number, until: number): ServiceFigures | Promise<ServiceFigures>;
  incidents(from: number, until: number): ResponseFigures[] | Promise<ResponseFigures[]>;
}

export interface ReviewDay {
  uptimePct: number | null;
  incidents: number;
}

export interface WeekFigures {
  from: number;
  until: number;
  service: ServiceFigures;
  /** By priority, of the incidents opened in the week. */
  incidents: ResponseFigures[];
  /** Seven 24 h slices of the week, oldest first: the chart's points. */
  days: ReviewDay[];
}

export interface ReviewData {
  /** When the review was made; this week is the 7 days before it. */
  now: number;
  timeZone: string;
  thisWeek: WeekFigures;
  lastWeek: WeekFigures;
}

async function week(sources: ReviewSources, from: number): Promise<WeekFigures> {
  const until = from + WEEK_MS;
  const days: ReviewDay[] = [];
  for (let i = 0; i < 7; i++) {
    const start = from + i * DAY_MS;
    days.push({
      uptimePct: (await sources.service(start, start + DAY_MS)).uptimePct,
      incidents: (await sources.incidents(start, start + DAY_MS)).reduce((n, p) => n + p.incidents, 0),
    });
  }
  return { from, until, service: await sources.service(from, until), incidents: await sources.incidents(from, until), days };
}

/** The two weeks before `now`: [now − 7 d, now) and [now − 14 d, now − 7 d). */
export async function collectReview(sources: ReviewSources, now: number, timeZone: string): Promise<ReviewData> {
  const thisWeek = await week(sources, now - WEEK_MS);
  const lastWeek = await week(sources, now - 2 * WEEK_MS);
  return { now, timeZone, thisWeek, lastWeek };
}

/** The response figures of all priorities together. */
export type IncidentTotals = Omit<ResponseFigures, 'priority'>;

/** All priorities together; the means are weighted by how many incidents each priority's mean covers. */
export function incidentTotals(rows: readonly ResponseFigures[]): IncidentTotals {
  const sum = (f: (r: ResponseFigures) => number) => rows.reduce((n, r) => n + f(r), 0);
  const acknowledged = sum((r) => r.acknowledged);
  const resolved = sum((r) => r.resolved);
  return {
    incidents: sum((r) => r.incidents),
    acknowledged,
    resolved,
    mttaMs: acknowledged > 0 ? sum((r) => (r.mttaMs ?? 0) * r.acknowledged) / acknowledged : null,
    mttrMs: resolved > 0 ? sum((r) => (r.mttrMs ?? 0) * r.resolved) / resolved : null,
    breaches: sum((r) => r.breaches),
  };
}

/** `relative`: the change as a share of last week's figure; `points`: as a difference of percentages. */
export type ChangeKind = 'relative' | 'points';

function shortNumber(value: number): string {
  if (value >= 10) return String(Math.round(value));
  const tenths = value.toFixed(1).replace(/\.0$/, '');
  return tenths === '0' ? '<0.1' : tenths;
}

/**
 * How a figure moved from last week to this week: "▼ 40 %", "▲ 0.6 pt", "(no change)". A relative change
 * from zero has no size, so it is the arrow alone; a missing figure gives undefined.
 */
export function change(previous: number | null, current: number | null, kind: ChangeKind = 'relative'): string | undefined {
  if (previous === null || current === null) return undefined;
  if (current === previous) return '(no change)';
  const arrow = current > previous ? '▲' : '▼';
  if (kind === 'points') return `${arrow} ${shortNumber(Math.abs(current - previous))} pt`;
  if (previous === 0) return arrow;
  return `${arrow} ${shortNumber((Math.abs(current - previous) / previous) * 100)} %`;
}

/**
 * One figure, last week → this week, with its change: "MTTA 4 min 10 s → 2 min 30 s ▼ 40 %". A week
 * without the figure says so rather than showing a zero.
 */
export function compare(label: string, previous: number | null, current: number | null, format: (v: number) => string, kind: ChangeKind = 'relative'): string {
  if (previous === null && current === null) return `${label}: no data either week`;
  if (previous === null) return `${label} ${format(current!)} (no data last week)`;
  if (current === null) return `${label} ${format(previous)} → no data this week`;
  return `${label} ${format(previous)} → ${format(current)} ${change(previous, current, kind)!}`;
}

const duration = (ms: number) => formatDuration(ms);
const count = (n: number) => formatCount(n);

function coverage(s: ServiceFigures): string {
  return s.expectedSamples === undefined ? `${count(s.samples)} checks` : `${count(Math.min(s.samples, s.expectedSamples))} of ${count(s.expectedSamples)} checks`;
}

function serviceSection(d: ReviewData): string {
  const last = d.lastWeek.service;
  const now = d.thisWeek.service;
  const lines = ['*Service* (last week → this week)'];
  const noSamples = (s: ServiceFigures) => (s.samples === 0 ? null : s.uptimePct);
  lines.push(`${compare('Uptime', noSamples(last), noSamples(now), formatPercent, 'points')} · ${coverage(last)} → ${coverage(now)}`);
  lines.push(compare('Response time p50', last.p50Ms, now.p50Ms, duration));
  lines.push(compare('Response time p95', last.p95Ms, now.p95Ms, duration));
  const errors = (s: ServiceFigures) => (s.errors.digests === 0 ? null : s.errors.errorLines);
  const digests = (s: ServiceFigures) => `${s.errors.digests} daily digest${s.errors.digests === 1 ? '' : 's'}`;
  lines.push(
    last.errors.digests === 0 && now.errors.digests === 0
      ? 'ERROR lines: not counted (no scheduled daily digest read the log in these two weeks)'
      : `${compare('ERROR lines', errors(last), errors(now), count)} · counted by ${digests(last)} → ${digests(now)}`,
  );
  return lines.join('\n');
}

const PRIORITY_ORDER = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

function incidentsSection(d: ReviewData): string {
  const last = incidentTotals(d.lastWeek.incidents);
  const now = incidentTotals(d.thisWeek.incidents);
  const lines = ['*Incidents* opened in each week (last week → this week)'];
  if (last.incidents === 0 && now.incidents === 0) {
    lines.push('No incidents either week.');
    return lines.join('\n');
  }
  lines.push(compare('Incidents', last.incidents, now.incidents, count));
  lines.push(compare('MTTA', last.mttaMs, now.mttaMs, duration));
  lines.push(compare('MTTR', last.mttrMs, now.mttrMs, duration));
  lines.push(compare('SLA breaches', last.breaches, now.breaches, count));
  const priorities = [...new Set([...d.lastWeek.incidents, ...d.thisWeek.incidents].map((r) => r.priority))].sort(PRIORITY_ORDER);
  for (const priority of priorities) {
    const l = incidentTotals(d.lastWeek.incidents.filter((r) => r.priority === priority));
    const n = incidentTotals(d.thisWeek.incidents.filter((r) => r.priority === priority));
    const figures = [
      compare('incidents', l.incidents, n.incidents, count),
      compare('MTTA', l.mttaMs, n.mttaMs, duration),
      compare('MTTR', l.mttrMs, n.mttrMs, duration),
      compare('breaches', l.breaches, n.breaches, count),
    ];
    lines.push(`• *${priority}* ${figures.join(' · ')}`);
  }
  return lines.join('\n');
}

function zoneOf(d: ReviewData): string {
  return IANAZone.isValidZone(d.timeZone) ? d.timeZone : 'UTC';
}

function span(from: number, until: number, zone: string): string {
  const a = DateTime.fromMillis(from, { zone });
  const b = DateTime.fromMillis(until, { zone });
  return `${a.toFormat('ccc d LLL HH:mm')} – ${b.toFormat('ccc d LLL HH:mm')}`;
}

function shortSpan(from: number, until: number, zone: string): string {
  const a = DateTime.fromMillis(from, { zone });
  const b = DateTime.fromMillis(until - 1, { zone });
  return a.month === b.month ? `${a.toFormat('d')} – ${b.toFormat('d LLL')}` : `${a.toFormat('d LLL')} – ${b.toFormat('d LLL')}`;
}

/** The review as a Slack message: header, the service and incident figures, and which weeks they cover. */
export function renderReview(d: ReviewData, chartNote?: string): MessageContent & { blocks: Block[] } {
  const zone = zoneOf(d);
  const date = DateTime.fromMillis(d.now, { zone }).toFormat('ccc d LLL yyyy');
  const lastTotals = incidentTotals(d.lastWeek.incidents);
  const nowTotals = incidentTotals(d.thisWeek.incidents);
  const weeks = `This week: ${span(d.thisWeek.from, d.thisWeek.until, zone)}; last week: ${span(d.lastWeek.from, d.lastWeek.until, zone)} (${zone}). MTTA and MTTR are means over the incidents acknowledged or resolved.`;
  const blocks: Block[] = [
    header(`Weekly performance review — ${date}`),
    section(serviceSection(d)),
    section(incidentsSection(d)),
    context(weeks, chartNote ?? 'Uptime and incidents per day, both weeks: chart in the thread.'),
  ];
  const uptime = (s: ServiceFigures) => (s.samples === 0 || s.uptimePct === null ? 'n/a' : formatPercent(s.uptimePct));
  const text =
    `Weekly performance review — ${date}: uptime ${uptime(d.thisWeek.service)} (last week ${uptime(d.lastWeek.service)}), ` +
    `${nowTotals.incidents} incidents (${lastTotals.incidents}), ${nowTotals.breaches} SLA breaches (${lastTotals.breaches})`;
  return { text, blocks };
}

/** The chart's data: per-day uptime and incidents of both weeks, days named by this week's weekdays. */
export function reviewChartData(d: ReviewData): ReviewChartData {
  const zone = zoneOf(d);
  const end = DateTime.fromMillis(d.now, { zone }).toFormat('HH:mm');
  return {
    title: 'Waygate MCP: this week against last week',
    // The days are the 24 h slices of the two weeks, so each ends at the time the review ran.
    caption: `Each day is the 24 h up to ${end} (${zone}) on that day`,
    dayLabels: d.thisWeek.days.map((_, i) => DateTime.fromMillis(d.thisWeek.from + (i + 1) * DAY_MS - 1, { zone }).toFormat('ccc')),
    thisWeek: {
      label: `this week (${shortSpan(d.thisWeek.from, d.thisWeek.until, zone)})`,
      uptimePct: d.thisWeek.days.map((day) => day.uptimePct),
      incidents: d.thisWeek.days.map((day) => day.incidents),
    },
    lastWeek: {
      label: `last week (${shortSpan(d.lastWeek.from, d.lastWeek.until, zone)})`,
      uptimePct: d.lastWeek.days.map((day) => day.uptimePct),
      incidents: d.lastWeek.days.map((day) => day.incidents),
    },
  };
}
