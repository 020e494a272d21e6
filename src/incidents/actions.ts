import { z } from 'zod';
import { jsonValue } from '../core/interactions.js';

/** Action ids of the incident buttons: one place, so handlers and Block Kit builders cannot drift apart. */
export const INCIDENT_ACTIONS = {
  acknowledge: 'incident.acknowledge',
  resolve: 'incident.resolve',
  openInPagerDuty: 'incident.open_in_pagerduty',
  acknowledgeAllP1: 'incident.acknowledge_all_p1',
} as const;

export type IncidentActionId = (typeof INCIDENT_ACTIONS)[keyof typeof INCIDENT_ACTIONS];

/**
 * The value of a storm summary's "Acknowledge all P1": the storm and how many incidents had joined it when
 * the summary was drawn, so the click acts on exactly the incidents that summary showed.
 */
export const stormAckValue = jsonValue(z.object({ storm: z.number().int().positive(), rev: z.number().int().nonnegative() }));
