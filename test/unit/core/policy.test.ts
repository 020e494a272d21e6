import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { Policy, type Grant } from '../../../src/core/policy.js';
import { AuditLog } from '../../../src/audit/audit-log.js';
import { Metrics } from '../../../src/http/metrics.js';
import { openDatabase, type Db } from '../../../src/db/database.js';
import { ManualClock } from '../../../src/clock/clock.js';
import { DataLayer } from '../../../src/db/data-layer.js';

/** Role membership as a plain map: the policy's own logic is under test, not Slack user groups. */
const MEMBERS: Record<string, string[]> = { lead: ['U0ANA', 'U0BEN'], ops: ['U0OLA'], admin: ['U0ROOT'] };
const roles = {
  allows: (user: string, grant: Grant) =>
    Promise.resolve(grant === 'everyone' || (MEMBERS.admin ?? []).includes(user) || grant.some((r) => (MEMBERS[r] ?? []).includes(user))),
  rolesOf: (user: string) => Promise.resolve(new Set(Object.keys(MEMBERS).filter((r) => (MEMBERS[r] ?? []).includes(user)))),
};

describe('Policy', () => {
  let db: Db;
  let audit: AuditLog;
  let metrics: Metrics;
  let policy: Policy;
  /** The denials' audit writes, which the decision does not wait for. */
  let writes: Array<Promise<void>>;
  const recent = async (limit: number) => {
    await Promise.all(writes);
    return audit.recent(limit);
  };

  beforeEach(() => {
    db = openDatabase(':memory:');
    audit = new AuditLog(DataLayer.sqlite(db), new ManualClock('2026-03-02T08:00:00Z'));
    metrics = new Metrics();
    writes = [];
    policy = new Policy({ roles, overrides: { 'job.run': ['ops', 'lead'] }, audit, db: DataLayer.sqlite(db).db, track: (work) => writes.push(work), metrics, logger: pino({ level: 'silent' }) });
    policy.define('job.run', ['ops']);
    policy.define('sop.SOP-OPS-002.approve', ['lead']);
    policy.define('command.health', 'everyone');
  });

  it('grants by the YAML override over the default, and admin holds everything', async () => {
    expect(policy.grantOf('job.run')).toEqual(['ops', 'lead']);
    expect(await policy.holds('U0ANA', 'job.run')).toBe(true);
    expect(await policy.holds('U0ROOT', 'sop.SOP-OPS-002.approve')).toBe(true);
    expect(await policy.holds('U0OLA', 'sop.SOP-OPS-002.approve')).toBe(false);
    expect(await policy.holds('U0ANYONE', 'command.health')).toBe(true);
  });

  it('refuses the requester under a "not the requester" rule, naming the reason, and audits it', async () => {
    const decision = await policy.check({
      permission: 'sop.SOP-OPS-002.approve',
      user: 'U0ANA',
      what: 'approving this hotfix',
      subject: 'run #7',
      rules: [{ kind: 'not', user: 'U0ANA', reason: 'you asked for it, so another lead must approve' }],
    });
    expect(decision).toEqual({ allowed: false, message: 'Sorry, approving this hotfix is not yours to do: you asked for it, so another lead must approve.' });
    const [row] = await recent(1);
    expect(row).toMatchObject({ actor: 'U0ANA', action: 'permission.denied', subject: 'run #7' });
    expect(JSON.parse(row?.details ?? '{}')).toMatchObject({ permission: 'sop.SOP-OPS-002.approve', rule: 'not' });
    expect(await metrics.registry.getSingleMetricAsString('waygate_permission_denials_total')).toContain('permission="sop.SOP-OPS-002.approve",rule="not"} 1');
  });

  it('needs N distinct approvers: a second approval by the same lead is refused, another lead is allowed', async () => {
    const rules = [{ kind: 'distinct' as const, from: ['U0ANA'], reason: 'two different leads must approve' }];
    expect(await policy.check({ permission: 'sop.SOP-OPS-002.approve', user: 'U0ANA', what: 'approving', rules })).toMatchObject({ allowed: false });
    expect(await policy.check({ permission: 'sop.SOP-OPS-002.approve', user: 'U0BEN', what: 'approving', rules })).toEqual({ allowed: true });
    expect(await recent(10)).toHaveLength(1);
  });

  it('checks roles before rules, and names the roles when they are missing', async () => {
    const decision = await policy.check({ permission: 'sop.SOP-OPS-002.approve', user: 'U0OLA', what: 'approving', rules: [{ kind: 'not', user: 'U0ANA', reason: 'x' }] });
    expect(decision).toEqual({ allowed: false, message: 'Sorry, approving needs the *lead* role. Ask an admin to add your Slack user id under `roles` in the Waygate config.' });
    expect(JSON.parse((await recent(1))[0]?.details ?? '{}')).toMatchObject({ rule: 'role', roles: ['lead'] });
  });

  it('lists YAML permission names this version does not know, and refuses to use an undefined one', () => {
    const typo = new Policy({ roles, overrides: { 'job.runn': ['ops'] }, audit, db: DataLayer.sqlite(db).db, metrics, logger: pino({ level: 'silent' }) });
    typo.define('job.run', ['ops']);
    expect(typo.unknownOverrides()).toEqual(['job.runn']);
    expect(() => typo.grantOf('digest.review')).toThrow('permission digest.review was never defined');
  });

  it('refuses two modules defining one permission with different defaults', () => {
    policy.define('job.run', ['ops']);
    expect(() => policy.define('job.run', ['lead'])).toThrow('defined twice');
  });
});
