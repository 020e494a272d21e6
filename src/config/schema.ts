import { z } from 'zod';
import { validate as isValidCron } from 'node-cron';
import { durationSchema } from './duration.js';
import { businessHoursSchema, priorityNames, slaSchema } from './sla-schema.js';
import { backupSchema, maintenanceSchema, serviceSchema } from './operations-schema.js';

export const ROLE_NAMES = ['lead', 'oncall', 'ops', 'security', 'admin'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

export const CHANNEL_NAMES = ['alerts', 'ops', 'digest', 'security', 'compliance'] as const;
export type ChannelName = (typeof CHANNEL_NAMES)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const channelId = z
  .string()
  .regex(/^[CGD][A-Z0-9]{2,}$/, { message: 'must be a Slack channel id such as C0123ABCD (not a #name)' });

const roleMember = z
  .string()
  .regex(/^([UWS][A-Z0-9]{2,}|\*)$/, {
    message: 'must be a Slack user id (U…/W…), a user-group id (S…) or "*"',
  });

const cronOrDisabled = z.union([
  z.literal(false),
  z.string().refine((expr) => isValidCron(expr), {
    message: 'must be a cron expression with 5 or 6 fields (e.g. "0 9 * * *"), or false to disable',
  }),
]);

export const fileConfigSchema = z
  .object({
    timezone: z
      .string()
      .refine(isValidTimeZone, { message: 'must be an IANA time zone such as Europe/Berlin or UTC' })
      .default('UTC'),
    channels: z
      .object({
        alerts: channelId.optional(),
        ops: channelId.optional(),
        digest: channelId.optional(),
        security: channelId.optional(),
        compliance: channelId.optional(),
      })
      .strict()
      .default({}),
    roles: z
      .object({
        lead: z.array(roleMember).default([]),
        oncall: z.array(roleMember).default([]),
        ops: z.array(roleMember).default([]),
        security: z.array(roleMember).default([]),
        admin: z.array(roleMember).default([]),
      })
      .strict()
      .default({ lead: [], oncall: [], ops: [], security: [], admin: [] }),
    schedules: z.record(z.string(), cronOrDisabled).default({}),
    /** Per-verb override of who may run a command, e.g. `ack: [oncall, lead]`. */
    commandRoles: z
      .record(z.string(), z.array(z.enum(ROLE_NAMES, { message: `must be one of ${ROLE_NAMES.join(', ')}` })))
      .default({}),
    service: serviceSchema.prefault({}),
    backup: backupSchema.prefault({}),
    maintenance: maintenanceSchema.prefault({}),
    sla: slaSchema.prefault({}),
    businessHours: businessHoursSchema.prefault({}),
    incidents: z
      .object({
        /** Priority for incidents PagerDuty sends without one, by urgency. */
        urgencyPriority: z
          .record(z.string(), z.enum(priorityNames, { message: `must be one of ${priorityNames.join(', ')}` }))
          .default({ high: 'P2', low: 'P4' }),
        /** Alert posts waiting for the alerts channel before new alerts are folded into one storm summary. */
        stormThreshold: z.number().int().min(1, { message: 'must be at least 1' }).default(3),
      })
      .strict()
      .prefault({}),
    outbox: z
      .object({
        /** Minimum gap between two Web API messages to one channel (Slack allows about 1/s). */
        pace: durationSchema.default(1_000),
        /** Longest wait between retries of a failing delivery. */
        maxBackoff: durationSchema.default(300_000),
        /** A message still undeliverable after this long is marked failed instead of retried forever. */
        giveUpAfter: durationSchema.default(86_400_000),
      })
      .strict()
      .default({ pace: 1_000, maxBackoff: 300_000, giveUpAfter: 86_400_000 }),
  })
  .strict();

export type FileConfig = z.output<typeof fileConfigSchema>;

const optionalNonEmpty = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

export const envSchema = z
  .object({
    SLACK_BOT_TOKEN: z
      .string({ message: 'is required (the bot token, xoxb-…)' })
      .regex(/^xoxb-/, { message: 'must be a bot token starting with xoxb-' }),
    SLACK_SIGNING_SECRET: optionalNonEmpty,
    SLACK_APP_TOKEN: optionalNonEmpty.refine((v) => v === undefined || v.startsWith('xapp-'), {
      message: 'must be an app-level token starting with xapp-',
    }),
    SLACK_API_URL: z
      .url({ protocol: /^https?$/, message: 'must be an http(s) URL such as https://slack.com/api/' })
      .default('https://slack.com/api/')
      .transform((u) => (u.endsWith('/') ? u : `${u}/`)),
    // An empty PORT= means "unset", as for the other variables, not port 0.
    PORT: z.preprocess(
      (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
      z.coerce
        .number({ message: 'must be a port number' })
        .int({ message: 'must be a whole number' })
        .min(0, { message: 'must be between 0 and 65535' })
        .max(65535, { message: 'must be between 0 and 65535' })
        .default(3000),
    ),
    WAYGATE_CONFIG: optionalNonEmpty,
    PAGERDUTY_API_TOKEN: optionalNonEmpty,
    PAGERDUTY_FROM_EMAIL: optionalNonEmpty.refine((v) => v === undefined || /^[^\s@]+@[^\s@]+$/.test(v), {
      message: 'must be the e-mail address of a PagerDuty user',
    }),
    /** Several secrets may be given comma-separated while rotating. */
    PAGERDUTY_WEBHOOK_SECRET: optionalNonEmpty,
    PAGERDUTY_API_URL: z
      .url({ protocol: /^https?$/, message: 'must be an http(s) URL such as https://api.pagerduty.com' })
      .default('https://api.pagerduty.com')
      .transform((u) => u.replace(/\/+$/, '')),
    PAGERDUTY_EVENTS_URL: z
      .url({ protocol: /^https?$/, message: 'must be an http(s) URL such as https://events.pagerduty.com' })
      .default('https://events.pagerduty.com')
      .transform((u) => u.replace(/\/+$/, '')),
    WAYGATE_DB: z.string().min(1).default('./data/waygate.db'),
    LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  });

export type EnvConfig = z.output<typeof envSchema>;
