import { escalationSchema, oncallSchema } from '../oncall/schema.js';
import { z } from 'zod';
import { validate as isValidCron } from 'node-cron';
import { durationSchema } from './duration.js';
import { businessHoursSchema, priorityNames, slaSchema } from './sla-schema.js';
import { backupSchema, maintenanceSchema, maintenanceWindowSchema, serviceSchema } from './operations-schema.js';
import { scriptsSchema } from '../sops/scripts.js';

/** The roles every installation has; teams add their own under `roles:` (e.g. `release-manager`). */
export const BUILT_IN_ROLES = ['lead', 'oncall', 'ops', 'security', 'admin'] as const;
/** A role name: built-in or defined in the YAML. `admin` holds every permission. */
export type RoleName = string;

/** The channel aliases every installation knows; teams add their own under `channels:`. */
export const BUILT_IN_CHANNELS = ['alerts', 'ops', 'digest', 'security', 'compliance'] as const;
export type ChannelName = string;

/** Role and channel names a team may define: lower-case words joined by single dashes. */
const isCustomName = (name: string): boolean => /^[a-z][a-z0-9-]*$/.test(name) && !name.includes('--') && !name.endsWith('-');

/** `command.ack`, `job.run`, `sop.SOP-OPS-001.start`: dot-separated parts, the first lower-case. */
const isPermissionName = (name: string): boolean => {
  const parts = name.split('.');
  return parts.length >= 2 && /^[a-z]/.test(name) && parts.every((part) => /^[A-Za-z0-9-]+$/.test(part));
};

/** Edit distance, to tell a typo of a built-in name (`leads`) from a deliberate new one (`release-manager`). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/**
 * Problems with the names a team added next to the built-in ones: not a plain name, or so close to a
 * built-in one that it is almost certainly a typo (which would otherwise silently grant nothing).
 */
function checkCustomNames(
  value: Record<string, unknown>,
  builtIn: readonly string[],
  kind: string,
  ctx: z.RefinementCtx,
): void {
  for (const name of Object.keys(value)) {
    if (builtIn.includes(name)) continue;
    // Short names sit close to each other (`pm` is two edits from `ops`): allow one edit for them, two otherwise.
    const near = builtIn.find((b) => editDistance(name, b) <= (b.length <= 4 ? 1 : 2));
    if (near || !isCustomName(name)) {
      ctx.addIssue({
        code: 'unrecognized_keys',
        keys: [name],
        input: value,
        message: near
          ? `${name} looks like a typo of the built-in ${kind} ${near}`
          : `a custom ${kind} name must be lower-case words joined by dashes, such as release-manager`,
      });
    }
  }
}

/** `acme.pagerduty.com`: dot-separated DNS labels, no scheme, port or path. */
function isHostName(host: string): boolean {
  const labels = host.split('.');
  return (
    host.length <= 253 &&
    labels.length >= 2 &&
    labels.every((label) => /^[A-Za-z0-9-]{1,63}$/.test(label) && !label.startsWith('-') && !label.endsWith('-'))
  );
}

/** Shortest accepted audit key: 32 characters, e.g. 128 bits as hex. */
export const AUDIT_KEY_MIN_LENGTH = 32;
/** Shortest accepted WAYGATE_KEY_HASH_SECRET: as long as an audit key, for the same reason. */
export const KEY_HASH_SECRET_MIN_LENGTH = 32;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function isValidTimeZone(zone: string): boolean {
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

/** One Slack user (not a group, not everyone): someone Waygate can mention and write to. */
const slackUserId = z.string().regex(/^[UW][A-Z0-9]{2,}$/, { message: 'must be a Slack user id (U… or W…)' });

/** A calendar date, checked to exist (2027-02-30 is refused). */
const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be a date as YYYY-MM-DD' })
  .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), { message: 'is not a calendar date' });

const cronOrDisabled = z.union([
  z.literal(false),
  z.string().refine((expr) => isValidCron(expr), {
    message: 'must be a cron expression with 5 or 6 fields (e.g. "0 9 * * *"), or false to disable',
  }),
]);

