import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { RoleName } from '../config/schema.js';

export type { RoleName };
export type RoleMembers = Readonly<Partial<Record<RoleName, readonly string[]>>>;

/** Looks up the members of a Slack user group (usergroups.users.list). */
export type GroupMembersLookup = (groupId: string) => Promise<readonly string[]>;

const GROUP_CACHE_MS = 5 * 60_000;
const GROUP_FAILURE_CACHE_MS = 30_000;
/**
 * Slack waits 3 s for the ack and the role check comes first: the whole check, however many groups it
 * needs, gets this long. The groups are looked up side by side, so four groups cost what one does.
 */
export const ROLE_CHECK_BUDGET_MS = 1_000;

type Members = ReadonlySet<string>;

/**
 * Answers "which roles does this Slack user hold?" from the YAML `roles` map. User-group ids are expanded
 * through Slack and cached briefly; when Slack cannot answer, the group grants nothing (fail closed).
 */
export class RoleResolver {
  private readonly groupCache = new Map<string, { members: Members; until: number }>();
  private readonly inFlight = new Map<string, Promise<Members | undefined>>();

  constructor(
    private readonly members: RoleMembers,
    private readonly lookupGroup: GroupMembersLookup,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async rolesOf(userId: string): Promise<Set<RoleName>> {
    const roles = Object.keys(this.members);
    const held = new Set(roles.filter((role) => this.listedDirectly(role, userId)));
    const groups = await this.groupsHolding(
      userId,
      roles.filter((role) => !held.has(role)),
      () => false,
    );
    for (const role of roles) if (this.groupsOf(role).some((g) => groups.has(g))) held.add(role);
    return held;
  }

  /** Whether a user may run something open to `allowed`; admins may run everything. */
  async allows(userId: string, allowed: readonly RoleName[] | 'everyone'): Promise<boolean> {
    if (allowed === 'everyone') return true;
    const wanted = [...new Set<RoleName>(['admin', ...allowed])];
    // Someone listed by id (or a role open to '*') is decided here, with no Slack call and no waiting.
    if (wanted.some((role) => this.listedDirectly(role, userId))) return true;
    const groups = await this.groupsHolding(userId, wanted, (found) => found.size > 0);
    return groups.size > 0;
  }

  /** Ids of the users and groups holding any of the roles, for @-mentions (`<@U…>` / `<!subteam^S…>`). */
  mentionsFor(roles: readonly RoleName[]): string[] {
    const ids = new Set<string>();
    for (const role of roles) for (const m of this.members[role] ?? []) if (m !== '*') ids.add(m);
    return [...ids].map((id) => (id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`));
  }

  private listedDirectly(role: RoleName, userId: string): boolean {
    return (this.members[role] ?? []).some((m) => m === '*' || m === userId);
  }

  private groupsOf(role: RoleName): string[] {
    return (this.members[role] ?? []).filter((m) => m.startsWith('S'));
  }

  /**
   * The groups of `roles` that have the user as a member. Cached groups answer at once; the others are
   * looked up side by side within one ROLE_CHECK_BUDGET_MS for the whole check. `enough` stops the wait as
   * soon as what was found decides the question. A group Slack did not describe in time grants nothing
   * for this request (fail closed); its lookup finishes in the background and fills the cache.
   */
  private async groupsHolding(userId: string, roles: readonly RoleName[], enough: (found: Set<string>) => boolean): Promise<Set<string>> {
    const found = new Set<string>();
    const toLookUp: string[] = [];
    const now = this.clock.nowMs();
    for (const groupId of new Set(roles.flatMap((role) => this.groupsOf(role)))) {
      const cached = this.groupCache.get(groupId);
      if (cached && cached.until > now) {
        if (cached.members.has(userId)) found.add(groupId);
      } else {
        toLookUp.push(groupId);
      }
    }
    if (toLookUp.length === 0 || enough(found)) return found;

    let timer: TimerHandle | undefined;
    let outstanding = toLookUp.length;
    const settled = new Promise<void>((resolve) => {
      for (const groupId of toLookUp) {
        void this.expand(groupId, now).then((members) => {
          if (members?.has(userId)) found.add(groupId);
          outstanding--;
          if (outstanding === 0 || enough(found)) resolve();
        });
      }
      timer = this.clock.setTimer(ROLE_CHECK_BUDGET_MS, () => {
        const slow = toLookUp.filter((g) => this.inFlight.has(g));
        this.logger.warn({ groupIds: slow }, 'Slack user group lookup is slow; it grants no role for this request');
        resolve();
      });
    });
    try {
      await settled;
    } finally {
      timer?.cancel();
    }
    // A snapshot: lookups answering after the budget must not change what this request decided.
    return new Set(found);
  }

  /** Looks a group up (one lookup per group at a time), caching the answer; undefined when Slack failed. */
  private expand(groupId: string, now: number): Promise<Members | undefined> {
    let pending = this.inFlight.get(groupId);
    if (!pending) {
      pending = this.lookupGroup(groupId)
        .then((ids) => {
          const members = new Set(ids);
          this.groupCache.set(groupId, { members, until: this.clock.nowMs() + GROUP_CACHE_MS });
          return members;
        })
        .catch((err: unknown) => {
          this.logger.warn({ groupId, err: (err as Error).message }, 'could not expand Slack user group; it grants no role');
          // Remember the failure briefly, so a Slack outage does not turn every command into another lookup.
          this.groupCache.set(groupId, { members: new Set(), until: now + GROUP_FAILURE_CACHE_MS });
          return undefined;
        })
        .finally(() => this.inFlight.delete(groupId));
      this.inFlight.set(groupId, pending);
    }
    return pending;
  }
}
