import type { Logger } from '../logging/logger.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Metrics } from '../http/metrics.js';
import type { RoleName } from '../config/schema.js';
import type { Executor } from '../db/data-layer.js';

/** Who holds a permission: roles (admin always included implicitly) or everyone. */
export type Grant = readonly RoleName[] | 'everyone';

/**
 * Named permissions. Commands get `command.<verb>` from their definition; the rest are declared by the
 * module that checks them. Procedures will add `sop.<id>.start` and `sop.<id>.approve`.
 */
export const PERMISSIONS = {
  incidentAck: 'incident.ack',
  incidentResolve: 'incident.resolve',
  incidentNote: 'incident.note',
  incidentReassign: 'incident.reassign',
  incidentPriority: 'incident.priority',
  incidentEscalate: 'incident.escalate',
  jobRun: 'job.run',
  digestReview: 'digest.review',
  oncallOverride: 'oncall.override',
} as const;

export type PermissionName = string;

/** Rules about the person acting, beyond their roles (four-eyes approvals). */
export type SubjectRule =
  /** The actor must not be this user, e.g. the one who asked for the approval. */
  | { kind: 'not'; user: string; reason: string }
  /** The actor must not be one of these, e.g. approvers so far, when N distinct approvals are needed. */
  | { kind: 'distinct'; from: readonly string[]; reason: string };

export interface CheckRequest {
  permission: PermissionName;
  user: string;
  /** What the user tried, for the denial: "`/waygate jobs run`", "that button". */
  what: string;
  rules?: readonly SubjectRule[];
  /** What it was about, for the audit row (an incident number, a job name). */
  subject?: string;
}

export type Decision = { allowed: true } | { allowed: false; message: string };

export interface PolicyOptions {
  /** Decides role membership (YAML `roles`, Slack user groups). */
  roles: { allows(userId: string, allowed: Grant): Promise<boolean>; rolesOf(userId: string): Promise<Set<RoleName>> };
  /** YAML `permissions:` (and the deprecated `commandRoles:`, already folded in). */
  overrides: Readonly<Record<PermissionName, Grant>>;
  audit: Pick<AuditLog, 'record'>;
  /** Where a denial's audit row commits: the data layer itself (`data.db`), a transaction of its own. */
  db: Executor;
  /** Keeps the denial's audit write in view until it is done (shutdown drains it); none in unit tests. */
  track?: (work: Promise<void>) => unknown;
  metrics: Metrics;
  logger: Logger;
}

export function describeRoles(allowed: readonly RoleName[]): string {
  const names = allowed.map((r) => `*${r}*`);
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

/**
 * The one place that decides who may do what. Every command, button and (next) procedure step asks here;
 * a denial is rendered, counted and audited in the same way wherever it happens.
 */
export class Policy {
  private readonly defaults = new Map<PermissionName, Grant>();

  constructor(private readonly opts: PolicyOptions) {}

  /** Declares a permission with the roles that hold it unless the YAML says otherwise. */
  define(permission: PermissionName, defaultGrant: Grant): void {
    const known = this.defaults.get(permission);
    if (known !== undefined && JSON.stringify(known) !== JSON.stringify(defaultGrant)) {
      throw new Error(`permission ${permission} defined twice with different defaults`);
    }
    this.defaults.set(permission, defaultGrant);
  }

  /** YAML permission names this version does not know: worth a warning, since the operator meant something. */
  unknownOverrides(): string[] {
    return Object.keys(this.opts.overrides).filter((name) => !this.defaults.has(name));
  }

  grantOf(permission: PermissionName): Grant {
    const grant = this.opts.overrides[permission] ?? this.defaults.get(permission);
    if (grant === undefined) throw new Error(`permission ${permission} was never defined`);
    return grant;
  }

  /** The roles a user holds (listed by id, or through a user group), for `/waygate whoami`. */
  async rolesOf(user: string): Promise<string[]> {
    return [...(await this.opts.roles.rolesOf(user))].sort();
  }

  /** Whether the user holds the permission by role; no audit (for listing what a user may do). */
  holds(user: string, permission: PermissionName): Promise<boolean> {
    return this.opts.roles.allows(user, this.grantOf(permission));
  }

  /**
   * Decides, and on a denial counts it and writes the audit row (callers commit nothing else). The decision does
   * not wait for that write: it is often on the way to a Slack ack, which must not wait for the database. The row
   * is written in a transaction of its own started here, so a read through the data layer after the decision
   * sees it; a failed write is logged.
   */
  async check(req: CheckRequest): Promise<Decision> {
    const grant = this.grantOf(req.permission);
    let message: string | undefined;
    let rule: string | undefined;
    if (!(await this.opts.roles.allows(req.user, grant))) {
      const roles = grant === 'everyone' ? [] : grant;
      message = `Sorry, ${req.what} needs the ${describeRoles(roles)} role. Ask an admin to add your Slack user id under \`roles\` in the Waygate config.`;
      rule = 'role';
    } else {
      for (const r of req.rules ?? []) {
        const broken = r.kind === 'not' ? r.user === req.user : r.from.includes(req.user);
        if (broken) {
          message = `Sorry, ${req.what} is not yours to do: ${r.reason}.`;
          rule = r.kind;
          break;
        }
      }
    }
    if (message === undefined) return { allowed: true };
    this.opts.metrics.denials.inc({ permission: req.permission, rule: rule ?? 'role' });
    const written = this.opts.audit
      .record(this.opts.db, {
        actor: req.user,
        action: 'permission.denied',
        subject: req.subject ?? req.permission,
        details: { permission: req.permission, rule, roles: grant },
      })
      .catch((err: unknown) => this.opts.logger.error({ err, user: req.user, permission: req.permission }, 'permission denial could not be audited'));
    this.opts.track?.(written);
    this.opts.logger.info({ user: req.user, permission: req.permission, rule }, 'permission denied');
    return { allowed: false, message };
  }
}