/** A link shown in Slack: http(s), and nothing that would end Slack's `<url|label>` early. */
const linkUrl = z
  .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
  .refine((u) => !/[<>|\s]/.test(u), { message: 'must not contain <, >, | or spaces' });

/** `cluster.leaseTtl`'s default: a dead leader is replaced within this plus `renewEvery`. */
export const DEFAULT_LEASE_TTL_MS = 10_000;
/** `cluster.renewEvery`'s default. */
export const DEFAULT_RENEW_EVERY_MS = 3_000;

export const fileConfigSchema = z
  .object({
    /** Required unless TZ or the system's zone names one (loadConfig resolves it). */
    timezone: z.string().refine(isValidTimeZone, { message: 'must be an IANA time zone such as Europe/Berlin or UTC' }).optional(),
    /** Channel aliases → ids: the built-in ones plus any a team adds. */
    channels: z
      .object({
        alerts: channelId.optional(),
        ops: channelId.optional(),
        digest: channelId.optional(),
        security: channelId.optional(),
        compliance: channelId.optional(),
      })
      .catchall(channelId)
      .superRefine((v, ctx) => checkCustomNames(v, BUILT_IN_CHANNELS, 'channel', ctx))
      .default({}),
    /** Role → members: the built-in roles (always present, maybe empty) plus any a team adds. */
    roles: z
      .object({
        lead: z.array(roleMember).default([]),
        oncall: z.array(roleMember).default([]),
        ops: z.array(roleMember).default([]),
        security: z.array(roleMember).default([]),
        admin: z.array(roleMember).default([]),
      })
      .catchall(z.array(roleMember))
      .superRefine((v, ctx) => checkCustomNames(v, BUILT_IN_ROLES, 'role', ctx))
      .default({ lead: [], oncall: [], ops: [], security: [], admin: [] }),
    schedules: z.record(z.string(), cronOrDisabled).default({}),
    /**
     * Permission → the roles that hold it (or `everyone`), overriding the permission's default, e.g.
     * `job.run: [ops, release-manager]`. Names are checked against the running version at start-up.
     */
    permissions: z
      .record(
        z.string().refine(isPermissionName, { message: 'must be a permission name such as command.ack or job.run' }),
        z.union([z.literal('everyone'), z.array(z.string())], { message: 'must be a list of roles, or everyone' }),
      )
      .default({}),
    /** Deprecated: `permissions: { command.<verb>: [...] }` replaces it; still read, with a warning. */
    commandRoles: z.record(z.string(), z.array(z.string())).default({}),
    oncall: oncallSchema.optional(),
    /** SOP appendix B: links shown on the digest and on alert cards. */
    links: z
      .object({ dashboard: linkUrl.optional(), runbook: linkUrl.optional(), repository: linkUrl.optional() })
      .strict()
      .default({}),
    escalation: escalationSchema,
    service: serviceSchema.prefault({}),
    backup: backupSchema.prefault({}),
    maintenance: maintenanceSchema.prefault({}),
    /** The allow-list of scripts procedures may run (SOP-OPS-001/002): name → argv, timeout, working directory. */
    scripts: scriptsSchema,
    /** When production deploys may run (in `timezone`); a lead may override with a reason. */
    maintenanceWindow: maintenanceWindowSchema.default({ days: ['tue', 'thu'], start: '14:00', end: '16:00' }),
    approvals: z
      .object({
        /** A hotfix request not approved within this is escalated to the leads in the channel. */
        hotfixReviewWithin: durationSchema.default(60 * 60_000),
        /** An approval request nobody decided expires after this. */
        requestExpiresAfter: durationSchema.default(24 * 60 * 60_000),
      })
      .strict()
      .prefault({}),
    /** Procedures of the team's own: a folder of definition files, checked against this config at start-up. */
    sops: z
      .object({ dir: z.string().startsWith('/', { message: 'must be an absolute path' }).nullable().default(null) })
      .strict()
      .prefault({}),
    keys: z
      .object({
        /** After `/waygate key rotate`, how long the old key keeps working while its users switch (SOP-SEC-002). */
        rotationGrace: durationSchema.default(24 * 60 * 60_000),
      })
      .strict()
      .prefault({}),
    /** The compliance calendar (SOP-COMP-001): who answers for it, and the SOP document's own review. */
    compliance: z
      .object({
        /** The Compliance Officer's Slack user id: told when lists are posted and when items are overdue. */
        owner: slackUserId.nullable().default(null),
        /**
         * The SOP document's "Next Review" date; it is reviewed quarterly from there. The review is posted with
         * the calendar of its month, due on that date, and reminded to the owner. null: no document review.
         */
        sopReviewFrom: isoDate.nullable().default('2025-04-14'),
      })
      .strict()
      .prefault({}),
    deploy: z
      .object({
        /** After a production deploy, how long the service is watched before a summary is posted. */
        watchFor: durationSchema.default(24 * 60 * 60_000),
      })
      .strict()
      .prefault({}),
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
        /**
         * The account's PagerDuty host (e.g. acme.pagerduty.com): incident links elsewhere are dropped.
         * Unset: any host under pagerduty.com.
         */
        pagerDutyHost: z
          .string()
          .refine(isHostName, { message: 'must be a host name such as acme.pagerduty.com (no https://, no path)' })
          .transform((h) => h.toLowerCase())
          .optional(),
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
    /**
     * Replicas on PostgreSQL (ignored on SQLite, where the one process leads): how long a leader that stops
     * renewing keeps the lease, i.e. the longest failover, and how often the lease is renewed.
     */
    cluster: z
      .object({
        leaseTtl: durationSchema.default(DEFAULT_LEASE_TTL_MS),
        renewEvery: durationSchema.default(DEFAULT_RENEW_EVERY_MS),
      })
      .strict()
      .default({ leaseTtl: DEFAULT_LEASE_TTL_MS, renewEvery: DEFAULT_RENEW_EVERY_MS })
      .refine((c) => c.renewEvery < c.leaseTtl, { message: 'renewEvery must be shorter than leaseTtl', path: ['renewEvery'] }),
  })
  .strict()
  .superRefine((file, ctx) => {
    // A permission granted to a role nobody defined would silently grant nothing: stop start-up instead.
    const defined = Object.keys(file.roles);
    const check = (section: 'permissions' | 'commandRoles', key: string, roles: readonly string[] | 'everyone') => {
      if (roles === 'everyone') return;
      roles.forEach((role, i) => {
        if (!defined.includes(role)) {
          ctx.addIssue({ code: 'custom', path: [section, key, i], input: role, message: `names no defined role (roles are ${defined.join(', ')})` });
        }
      });
    };
    for (const [key, roles] of Object.entries(file.permissions)) check('permissions', key, roles);
    for (const [key, roles] of Object.entries(file.commandRoles)) check('commandRoles', key, roles);
    file.escalation.forEach((step, i) =>
      step.notify.forEach((audience, j) => {
        if (audience !== 'channel' && !defined.includes(audience)) {
          ctx.addIssue({ code: 'custom', path: ['escalation', i, 'notify', j], input: audience, message: `must be oncall, channel or a defined role (roles are ${defined.join(', ')})` });
        }
      }),
    );
  });

