import { z } from 'zod';
import { parseTimeOfDay, weekdayNames } from '../config/sla-schema.js';

/** Slack user ids only: an on-call rotation names people, not groups. */
const slackUser = z.string().regex(/^[UW][A-Z0-9]{2,}$/, { message: 'must be a Slack user id such as U0123ABCD' });

export interface Handoff {
  /** 1 = Monday … 7 = Sunday; null: every `length` days at `minutes`, whatever the weekday. */
  weekday: number | null;
  /** Minutes after local midnight. */
  minutes: number;
}

const LENGTH = /^(\d+)(d|w)$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * `oncall:` — a rotation in `timezone`: who is on call, taking turns at `handoff` every `length`.
 * `start` is the date of the handoff at which the first person of `rotation` begins.
 */
export const oncallSchema = z
  .object({
    rotation: z.array(slackUser).min(1, { message: 'must name at least one Slack user' }).optional(),
    handoff: z.string().optional().transform((text, ctx): Handoff | undefined => {
      if (text === undefined) return undefined;
      const words = text.trim().toLowerCase().split(/\s+/);
      const time = words.at(-1) ?? '';
      const day = words.length === 2 ? weekdayNames.indexOf(words[0] as (typeof weekdayNames)[number]) : words.length === 1 ? -2 : -1;
      const minutes = /^\d{1,2}:\d{2}$/.test(time) ? parseTimeOfDay(time) : undefined;
      if (day === -1 || minutes === undefined) {
        ctx.addIssue({ code: 'custom', message: `must be a weekday and a time such as "mon 09:00", or a time such as "09:00" (got "${text}")` });
        return z.NEVER;
      }
      return { weekday: day === -2 ? null : day + 1, minutes };
    }),
    length: z
      .string()
      .default('1w')
      .transform((text, ctx): number => {
        const match = LENGTH.exec(text.trim());
        const days = match ? Number(match[1]) * (match[2] === 'w' ? 7 : 1) : 0;
        if (days < 1) {
          ctx.addIssue({ code: 'custom', message: `must be a whole number of days or weeks such as 1d, 1w or 2w (got "${text}")` });
          return z.NEVER;
        }
        return days;
      }),
    start: z.string().regex(ISO_DATE, { message: 'must be a date written YYYY-MM-DD' }).default('2024-01-01'),
    /** With PAGERDUTY_API_TOKEN: read who is on call from these escalation policies (none: the whole account's). */
    escalationPolicies: z.array(z.string().min(1)).default([]),
    /** …and/or these schedules. */
    schedules: z.array(z.string().min(1)).default([]),
  })
  .strict()
  .superRefine((v, ctx) => {
    if ((v.rotation === undefined) !== (v.handoff === undefined)) {
      ctx.addIssue({ code: 'custom', path: [v.rotation === undefined ? 'rotation' : 'handoff'], message: 'rotation and handoff go together: name both, or neither' });
      return;
    }
    if (v.handoff && v.handoff.weekday !== null && v.length % 7 !== 0) {
      ctx.addIssue({ code: 'custom', path: ['length'], message: 'must be whole weeks when the handoff names a weekday' });
    }
  });

export type OncallConfig = z.output<typeof oncallSchema>;
/** A rotation as the Rotation class needs it: people and a handoff. */
export type RotationConfig = OncallConfig & { rotation: string[]; handoff: Handoff };

/** `after` as a multiple of the priority's SLA window: "1x", "2x", "1.5x". */
const multiple = z.string().transform((text, ctx) => {
  const trimmed = text.trim();
  const n = trimmed.endsWith('x') && /^[\d.]+$/.test(trimmed.slice(0, -1)) ? Number(trimmed.slice(0, -1)) : NaN;
  if (!(n > 0)) {
    ctx.addIssue({ code: 'custom', message: `must be a multiple of the SLA window such as 1x or 2x (got "${text}")` });
    return z.NEVER;
  }
  return n;
});

/** Who a step calls: the current on-call, a role's members, or the whole alerts channel. */
export const audienceSchema = z.string().min(1);

export const escalationStepSchema = z
  .object({
    after: multiple,
    notify: z.array(audienceSchema).min(1, { message: 'must name at least one audience: oncall, a role, or channel' }),
  })
  .strict();

export type EscalationStep = z.output<typeof escalationStepSchema>;

/**
 * `escalation:` — the ladder an unacknowledged incident climbs once its SLA is breached. Each step fires at
 * its multiple of the priority's window (1x is the breach); after the last, that step repeats every window
 * until someone acknowledges or resolves the incident.
 */
export const escalationSchema = z
  .array(escalationStepSchema)
  .min(1, { message: 'must have at least one step' })
  .superRefine((steps, ctx) => {
    steps.forEach((step, i) => {
      if (i > 0 && step.after <= steps[i - 1]!.after) {
        ctx.addIssue({ code: 'custom', path: [i, 'after'], message: 'must be later than the step before' });
      }
    });
  })
  .default([
    { after: 1, notify: ['oncall'] },
    { after: 2, notify: ['oncall', 'lead'] },
    { after: 3, notify: ['oncall', 'lead', 'channel'] },
  ]);
