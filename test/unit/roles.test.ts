import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ROLE_CHECK_BUDGET_MS, RoleResolver, type RoleMembers } from '../../src/auth/roles.js';
import { describeRoles } from '../../src/core/policy.js';
import { ManualClock } from '../../src/clock/clock.js';

const NO_ONE: RoleMembers = { lead: [], oncall: [], ops: [], security: [], admin: [] };

function setup(
  members: Partial<RoleMembers>,
  groups: Record<string, readonly string[] | Error> = {},
): {
  resolver: RoleResolver;
  clock: ManualClock;
  calls: string[];
  groups: Record<string, readonly string[] | Error>;
  logLines: () => Record<string, unknown>[];
} {
  const clock = new ManualClock('2026-01-05T08:00:00Z');
  const calls: string[] = [];
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });
  const lookup = async (groupId: string): Promise<readonly string[]> => {
    calls.push(groupId);
    const answer = groups[groupId];
    if (answer instanceof Error) throw answer;
    if (!answer) throw new Error(`no_such_subteam ${groupId}`);
    return answer;
  };
  const resolver = new RoleResolver({ ...NO_ONE, ...members }, lookup, clock, logger);
  return { resolver, clock, calls, groups, logLines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const sorted = (roles: Set<string>): string[] => [...roles].sort();

describe('RoleResolver.rolesOf', () => {
  it('grants roles to users listed directly', async () => {
    const { resolver, calls } = setup({ lead: ['U0LEAD'], ops: ['U0OPS', 'U0LEAD'] });
    expect(sorted(await resolver.rolesOf('U0LEAD'))).toEqual(['lead', 'ops']);
    expect(sorted(await resolver.rolesOf('U0OPS'))).toEqual(['ops']);
    expect(sorted(await resolver.rolesOf('U0STRANGER'))).toEqual([]);
    expect(calls).toEqual([]);
  });

  it("grants a role listed as '*' to everyone", async () => {
    const { resolver } = setup({ oncall: ['*'], admin: ['U0ADMIN'] });
    expect(sorted(await resolver.rolesOf('U0ANYONE'))).toEqual(['oncall']);
    expect(sorted(await resolver.rolesOf('U0ADMIN'))).toEqual(['admin', 'oncall']);
  });

  it('expands user-group ids through the lookup', async () => {
    const { resolver, calls } = setup({ oncall: ['S0ONCALL'] }, { S0ONCALL: ['U0AMY', 'U0BEN'] });
    expect(sorted(await resolver.rolesOf('U0AMY'))).toEqual(['oncall']);
    expect(sorted(await resolver.rolesOf('U0CARL'))).toEqual([]);
    expect(calls).toEqual(['S0ONCALL']);
  });

  it('caches group members for 5 minutes, then looks them up again', async () => {
    const { resolver, clock, calls, groups } = setup({ oncall: ['S0ONCALL'] }, { S0ONCALL: ['U0AMY'] });
    expect(sorted(await resolver.rolesOf('U0AMY'))).toEqual(['oncall']);
    // The rotation changes in Slack: Amy is off call, Ben is on.
    groups.S0ONCALL = ['U0BEN'];
    clock.advance(4 * 60_000 + 59_000);
    expect(sorted(await resolver.rolesOf('U0AMY'))).toEqual(['oncall']);
    expect(sorted(await resolver.rolesOf('U0BEN'))).toEqual([]);
    expect(calls).toEqual(['S0ONCALL']);

    clock.advance(1_000);
    expect(sorted(await resolver.rolesOf('U0AMY'))).toEqual([]);
    expect(sorted(await resolver.rolesOf('U0BEN'))).toEqual(['oncall']);
    expect(calls).toEqual(['S0ONCALL', 'S0ONCALL']);
  });

  it('shares one cached lookup per group across roles', async () => {
    const { resolver, calls } = setup({ oncall: ['S0TEAM'], ops: ['S0TEAM'] }, { S0TEAM: ['U0AMY'] });
    expect(sorted(await resolver.rolesOf('U0AMY'))).toEqual(['oncall', 'ops']);
    expect(calls).toEqual(['S0TEAM']);
  });

  it('grants nothing through a group whose lookup fails, and logs a warning naming the group', async () => {
    const { resolver, logLines } = setup(
      { oncall: ['S0BROKEN'], lead: ['U0AMY'] },
      { S0BROKEN: new Error('missing_scope') },
    );
    expect(sorted(await resolver.rolesOf('U0AMY'))).toEqual(['lead']);
    const warnings = logLines().filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ groupId: 'S0BROKEN', err: 'missing_scope' });
    expect(String(warnings[0]!.msg)).toContain('grants no role');
  });

  it('remembers a failed lookup for 30 s only: no lookup storm during an outage, and the group works again after', async () => {
    const { resolver, calls, groups, clock } = setup({ oncall: ['S0ONCALL'] }, { S0ONCALL: new Error('fatal_error') });
    expect(sorted(await resolver.rolesOf('U0AMY'))).toEqual([]);
    groups.S0ONCALL = ['U0AMY'];
    clock.advance(29_999);
    expect(sorted(await resolver.rolesOf('U0AMY'))).toEqual([]);
    expect(calls).toEqual(['S0ONCALL']);
    clock.advance(1);
    expect(sorted(await resolver.rolesOf('U0AMY'))).toEqual(['oncall']);
    expect(calls).toEqual(['S0ONCALL', 'S0ONCALL']);
  });
});

