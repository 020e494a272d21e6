/**
 * Names the outbox and the message store share. Built here, once, so a key written by one module and read
 * by another (a thread reply to an alert, an update of a digest) cannot drift apart.
 */

/** A posted message that later updates or thread replies refer to. */
export type MessageKey =
  | `incident:${string}`
  | `storm:${number}`
  | `digest:${number}`
  | `change:${string}`
  | `review:${number}`
  | `sop:${number}`
  | `sop-output:${string}`;

export const messageKeys = {
  incident: (incidentId: string): MessageKey => `incident:${incidentId}`,
  storm: (stormId: number): MessageKey => `storm:${stormId}`,
  digest: (digestId: number): MessageKey => `digest:${digestId}`,
  /** A thread line announcing a change made in Slack, updated when PagerDuty takes (or refuses) it. */
  change: (id: string): MessageKey => `change:${id}`,
  /** The weekly performance review of one weekly-maintenance run; its chart goes in the thread. */
  review: (runId: number): MessageKey => `review:${runId}`,
  /** A procedure run's one message (its thread holds the run's lines). */
  sopRun: (runId: number): MessageKey => `sop:${runId}`,
  /** The live output of one execution of a run's script step. */
  sopOutput: (runId: number, step: number, executionId: number): MessageKey => `sop-output:${runId}:${step}:${executionId}`,
} as const;

/** Outbox lanes: rows of one lane are delivered strictly in order, one at a time. */
export type Lane = `channel:${string}` | `response:${string}` | `pagerduty:${string}` | `pagerduty-event:${string}`;

export const lanes = {
  /** Every message to one Slack channel: order and pacing. */
  channel: (channelId: string): Lane => `channel:${channelId}`,
  /** Each response_url is its own lane. */
  response: (url: string): Lane => `response:${url}`,
  /** Status changes of one PagerDuty incident. */
  pagerDutyIncident: (incidentId: string): Lane => `pagerduty:${incidentId}`,
  /** One bulk status change, named by its first incident (PagerDuty ids have no colon). */
  pagerDutyBulk: (firstIncidentId: string): Lane => `pagerduty:bulk:${firstIncidentId}`,
  /** Trigger and resolve of one Events API alert, so a resolve never overtakes its trigger. */
  pagerDutyEvent: (dedupKey: string): Lane => `pagerduty-event:${dedupKey}`,
} as const;
