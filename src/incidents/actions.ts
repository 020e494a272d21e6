/** Action ids of the incident buttons: one place, so handlers and Block Kit builders cannot drift apart. */
export const INCIDENT_ACTIONS = {
  acknowledge: 'incident.acknowledge',
  resolve: 'incident.resolve',
  openInPagerDuty: 'incident.open_in_pagerduty',
  acknowledgeAllP1: 'incident.acknowledge_all_p1',
} as const;

export type IncidentActionId = (typeof INCIDENT_ACTIONS)[keyof typeof INCIDENT_ACTIONS];
