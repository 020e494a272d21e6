/**
 * YAML sections for the scheduled operations of SOP-MAINT-001/002 and SOP-BACK-001: the service being
 * watched, backups, and maintenance commands. Defaults come from the SOP.
 */
import { z } from 'zod';
import { durationSchema } from './duration.js';
import { parseTimeOfDay, weekdayNames } from './sla-schema.js';

export const serviceSchema = z
  .object({
    healthUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).default('http://localhost:8000/health'),
    /** Checked with `systemctl is-active` where systemd exists; skipped elsewhere. */
    systemdUnit: z.string().regex(/^[A-Za-z0-9@._-]+$/, { message: 'must be a systemd unit name' }).nullable().default('waygate-mcp'),
    logFile: z.string().min(1).default('/var/log/waygate/waygate.log'),
    database: z.string().min(1).default('/var/lib/waygate/waygate.db'),
    /** Timeout of one health request. */
    timeout: durationSchema.default(5_000),
    /** Consecutive failed samples before the service counts as down; one good sample ends the outage. */
    failuresBeforeDown: z.number().int().min(1, { message: 'must be at least 1' }).default(2),
    /** After a failed check, check again this soon (not at the next 5-minute run), so an outage is declared within about a minute; 0 to wait for the schedule. */
    recheckAfter: durationSchema.default(30_000),
    /** Events API v2 integration key (32 characters) for "Service down" alerts; null to skip PagerDuty. */
    pagerDutyRoutingKey: z.string().length(32, { message: 'must be a 32-character Events API v2 integration key' }).nullable().default(null),
  })
  .strict();
export type ServiceConfig = z.output<typeof serviceSchema>;

export const backupSchema = z
  .object({
    dir: z.string().min(1).default('/backup/waygate'),
    configDir: z.string().min(1).nullable().default('/etc/waygate'),
    retentionDays: z.number().int().min(1, { message: 'must be at least 1 day' }).default(30),
    /** rsync destination such as "remote:/backup/", or null for no offsite copy. */
    offsite: z
      .string()
      .min(1)
      .refine((d) => !d.startsWith('-'), { message: 'must be an rsync destination such as remote:/backup/, not an option' })
      .nullable()
      .default(null),
    /** A newest backup older than this is called out in the digest. */
    maxAge: durationSchema.default(26 * 3_600_000),
  })
  .strict();
export type BackupConfig = z.output<typeof backupSchema>;

/** A command as an argv array (never a shell string) with a timeout. */
export const commandSpecSchema = z
  .object({
    run: z.array(z.string().min(1)).min(1, { message: 'must list the program and its arguments, e.g. [pip, list, --outdated]' }),
    timeout: durationSchema.default(60_000),
  })
  .strict();
export type CommandSpec = z.output<typeof commandSpecSchema>;

export const DEFAULT_MAINTENANCE_COMMANDS = {
  outdated: { run: ['pip', 'list', '--outdated'], timeout: 120_000 },
  logrotate: { run: ['logrotate', '-f', '/etc/logrotate.d/waygate'], timeout: 60_000 },
  'security-scan': { run: ['./scripts/security-scan.sh'], timeout: 600_000 },
} as const satisfies Record<string, CommandSpec>;

const timeOfDay = z.string().refine((t) => parseTimeOfDay(t) !== undefined, { message: 'must be a time such as 14:00' });

/** When the service may be disturbed (VACUUM locks its database): SOP-MAINT-002 runs on Tuesday at 2 PM. */
export const maintenanceWindowSchema = z
  .object({
    days: z.array(z.enum(weekdayNames, { message: `must be one of ${weekdayNames.join(', ')}` })).min(1, { message: 'must name at least one day' }),
    start: timeOfDay,
    end: timeOfDay,
  })
  .strict()
  .refine((w) => parseTimeOfDay(w.end)! > parseTimeOfDay(w.start)!, { message: 'end must be after start', path: ['end'] });

export const maintenanceSchema = z
  .object({
    window: maintenanceWindowSchema.default({ days: ['tue'], start: '14:00', end: '18:00' }),
    commands: z
      .object({
        outdated: commandSpecSchema.optional(),
        logrotate: commandSpecSchema.optional(),
        'security-scan': commandSpecSchema.optional(),
      })
      .strict()
      .prefault({})
      .transform((c) => ({
        outdated: c.outdated ?? { ...DEFAULT_MAINTENANCE_COMMANDS.outdated, run: [...DEFAULT_MAINTENANCE_COMMANDS.outdated.run] },
        logrotate: c.logrotate ?? { ...DEFAULT_MAINTENANCE_COMMANDS.logrotate, run: [...DEFAULT_MAINTENANCE_COMMANDS.logrotate.run] },
        'security-scan': c['security-scan'] ?? {
          ...DEFAULT_MAINTENANCE_COMMANDS['security-scan'],
          run: [...DEFAULT_MAINTENANCE_COMMANDS['security-scan'].run],
        },
      })),
  })
  .strict();
export type MaintenanceConfig = z.output<typeof maintenanceSchema>;
