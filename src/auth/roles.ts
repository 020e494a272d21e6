import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import type { RoleName } from '../config/schema.js';

export type { RoleName };
export type RoleMembers = Readonly<Partial<Record<RoleName, readonly string[]>>>;

/** Looks up the members of a Slack user group (usergroups.users.list). */
export type GroupMembersLookup = (groupId: string) => Promise<readonly string[]>;

const GROUP_CACHE_MS = 5 * 60_000;
const GROUP_FAILURE_CACHE_MS = 30_000;
/** Slack waits 3 s for the ack and the role check comes first: a group lookup may take this long. */
const LOOKUP_BUDGET_MS = 1_000;

/**
 * Answers "which roles does this Slack user hold?" from the YAML `roles` map. User-group ids are expanded
 * through Slack and cached briefly; when Slack cannot answer, the group grants nothing (fail closed).
 */
export class RoleResolver {
  private readonly groupCache = new Map<string, { members: ReadonlySet<string>; until: number }>();
  private readonly inFlight = new Map<string, Promise<ReadonlySet<string> | undefined>>();

  constructor(
    private readonly members: RoleMembers,
    private readonly lookupGroup: GroupMembersLookup,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async rolesOf(userId: string): Promise<Set<RoleName>> {
    const held = new Set<RoleName>();
    for (const [role, members] of Object.entries(this.members)) {
      for (const member of members ?? []) {
        if (member === '*' || member === userId || (member.startsWith('S') && (await this.inGroup(member, userId)))) {
          held.add(role);
          break;
        }
      }
    }
    return held;
  }

  /** Whether a user may run something open to `allowed`; admins may run everything. */
  async allows(userId: string, allowed: readonly RoleName[] | 'everyone'): Promise<boolean> {
    if (allowed === 'everyone') return true;
    const held = await this.rolesOf(userId);
    return held.has('admin') || allowed.some((r) => held.has(r));
  }

  /** Ids of the users and groups holding any of the roles, for @-mentions (`<@U…>` / `<!subteam^S…>`). */
  mentionsFor(roles: readonly RoleName[]): string[] {
    const ids = new Set<string>();
    for (const role of roles) for (const m of this.members[role] ?? []) if (m !== '*') ids.add(m);
    return [...ids].map((id) => (id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`));
  }

  private async inGroup(groupId: string, userId: string): Promise<boolean> {
    const now = this.clock.nowMs();
    const cached = this.groupCache.get(groupId);
    if (cached && cached.until > now) return cached.members.has(userId);
    const members = await this.expand(groupId, now);
    return members?.has(userId) ?? false;
  }

  /**
   * Looks a group up (one lookup per group at a time), caching the answer. The role check runs before the
   * command is acked, so a slow Slack gets LOOKUP_BUDGET_MS: past that the group grants nothing for this
   * request (fail closed) while the lookup finishes in the background and fills the cache.
   */
  private async expand(groupId: string, now: number): Promise<ReadonlySet<string> | undefined> {
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
    let timer: TimerHandle | undefined;
    const budget = new Promise<undefined>((resolve) => {
      timer = this.clock.setTimer(LOOKUP_BUDGET_MS, () => {
        this.logger.warn({ groupId }, 'Slack user group lookup is slow; it grants no role for this request');
        resolve(undefined);
      });
    });
    try {
      return await Promise.race([pending, budget]);
    } finally {
      timer?.cancel();
    }
  }
}

