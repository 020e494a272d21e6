import { sql } from 'kysely';
import { all, first, type DataLayer, type Executor } from '../db/data-layer.js';
import type { Clock } from '../clock/clock.js';
import { Rotation, type Shift } from './rotation.js';
import type { OncallConfig, RotationConfig } from './schema.js';
import type { PagerDutyOncalls, PagerDutyShift } from './pagerduty-oncalls.js';

export interface Override {
  id: number;
  user_id: string;
  starts_at: number;
  ends_at: number;
  created_by: string;
}

/** Who is on call at a moment, and why. */
export interface OnCall {
  userId: string;
  source: 'override' | 'rotation' | 'pagerduty';
  /** When this person's turn (or override) ends. */
  until: number;
}

/**
 * Who is on call: the newest override in force, else the YAML rotation's turn (configured on purpose, so it
 * wins), else PagerDuty's first level (when its API key is set and the person has a Slack account with the
 * same e-mail). Without any of them nobody is "the" on-call, and callers fall back to the `oncall` role.
 */
export class OncallService {
  readonly rotation: Rotation | undefined;

  constructor(
    private readonly data: DataLayer,
    private readonly clock: Clock,
    config: OncallConfig | undefined,
    timezone: string,
    /** PagerDuty's view, when its API key is set. */
    readonly pagerDuty?: PagerDutyOncalls,
  ) {
    this.rotation = config?.rotation && config.handoff ? new Rotation(config as RotationConfig, timezone) : undefined;
  }

  /**
   * Who is on call at `at` (now by default), read in the caller's transaction `ex` when given; undefined
   * without a rotation or override.
   */
  async at(at = this.clock.nowMs(), ex: Executor = this.data.db): Promise<OnCall | undefined> {
    const override = await first(ex, sql<Override>`SELECT * FROM oncall_overrides WHERE starts_at <= ${at} AND ends_at > ${at} ORDER BY id DESC LIMIT 1`);
    return this.answer(at, override);
  }

  private answer(at: number, override: Override | undefined): OnCall | undefined {
    if (override) return { userId: override.user_id, source: 'override', until: override.ends_at };
    const shift = this.rotation?.shiftAt(at);
    if (shift) return { userId: shift.userId, source: 'rotation', until: shift.endsAt };
    const fromPagerDuty = this.pagerDutyAt(at);
    return fromPagerDuty?.slackUserId ? { userId: fromPagerDuty.slackUserId, source: 'pagerduty', until: fromPagerDuty.endsAt } : undefined;
  }

  /** PagerDuty's first-level shift in force at `at`, matched to Slack or not. */
  pagerDutyAt(at = this.clock.nowMs()): PagerDutyShift | undefined {
    const shifts = this.pagerDuty?.firstLevel() ?? [];
    // Several policies may each have someone: one matched to Slack comes first, so they can be mentioned.
    const now = shifts.filter((s) => s.startsAt <= at && s.endsAt > at);
    return now.find((s) => s.slackUserId !== undefined) ?? now[0];
  }

  /** The rotation's current turn and the next `count` ones. */
  shifts(count: number, from = this.clock.nowMs()): Shift[] {
    const rotation = this.rotation;
    if (!rotation) return [];
    const current = rotation.shiftAt(from);
    return Array.from({ length: count + 1 }, (_, i) => rotation.shift(current.index + i));
  }

  async overrides(from = this.clock.nowMs(), ex: Executor = this.data.db): Promise<Override[]> {
    return all(ex, sql<Override>`SELECT * FROM oncall_overrides WHERE ends_at > ${from} ORDER BY starts_at, id`);
  }

  /** `userId` is on call from now for `durationMs`, over the rotation, in the caller's transaction `ex` with its audit row. */
  async override(ex: Executor, userId: string, durationMs: number, by: string): Promise<Override> {
    const now = this.clock.nowMs();
    const row = await first(
      ex,
      sql<{ id: number }>`INSERT INTO oncall_overrides (user_id, starts_at, ends_at, created_by, created_at) VALUES (${userId}, ${now}, ${now + durationMs}, ${by}, ${now}) RETURNING id`,
    );
    return { id: Number(row?.id), user_id: userId, starts_at: now, ends_at: now + durationMs, created_by: by };
  }
}