describe('RoleResolver.allows', () => {
  it("lets anyone run something open to 'everyone' without looking anything up", async () => {
    const { resolver, calls } = setup({ oncall: ['S0ONCALL'] }, { S0ONCALL: [] });
    expect(await resolver.allows('U0NOBODY', 'everyone')).toBe(true);
    expect(calls).toEqual([]);
  });

  it('allows holders of any listed role and refuses others', async () => {
    const { resolver } = setup({ lead: ['U0LEAD'], ops: ['U0OPS'], security: ['U0SEC'] });
    expect(await resolver.allows('U0LEAD', ['lead', 'ops'])).toBe(true);
    expect(await resolver.allows('U0OPS', ['lead', 'ops'])).toBe(true);
    expect(await resolver.allows('U0SEC', ['lead', 'ops'])).toBe(false);
    expect(await resolver.allows('U0NOBODY', ['lead'])).toBe(false);
  });

  it('allows an admin everything, even commands listing no role', async () => {
    const { resolver } = setup({ admin: ['U0ADMIN'] });
    expect(await resolver.allows('U0ADMIN', ['security'])).toBe(true);
    expect(await resolver.allows('U0ADMIN', [])).toBe(true);
    expect(await resolver.allows('U0OTHER', [])).toBe(false);
  });

  it('allows an admin who holds the role through a user group', async () => {
    const { resolver } = setup({ admin: ['S0ADMINS'] }, { S0ADMINS: ['U0ROOT'] });
    expect(await resolver.allows('U0ROOT', ['lead'])).toBe(true);
  });
});

describe('RoleResolver.mentionsFor', () => {
  it('renders users as <@U…> and groups as <!subteam^S…>, once each, skipping "*"', () => {
    const { resolver } = setup({
      oncall: ['U0AMY', 'S0ONCALL', '*'],
      lead: ['U0AMY', 'W0ENTERP'],
      ops: ['U0OPS'],
    });
    expect(resolver.mentionsFor(['oncall', 'lead'])).toEqual(['<@U0AMY>', '<!subteam^S0ONCALL>', '<@W0ENTERP>']);
  });

  it('returns no mentions when only "*" holds the role', () => {
    const { resolver } = setup({ ops: ['*'] });
    expect(resolver.mentionsFor(['ops'])).toEqual([]);
  });
});

describe('describeRoles', () => {
  it('joins several roles as "*a*, *b* or *c*"', () => {
    expect(describeRoles(['lead', 'oncall', 'ops'])).toBe('*lead*, *oncall* or *ops*');
  });

  it('joins two roles with "or"', () => {
    expect(describeRoles(['lead', 'admin'])).toBe('*lead* or *admin*');
  });

  it('renders a single role bold and no roles as empty', () => {
    expect(describeRoles(['security'])).toBe('*security*');
    expect(describeRoles([])).toBe('');
  });
});

