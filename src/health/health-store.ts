/**
 * Durable record of the SOP-MAINT-001 health samples (one every 5 minutes), of the small facts the health
 * monitor and the daily digest keep between runs (`service_state`), and of the ERROR lines each scheduled
 * digest counted (`log_error_counts`).
 */
import { sql, type Transaction } from 'kysely';
import { DataLayer, all, first, run, type Executor, type Schema } from '../db/data-layer.js';

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

/**
 * Every method runs on the executor it is given: the `tx` of the caller's transaction, or the data layer's
 * root for a statement of its own (decision 020).
 */
export class HealthStore {
  private readonly data: DataLayer;

  constructor(data: DataLayer) {
    this.data = data;
  }

  /** Stores one sample and returns its id. Latency is stored in whole milliseconds. */
  async record(ex: Executor, sample: HealthSample): Promise<number> {
    const latencyMs = sample.latencyMs === null ? null : Math.round(sample.latencyMs);
    const row = await first(
      ex,
      sql<{ id: number }>`INSERT INTO health_samples (at, ok, http_status, latency_ms, summary)
        VALUES (${sample.at}, ${sample.ok ? 1 : 0}, ${sample.httpStatus}, ${latencyMs}, ${sample.summary.slice(0, SAMPLE_SUMMARY_MAX)}) RETURNING id`,
    );
    return Number(row?.id);
  }

  /** Samples taken at or after `sinceMs` (epoch ms), oldest first. */
  async samplesSince(ex: Executor, sinceMs: number): Promise<StoredHealthSample[]> {
    const rows = await all(ex, sql<SampleRow>`SELECT id, at, ok, http_status, latency_ms, summary FROM health_samples WHERE at >= ${sinceMs} ORDER BY at, id`);
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
  async stats(ex: Executor, sinceMs: number, untilMs: number = Number.MAX_SAFE_INTEGER): Promise<HealthStats> {
    const counts = await first(
      ex,
      sql<{ samples: number | string; okSamples: number | string }>`SELECT COUNT(*) AS samples, COALESCE(SUM(ok), 0) AS ${sql.ref('okSamples')}
        FROM health_samples WHERE at >= ${sinceMs} AND at < ${untilMs}`,
    );
    const latencies = (
      await all(
        ex,
        sql<{ latency_ms: number }>`SELECT latency_ms FROM health_samples
          WHERE at >= ${sinceMs} AND at < ${untilMs} AND http_status IS NOT NULL AND latency_ms IS NOT NULL
          ORDER BY latency_ms`,
      )
    ).map((r) => r.latency_ms);
    // COUNT and SUM are 64-bit on PostgreSQL, which its driver hands over as text.
    const samples = Number(counts?.samples ?? 0);
    const okSamples = Number(counts?.okSamples ?? 0);
    return {
      samples,
      okSamples,
      uptimePct: samples > 0 ? (okSamples / samples) * 100 : null,
      p50Ms: nearestRank(latencies, 50),
      p95Ms: nearestRank(latencies, 95),
    };
  }

  /** A value from `service_state`, or null when it was never set. */
  async get(ex: Executor, key: string): Promise<string | null> {
    const row = await first(ex, sql<{ value: string }>`SELECT value FROM service_state WHERE key = ${key}`);
    return row?.value ?? null;
  }

  async set(ex: Executor, key: string, value: string): Promise<void> {
    await run(ex, sql`INSERT INTO service_state (key, value) VALUES (${key}, ${value}) ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
  }

  /** Keeps how many ERROR lines a scheduled digest counted in the log since the previous one. */
  async recordErrorCount(ex: Executor, countedAt: number, errorLines: number): Promise<void> {
    await run(ex, sql`INSERT INTO log_error_counts (counted_at, error_lines) VALUES (${countedAt}, ${errorLines})`);
  }

  /** The ERROR lines counted by the scheduled digests that ran at or after `sinceMs` and before `untilMs`. */
  async errorCounts(ex: Executor, sinceMs: number, untilMs: number): Promise<{ digests: number; errorLines: number }> {
    const row = await first(
      ex,
      sql<{ digests: number | string; errorLines: number | string }>`SELECT COUNT(*) AS digests, COALESCE(SUM(error_lines), 0) AS ${sql.ref('errorLines')}
        FROM log_error_counts WHERE counted_at >= ${sinceMs} AND counted_at < ${untilMs}`,
    );
    return { digests: Number(row?.digests ?? 0), errorLines: Number(row?.errorLines ?? 0) };
  }

  /** Deletes the samples and error counts from before `olderThanMs` (epoch ms); returns how many samples went. */
  async prune(ex: Executor, olderThanMs: number): Promise<number> {
    await run(ex, sql`DELETE FROM log_error_counts WHERE counted_at < ${olderThanMs}`);
    return run(ex, sql`DELETE FROM health_samples WHERE at < ${olderThanMs}`);
  }

  /** Runs fn in the caller's transaction `ex` when it is one, else in one of its own. */
  within<T>(ex: Executor, fn: (tx: Transaction<Schema>) => Promise<T>): Promise<T> {
    return this.data.within(ex, fn);
  }
}
