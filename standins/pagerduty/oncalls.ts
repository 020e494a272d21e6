import type { Reply } from '../shared/reply.js';
import { API_BASE, HTML_BASE } from './references.js';

/** One on-call entry: a user on an escalation policy's level, from a schedule or directly, for a time. */
export interface StandInOncall {
  user: { id: string; name: string; email: string };
  escalationPolicy: { id: string; name: string };
  /** null: on the policy directly, not through a schedule. */
  schedule: { id: string; name: string } | null;
  level: number;
  /** ISO 8601; null: open-ended (a user on the policy directly). */
  start: string | null;
  end: string | null;
}

const ref = (type: string, path: string, o: { id: string; name: string }) => ({
  id: o.id,
  type: `${type}_reference`,
  summary: o.name,
  self: `${API_BASE}/${path}/${o.id}`,
  html_url: `${HTML_BASE}/${path}/${o.id}`,
});

/**
 * GET /oncalls: the entries overlapping `since`–`until` (default: now), filtered by `escalation_policy_ids[]`,
 * `schedule_ids[]` and `earliest`, with `include[]=users` expanding each user (e-mail included), offset paging.
 */
export function listOncalls(all: readonly StandInOncall[], params: URLSearchParams, now: number): Reply {
  const policies = params.getAll('escalation_policy_ids[]');
  const schedules = params.getAll('schedule_ids[]');
  const since = params.has('since') ? Date.parse(params.get('since')!) : now;
  const until = params.has('until') ? Date.parse(params.get('until')!) : since;
  if (Number.isNaN(since) || Number.isNaN(until) || until < since) {
    return { status: 400, body: { error: { message: 'Invalid Input Provided', code: 2001, errors: ['since and until must be ISO 8601 times, since first'] } } };
  }
  const users = params.getAll('include[]').includes('users');
  const limit = Math.min(100, Math.max(1, Number(params.get('limit') ?? 25) || 25));
  const offset = Math.max(0, Number(params.get('offset') ?? 0) || 0);
  const matching = all.filter((o) => {
    const start = o.start === null ? -Infinity : Date.parse(o.start);
    const end = o.end === null ? Infinity : Date.parse(o.end);
    return (policies.length === 0 || policies.includes(o.escalationPolicy.id)) && (schedules.length === 0 || (o.schedule !== null && schedules.includes(o.schedule.id))) && start <= until && end > since;
  });
  const page = matching.slice(offset, offset + limit);
  return {
    status: 200,
    body: {
      oncalls: page.map((o) => ({
        user: users
          ? { id: o.user.id, type: 'user', summary: o.user.name, name: o.user.name, email: o.user.email, self: `${API_BASE}/users/${o.user.id}`, html_url: `${HTML_BASE}/users/${o.user.id}` }
          : ref('user', 'users', o.user),
        escalation_policy: ref('escalation_policy', 'escalation_policies', o.escalationPolicy),
        schedule: o.schedule === null ? null : ref('schedule', 'schedules', o.schedule),
        escalation_level: o.level,
        start: o.start,
        end: o.end,
      })),
      limit,
      offset,
      more: offset + page.length < matching.length,
      total: null,
    },
  };
}
