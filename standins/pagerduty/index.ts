/** PagerDuty stand-ins: a local REST + Events API server, and a Webhooks v3 sender with event builders. */
export {
  PagerDutyStandIn,
  type PagerDutyFault,
  type PagerDutyRecordedCall,
  type PagerDutyTarget,
  type StandInIncident,
  type StandInIncidentStatus,
} from './pagerduty-standin.js';
export {
  PagerDutyWebhookSigner,
  buildAnnotatedEvent,
  buildIncidentEvent,
  buildPingEvent,
  type EventOptions,
  type IncidentInput,
  type WebhookResponse,
  type WebhookSendOptions,
} from './webhook-signer.js';
