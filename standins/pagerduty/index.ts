/** PagerDuty stand-ins: a local REST + Events API server, and a Webhooks v3 sender with event builders. */
export { PagerDutyStandIn } from './pagerduty-standin.js';
export type { PagerDutyFault } from './faults.js';
export type { NewStandInIncident, StandInIncident, StandInIncidentStatus } from './incidents.js';
export type { PagerDutyRecordedCall, PagerDutyTarget } from './recorder.js';
export { buildAnnotatedEvent, buildIncidentEvent, buildPingEvent, type EventOptions, type IncidentInput } from './webhook-events.js';
export { PagerDutyWebhookSigner, type WebhookResponse, type WebhookSendOptions } from './webhook-signer.js';
export type { StandInOncall } from './oncalls.js';
export type { StandInUser } from './rest-api.js';