describe('RoleResolver with a slow Slack', () => {
  it('gives a group lookup 1 s before the ack, grants nothing past it, and uses the late answer next time', async () => {
    const clock = new ManualClock('2026-01-05T08:00:00Z');
    let release: (ids: string[]) => void = () => undefined;
    let calls = 0;
    const lookup = () => {
      calls++;
      return new Promise<readonly string[]>((resolve) => (release = resolve));
    };
    const resolver = new RoleResolver(
      { lead: [], oncall: ['S0SLOW'], ops: [], security: [], admin: [] },
      lookup,
      clock,
      pino({ level: 'silent' }),
    );
    const first = resolver.allows('U0AMY', ['oncall']);
    const second = resolver.allows('U0AMY', ['oncall']);
    await Promise.resolve();
    clock.advance(1_000);
    expect(await first).toBe(false);
    expect(await second).toBe(false);
    expect(calls).toBe(1); // concurrent checks share one lookup
    release(['U0AMY']);
    await new Promise((r) => setImmediate(r));
    expect(await resolver.allows('U0AMY', ['oncall'])).toBe(true);
    expect(calls).toBe(1);
  });
});

describe('RoleResolver: one budget for the whole check', () => {
  /** Lookups that answer only when the test says so, per group. */
  function slowSlack(members: RoleMembers) {
    const clock = new ManualClock('2026-01-05T08:00:00Z');
    const calls: string[] = [];
    const answers = new Map<string, (ids: string[]) => void>();
    const lookup = (groupId: string) => {
      calls.push(groupId);
      return new Promise<readonly string[]>((resolve) => answers.set(groupId, resolve));
    };
    const resolver = new RoleResolver({ ...NO_ONE, ...members }, lookup, clock, pino({ level: 'silent' }));
    return { resolver, clock, calls, answer: (groupId: string, ids: string[]) => answers.get(groupId)?.(ids) };
  }
  const settled = async <T>(p: Promise<T>): Promise<T | 'pending'> => {
    const marker = Symbol('pending');
    const winner = await Promise.race([p, new Promise<symbol>((r) => setImmediate(() => r(marker)))]);
    return winner === marker ? 'pending' : (winner as T);
  };

  it('decides for a user listed by id without looking up any group, even when groups are listed first', async () => {
    const { resolver, calls } = slowSlack({ oncall: ['S0ONCALL', 'U0AMY'], admin: ['S0ADMINS'] });
    expect(await settled(resolver.allows('U0AMY', ['oncall']))).toBe(true);
    expect(calls).toEqual([]);
  });

  it('looks up every group it needs side by side, and answers when the one budget runs out', async () => {
    const { resolver, clock, calls } = slowSlack({
      oncall: ['S0ONCALL'],
      lead: ['S0LEADS'],
      ops: ['S0OPS'],
      admin: ['S0ADMINS'],
    });
    const check = resolver.allows('U0AMY', ['oncall', 'lead', 'ops']);
    expect(calls.sort()).toEqual(['S0ADMINS', 'S0LEADS', 'S0ONCALL', 'S0OPS']);
    clock.advance(ROLE_CHECK_BUDGET_MS - 1);
    expect(await settled(check)).toBe('pending');
    clock.advance(1);
    expect(await settled(check)).toBe(false);
  });

  it('grants as soon as one group has the user, without waiting for a group that hangs', async () => {
    const { resolver, answer } = slowSlack({ oncall: ['S0HUNG'], ops: ['S0OPS'] });
    const check = resolver.allows('U0AMY', ['oncall', 'ops']);
    answer('S0OPS', ['U0AMY']);
    expect(await settled(check)).toBe(true);
  });

  it('looks up only the groups of the roles asked for (and admin)', async () => {
    const { resolver, calls, answer } = slowSlack({ oncall: ['S0ONCALL'], security: ['S0SEC'], admin: ['S0ADMINS'] });
    const check = resolver.allows('U0AMY', ['oncall']);
    answer('S0ONCALL', []);
    answer('S0ADMINS', []);
    expect(await settled(check)).toBe(false);
    expect(calls.sort()).toEqual(['S0ADMINS', 'S0ONCALL']);
  });

  it('lists all roles of a group member within the one budget', async () => {
    const { resolver, clock, answer } = slowSlack({ oncall: ['S0ONCALL'], lead: ['S0HUNG', 'U0AMY'], ops: ['S0OPS'] });
    const roles = resolver.rolesOf('U0AMY');
    answer('S0ONCALL', ['U0AMY']);
    answer('S0OPS', ['U0BEN']);
    await new Promise((r) => setImmediate(r));
    clock.advance(ROLE_CHECK_BUDGET_MS);
    expect(sorted(await roles)).toEqual(['lead', 'oncall']);
  });
});
