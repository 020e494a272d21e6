import { Gauge, type Registry } from 'prom-client';
import type { Clock } from '../clock/clock.js';
import type { DataLayer } from '../db/data-layer.js';
import type { IncidentRepository, ResponseFigures } from './incident-repository.js';

/** The window the response figures cover: a week, as the weekly performance review (SOP-MAINT-002) reads them. */
export const RESPONSE_WINDOW_MS = 7 * 86_400_000;

/**
 * Mean time to acknowledge and to resolve, and SLA breaches, by priority over the last 7 days, computed in
 * SQL when Prometheus scrapes: the trend a team reviews weekly, without a separate job keeping counters.
 */
export function registerResponseMetrics(registry: Registry, repo: IncidentRepository, data: DataLayer, clock: Clock): void {
  // The query's promise is what is kept: the three gauges are collected together, and share it.
  let cached: { at: number; rows: Promise<ResponseFigures[]> } | undefined;
  // One query per scrape for all three gauges.
  const figures = (): Promise<ResponseFigures[]> => {
    const now = clock.nowMs();
    if (!cached || now - cached.at >= 1_000 || now < cached.at) cached = { at: now, rows: repo.responseFigures(data.db, now - RESPONSE_WINDOW_MS) };
    return cached.rows;
  };
  type Row = ResponseFigures;
  const gauge = (name: string, help: string, value: (row: Row) => number | null): void => {
    new Gauge({
      name,
      help,
      labelNames: ['priority'] as const,
      registers: [registry],
      async collect() {
        const rows = await figures();
        this.reset();
        for (const row of rows) {
          const v = value(row);
          if (v !== null) this.set({ priority: row.priority }, v);
        }
      },
    });
  };
  gauge('waygate_incident_mtta_seconds', 'Mean time to acknowledge incidents opened in the last 7 days, by priority', (r) => (r.mttaMs === null ? null : r.mttaMs / 1000));
  gauge('waygate_incident_mttr_seconds', 'Mean time to resolve incidents opened in the last 7 days, by priority', (r) => (r.mttrMs === null ? null : r.mttrMs / 1000));
  gauge('waygate_incident_sla_breaches', 'Incidents opened in the last 7 days whose acknowledgement SLA was breached, by priority', (r) => r.breaches);
}
