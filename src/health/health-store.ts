/**
 * Durable record of the SOP-MAINT-001 health samples (one every 5 minutes), of the small facts the health
 * monitor and the daily digest keep between runs (`service_state`), and of the ERROR lines each scheduled
 * digest counted (`log_error_counts`).
 */
import type { Db } from '../db/database.js';

export interface HealthSample {
  /** When the sample was taken (epoch ms). */
  at: number;
  ok: boolean;
  /** Null when the service gave no HTTP answer (refused, timed out). */
  httpStatus: number | null;
  latencyMs: number | null;
  /** Short body summary, or the error. */
  summary: string;
}

export interface StoredHealthSample extends HealthSample {
  id: number;
}

export interface HealthStats {
  samples: number;
  okSamples: number;
  /** okSamples / samples × 100; null without samples. Not rounded. */
  uptimePct: number | null;
  /** Nearest-rank percentiles over the latencies of samples that got an HTTP answer; null without any. */
  p50Ms: number | null;
  p95Ms: number | null;
}

interface SampleRow {
  id: number;
  at: number;
  ok: number;
  http_status: number | null;
  latency_ms: number | null;
  summary: string;
}

/** Longest summary kept per sample; the rest is cut so a chatty endpoint cannot bloat the table. */
export const SAMPLE_SUMMARY_MAX = 500;

/**
 * Nearest-rank percentile of ascending-sorted values: the smallest value such that at least p % of the
 * values are less than or equal to it. Null for an empty list.
 */
export function nearestRank(sortedAscending: readonly number[], p: number): number | null {
  if (sortedAscending.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sortedAscending.length));
  return sortedAscending[Math.min(rank, sortedAscending.length) - 1] ?? null;
}

export class HealthStore {
  constructor(private readonly db: Db) {}

  /** Stores one sample and returns its id. Latency is stored in whole milliseconds. */
  record(sample: HealthSample): number {
    const info = this.db
      .prepare('INSERT INTO health_samples (at, ok, http_status, latency_ms, summary) VALUES (?, ?, ?, ?, ?)')
      .run(
        sample.at,
        sample.ok ? 1 : 0,
        sample.httpStatus,
        sample.latencyMs === null ? null : Math.round(sample.latencyMs),
        sample.summary.slice(0, SAMPLE_SUMMARY_MAX),
      );
    return Number(info.lastInsertRowid);
  }

  /** Samples taken at or after `sinceMs` (epoch ms), oldest first. */
  samplesSince(sinceMs: number): StoredHealthSample[] {
    const rows = this.db
      .prepare('SELECT id, at, ok, http_status, latency_ms, summary FROM health_samples WHERE at >= ? ORDER BY at, id')
      .all(sinceMs) as SampleRow[];
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      ok: r.ok === 1,
      httpStatus: r.http_status,
      latencyMs: r.latency_ms,
      summary: r.summary,
    }));
  }

  /** Uptime and latency percentiles of the samples taken at or after `sinceMs` and before `untilMs`. */
  stats(sinceMs: number, untilMs: number = Number.MAX_SAFE_INTEGER): HealthStats {
    const counts = this.db
      .prepare('SELECT COUNT(*) AS samples, COALESCE(SUM(ok), 0) AS okSamples FROM health_samples WHERE at >= ? AND at < ?')
      .get(sinceMs, untilMs) as { samples: number; okSamples: number };
    const latencies = this.db
      .prepare(
        `SELECT latency_ms FROM health_samples
          WHERE at >= ? AND at < ? AND http_status IS NOT NULL AND latency_ms IS NOT NULL
          ORDER BY latency_ms`,
      )
      .pluck()
      .all(sinceMs, untilMs) as number[];
    return {
      samples: counts.samples,
      okSamples: counts.okSamples,
      uptimePct: counts.samples > 0 ? (counts.okSamples / counts.samples) * 100 : null,
      p50Ms: nearestRank(latencies, 50),
      p95Ms: nearestRank(latencies, 95),
    };
  }

  /** A value from `service_state`, or null when it was never set. */
  get(key: string): string | null {
    const value = this.db.prepare('SELECT value FROM service_state WHERE key = ?').pluck().get(key) as string | undefined;
    return value ?? null;
  }

  set(key: string, value: string): void {
    this.db
      .prepare('INSERT INTO service_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
      .run(key, value);
  }

  /** Keeps how many ERROR lines a scheduled digest counted in the log since the previous one. */
  recordErrorCount(countedAt: number, errorLines: number): void {
    this.db.prepare('INSERT INTO log_error_counts (counted_at, error_lines) VALUES (?, ?)').run(countedAt, errorLines);
  }

  /** The ERROR lines counted by the scheduled digests that ran at or after `sinceMs` and before `untilMs`. */
  errorCounts(sinceMs: number, untilMs: number): { digests: number; errorLines: number } {
    return this.db
      .prepare('SELECT COUNT(*) AS digests, COALESCE(SUM(error_lines), 0) AS errorLines FROM log_error_counts WHERE counted_at >= ? AND counted_at < ?')
      .get(sinceMs, untilMs) as { digests: number; errorLines: number };
  }

  /** Deletes the samples and error counts from before `olderThanMs` (epoch ms); returns how many samples went. */
  prune(olderThanMs: number): number {
    this.db.prepare('DELETE FROM log_error_counts WHERE counted_at < ?').run(olderThanMs);
    return this.db.prepare('DELETE FROM health_samples WHERE at < ?').run(olderThanMs).changes;
  }

  /** Runs fn in one SQLite transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
