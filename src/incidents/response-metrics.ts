import { Gauge, type Registry } from 'prom-client';
import type { Clock } from '../clock/clock.js';
import type { IncidentRepository } from './incident-repository.js';

/** The window the response figures cover: a week, as the weekly performance review (SOP-MAINT-002) reads them. */
export const RESPONSE_WINDOW_MS = 7 * 86_400_000;

/**
 * Mean time to acknowledge and to resolve, and SLA breaches, by priority over the last 7 days, computed in
 * SQL when Prometheus scrapes: the trend a team reviews weekly, without a separate job keeping counters.
 */
export function registerResponseMetrics(registry: Registry, repo: IncidentRepository, clock: Clock): void {
  let cached: { at: number; rows: ReturnType<IncidentRepository['responseFigures']> } | undefined;
  // One query per scrape for all three gauges.
  const figures = () => {
    const now = clock.nowMs();
    if (!cached || now - cached.at >= 1_000 || now < cached.at) cached = { at: now, rows: repo.responseFigures(now - RESPONSE_WINDOW_MS) };
    return cached.rows;
  };
  new Gauge({
    name: 'waygate_incident_mtta_seconds',
    help: 'Mean time to acknowledge incidents opened in the last 7 days, by priority',
    labelNames: ['priority'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const r of figures()) if (r.mttaMs !== null) this.set({ priority: r.priority }, r.mttaMs / 1000);
    },
  });
  new Gauge({
    name: 'waygate_incident_mttr_seconds',
    help: 'Mean time to resolve incidents opened in the last 7 days, by priority',
    labelNames: ['priority'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const r of figures()) if (r.mttrMs !== null) this.set({ priority: r.priority }, r.mttrMs / 1000);
    },
  });
  new Gauge({
    name: 'waygate_incident_sla_breaches',
    help: 'Incidents opened in the last 7 days whose acknowledgement SLA was breached, by priority',
    labelNames: ['priority'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const r of figures()) this.set({ priority: r.priority }, r.breaches);
    },
  });
}
