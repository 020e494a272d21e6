import { z } from 'zod';
import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';

/** How far ahead the on-call entries are read: the current turn and the next handoffs. */
const LOOKAHEAD_MS = 14 * 86_400_000;
/** How often they are read again: schedules change rarely, and a handoff falls between two reads at worst. */
export const REFRESH_EVERY_MS = 5 * 60_000;

const oncallEntry = z.object({
  user: z.object({ id: z.string(), summary: z.string().optional(), name: z.string().optional(), email: z.string().optional() }),
  escalation_policy: z.object({ id: z.string(), summary: z.string().optional() }),
  schedule: z.object({ id: z.string(), summary: z.string().optional() }).nullable().optional(),
  escalation_level: z.number(),
  start: z.string().nullable().optional(),
  end: z.string().nullable().optional(),
});

/** One person on call in PagerDuty, matched to Slack where their e-mail allows. */
export interface PagerDutyShift {
  name: string;
  /** The Slack user with the same e-mail; undefined when there is none (then they can be named, not mentioned). */
  slackUserId: string | undefined;
  policy: string;
  level: number;
  startsAt: number;
  endsAt: number;
}

export interface PagerDutyOncallOptions {
  list: (opts: { since: Date; until: Date; escalationPolicyIds: readonly string[]; scheduleIds: readonly string[] }) => Promise<unknown[]>;
  /** Slack's users.lookupByEmail: the user id, or undefined when nobody in the workspace has that e-mail. */
  slackUserByEmail: (email: string) => Promise<string | undefined>;
  escalationPolicyIds: readonly string[];
  scheduleIds: readonly string[];
  clock: Clock;
  logger: Logger;
}

/**
 * Who PagerDuty says is on call, read every REFRESH_EVERY_MS and kept in memory, so that mentioning the
 * on-call inside a transaction (an escalation) needs no network call. A failed read keeps the last good one.
 */
export class PagerDutyOncalls {
  private shifts: PagerDutyShift[] = [];
  private readAt: number | null = null;
  private lastError: string | null = null;
  private timer: TimerHandle | undefined;
  /** E-mail → Slack user id; only matches are kept, so someone who joins Slack later is found at the next read. */
  private readonly slackIds = new Map<string, string>();

  constructor(private readonly opts: PagerDutyOncallOptions) {}

  start(): Promise<void> {
    const loop = (): void => {
      this.timer = this.opts.clock.setTimer(REFRESH_EVERY_MS, () => {
        void this.refresh().finally(loop);
      });
    };
    return this.refresh().finally(loop);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  status(): { readAt: number | null; lastError: string | null } {
    return { readAt: this.readAt, lastError: this.lastError };
  }

  /** The first-level shifts in force at `at`, then the next ones, by start. */
  firstLevel(): PagerDutyShift[] {
    return this.shifts.filter((s) => s.level === 1).sort((a, b) => a.startsAt - b.startsAt);
  }

  async refresh(): Promise<void> {
    const now = this.opts.clock.nowMs();
    try {
      const raw = await this.opts.list({
        since: new Date(now),
        until: new Date(now + LOOKAHEAD_MS),
        escalationPolicyIds: this.opts.escalationPolicyIds,
        scheduleIds: this.opts.scheduleIds,
      });
      const shifts: PagerDutyShift[] = [];
      for (const item of raw) {
        const parsed = oncallEntry.safeParse(item);
        if (!parsed.success) continue;
        const e = parsed.data;
        const email = e.user.email?.toLowerCase();
        shifts.push({
          name: e.user.name ?? e.user.summary ?? e.user.id,
          slackUserId: email ? await this.slackId(email) : undefined,
          policy: e.escalation_policy.summary ?? e.escalation_policy.id,
          level: e.escalation_level,
          startsAt: e.start ? Date.parse(e.start) : Number.NEGATIVE_INFINITY,
          endsAt: e.end ? Date.parse(e.end) : Number.POSITIVE_INFINITY,
        });
      }
      this.shifts = shifts;
      this.readAt = now;
      this.lastError = null;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.opts.logger.warn({ err }, 'could not read who is on call from PagerDuty; keeping the last answer');
    }
  }

  private async slackId(email: string): Promise<string | undefined> {
    const known = this.slackIds.get(email);
    if (known) return known;
    let id: string | undefined;
    try {
      id = await this.opts.slackUserByEmail(email);
    } catch {
      return undefined; // asked again at the next read
    }
    if (id) this.slackIds.set(email, id);
    return id;
  }
}
