import { createHash } from 'node:crypto';
import { stringOr, type ApiResult, type Params } from './params.js';

export interface StandInUser {
  id: string;
  name?: string;
  email?: string;
  tz?: string;
}

/** Who is who in the stand-in workspace: the bot itself, its users, user groups and DM channels. */
export class Directory {
  private readonly users = new Map<string, StandInUser>();
  private readonly groups = new Map<string, string[]>();

  constructor(private readonly botUserId: string) {}

  addUser(user: StandInUser): void {
    this.users.set(user.id, { ...user });
  }

  addUserGroup(id: string, userIds: string[]): void {
    this.groups.set(id, [...userIds]);
  }

  authTest(): ApiResult {
    return {
      ok: true,
      url: 'https://standin.slack.com/',
      team: 'Stand-in',
      user: 'waygate',
      team_id: 'T0STANDIN',
      user_id: this.botUserId,
      bot_id: 'B0WAYGATE',
    };
  }

  usersInfo(p: Params): ApiResult {
    const user = typeof p.user === 'string' ? this.users.get(p.user) : undefined;
    if (!user) return { ok: false, error: 'user_not_found' };
    const name = user.name ?? user.id.toLowerCase();
    const profile: Record<string, unknown> = { real_name: name, display_name: name };
    // Without users:read.email Slack omits email entirely, so only include it when configured.
    if (user.email !== undefined) profile.email = user.email;
    return { ok: true, user: { id: user.id, name, real_name: name, tz: user.tz ?? 'UTC', profile } };
  }

  /** users.lookupByEmail: needs users:read.email; case-insensitive, like Slack. */
  lookupByEmail(p: Params): ApiResult {
    const email = typeof p.email === 'string' ? p.email.toLowerCase() : '';
    const user = [...this.users.values()].find((u) => u.email?.toLowerCase() === email);
    return user ? this.usersInfo({ user: user.id }) : { ok: false, error: 'users_not_found' };
  }

  conversationsOpen(p: Params): ApiResult {
    const users = stringOr(p.users, '')
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean)
      .sort();
    if (users.length === 0) return { ok: false, error: 'users_list_not_supplied' };
    // Hash-derived so the same user set maps to the same DM across resets and stand-in instances.
    const id = 'D' + createHash('sha256').update(users.join(',')).digest('hex').slice(0, 10).toUpperCase();
    return { ok: true, channel: { id } };
  }

  usergroupUsers(p: Params): ApiResult {
    const users = typeof p.usergroup === 'string' ? this.groups.get(p.usergroup) : undefined;
    return users ? { ok: true, users: [...users] } : { ok: false, error: 'no_such_subteam' };
  }
}
