import { DateTime } from 'luxon';
import type { RotationConfig } from './schema.js';

const DAY_MS = 86_400_000;

/** One turn of the rotation: who, and from when until when. */
export interface Shift {
  userId: string;
  /** The turn's index since `start` (negative before it). */
  index: number;
  startsAt: number;
  endsAt: number;
}

/**
 * The turns of an on-call rotation in one time zone. Handoffs are wall-clock times ("mon 09:00" stays 09:00
 * across daylight-saving changes; a time in a spring-forward gap moves forward by the gap), counted in
 * calendar days from the first handoff on or after `start`.
 */
export class Rotation {
  private readonly first: DateTime;

  constructor(
    private readonly config: RotationConfig,
    private readonly timezone: string,
  ) {
    let day = DateTime.fromISO(config.start, { zone: timezone }).startOf('day');
    if (config.handoff.weekday !== null) day = day.plus({ days: (config.handoff.weekday - day.weekday + 7) % 7 });
    this.first = day;
  }

  /** The handoff that begins turn `index`. */
  handoffAt(index: number): number {
    const date = this.first.plus({ days: index * this.config.length });
    return date.set({ hour: Math.floor(this.config.handoff.minutes / 60), minute: this.config.handoff.minutes % 60 }).toMillis();
  }

  /** The turn under way at `at`. */
  shiftAt(at: number): Shift {
    // An estimate from elapsed time, corrected for the hour a DST change adds or takes.
    let index = Math.floor((at - this.handoffAt(0)) / (this.config.length * DAY_MS));
    while (this.handoffAt(index) > at) index--;
    while (this.handoffAt(index + 1) <= at) index++;
    return this.shift(index);
  }

  shift(index: number): Shift {
    const { rotation } = this.config;
    const userId = rotation[((index % rotation.length) + rotation.length) % rotation.length]!;
    return { userId, index, startsAt: this.handoffAt(index), endsAt: this.handoffAt(index + 1) };
  }
}
