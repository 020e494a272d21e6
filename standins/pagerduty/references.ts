import type { IncidentData } from '../../src/pagerduty/webhook-schema.js';

/** The account and API hosts that self / html_url links point at, as on a real account. */
export const HTML_BASE = 'https://acme.pagerduty.com';
export const API_BASE = 'https://api.pagerduty.com';

export function userReference(user: { id: string; summary: string }): Record<string, unknown> {
  return {
    html_url: `${HTML_BASE}/users/${user.id}`,
    id: user.id,
    self: `${API_BASE}/users/${user.id}`,
    summary: user.summary,
    type: 'user_reference',
  };
}

/** A priority_reference for a priority name such as 'P1'; the id is derived so it is stable. */
export function priorityReference(name: string): NonNullable<IncidentData['priority']> {
  const id = `PPRI${name.replace(/[^A-Za-z0-9]/g, '').toUpperCase()}`;
  return {
    html_url: `${HTML_BASE}/account/incident_priorities`,
    id,
    self: `${API_BASE}/priorities/${id}`,
    summary: name,
    type: 'priority_reference',
  };
}