/** The YAML file as the bot uses it: `timezone` always resolved (from the file, TZ or the system). */
export type FileConfig = Omit<z.output<typeof fileConfigSchema>, 'timezone'> & { timezone: string };

const optionalNonEmpty = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

/**
 * Shortest secret accepted. A secret that verifies requests (Slack's signing secret, PagerDuty's webhook
 * secret) must not be guessable, and every secret must be long enough for the log scrubber, which leaves
 * very short values alone so they do not mangle ordinary text.
 */
export const MIN_SECRET_LENGTH = 16;

const secret = (hint: string) =>
  optionalNonEmpty.refine((v) => v === undefined || v.length >= MIN_SECRET_LENGTH, {
    message: `must be at least ${MIN_SECRET_LENGTH} characters (${hint})`,
  });

export const envSchema = z
  .object({
    SLACK_BOT_TOKEN: z
      .string({ message: 'is required (the bot token, xoxb-…)' })
      .regex(/^xoxb-/, { message: 'must be a bot token starting with xoxb-' }),
    SLACK_SIGNING_SECRET: secret("Slack's are 32: copy it from the app's Basic Information page"),
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
    PAGERDUTY_API_TOKEN: secret("PagerDuty's API keys are 20"),
    PAGERDUTY_FROM_EMAIL: optionalNonEmpty.refine((v) => v === undefined || /^[^\s@]+@[^\s@]+$/.test(v), {
      message: 'must be the e-mail address of a PagerDuty user',
    }),
    /** Several secrets may be given comma-separated while rotating. */
    PAGERDUTY_WEBHOOK_SECRET: optionalNonEmpty.refine(
      (v) => v === undefined || v.split(',').every((s) => s.trim() === '' || s.trim().length >= MIN_SECRET_LENGTH),
      { message: `each comma-separated secret must be at least ${MIN_SECRET_LENGTH} characters (PagerDuty's are 64)` },
    ),
    PAGERDUTY_API_URL: z
      .url({ protocol: /^https?$/, message: 'must be an http(s) URL such as https://api.pagerduty.com' })
      .default('https://api.pagerduty.com')
      .transform((u) => u.replace(/\/+$/, '')),
    PAGERDUTY_EVENTS_URL: z
      .url({ protocol: /^https?$/, message: 'must be an http(s) URL such as https://events.pagerduty.com' })
      .default('https://events.pagerduty.com')
      .transform((u) => u.replace(/\/+$/, '')),
    /** Bearer token that unlocks the details of GET /health; without it /health says only what a load balancer needs. */
    HEALTH_DETAILS_TOKEN: secret('generate one, e.g. openssl rand -hex 32'),
    WAYGATE_DB: z.string().min(1).default('./data/waygate.db'),
    /** PostgreSQL instead of the SQLite file (decision 020): postgres://user:password@host:5432/database. */
    WAYGATE_DATABASE_URL: optionalNonEmpty.refine((v) => v === undefined || /^postgres(ql)?:\/\/[^\s]+$/.test(v), {
      message: 'must be a PostgreSQL URL such as postgres://waygate:password@db:5432/waygate',
    }),
    /** Connections to PostgreSQL this process keeps at most. */
    WAYGATE_DB_POOL: z.coerce.number().int().min(2, 'must be at least 2').max(100, 'must be at most 100').default(10),
    /**
     * The audit chain's HMAC key; several comma-separated while rotating, the newest first. Long enough that it
     * cannot be guessed; it never goes into the database.
     */
    WAYGATE_AUDIT_KEY: optionalNonEmpty.refine(
      (v) => v === undefined || v.split(',').every((k) => k.trim().length >= AUDIT_KEY_MIN_LENGTH),
      { message: `must be at least ${AUDIT_KEY_MIN_LENGTH} characters (each key, when several are comma-separated); generate one with \`openssl rand -hex 32\`` },
    ),
    /**
     * The HMAC key API keys are hashed with (SOP-SEC-002). Never in the database, so a copy of the database
     * alone cannot be used to test guesses; unset, each key is hashed with scrypt and its own salt instead.
     */
    WAYGATE_KEY_HASH_SECRET: optionalNonEmpty.refine((v) => v === undefined || v.length >= KEY_HASH_SECRET_MIN_LENGTH, {
      message: `must be at least ${KEY_HASH_SECRET_MIN_LENGTH} characters; generate one with \`openssl rand -hex 32\``,
    }),
    LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  });

export type EnvConfig = z.output<typeof envSchema>;
