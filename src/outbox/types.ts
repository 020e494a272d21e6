import { ErrorCode, WaygateError } from '../core/errors.js';

import type { Block } from '../core/blocks.js';

export type { Block };

export interface MessageContent {
  text: string;
  blocks?: Block[];
}

import type { MessageKey } from '../core/keys.js';

export interface PostPayload extends MessageContent {
  channel: string;
  /** Reply in the thread of the message stored under this key. */
  threadKey?: MessageKey;
  /** A thread reply also shown in the channel (`reply_broadcast`): Slack notifies only then. */
  broadcast?: boolean;
}

export interface UpdatePayload extends MessageContent {
  /** The channel of the original post: updates share its lane, so they never overtake it. */
  channel: string;
  /** The key the original post was queued with. */
  messageKey: MessageKey;
}

/**
 * An update whose content is rendered when it is sent, from the state at that moment. For messages that
 * change many times a second (a storm summary): queueing costs nothing, rendering happens once per send.
 */
export interface DeferredUpdatePayload {
  channel: string;
  messageKey: MessageKey;
  /** Names the renderer, e.g. "storm:12"; see DispatcherOptions.renderDeferred. */
  renderKey: MessageKey;
}

/**
 * A file shared in a channel, or in the thread of a message queued earlier. The bytes travel in the row
 * (base64), so a restart loses nothing; keep files small (a chart, not a log).
 */
export interface FileUploadPayload {
  channel: string;
  /** Share in the thread of the message stored under this key. */
  threadKey?: MessageKey;
  filename: string;
  title: string;
  /** What a screen reader says instead of the image. */
  altText: string;
  /** The file's bytes, base64. */
  contentBase64: string;
  /** Text of the message that carries the file. */
  initialComment?: string;
}

/**
 * How far a file upload got, kept in its row so a retry never uploads or shares a second copy: once the bytes
 * are with Slack (`fileId`), retries only complete that file; `completing` says a completion was sent whose
 * answer never came, so Slack may already have shared it.
 */
export interface FileUploadProgress {
  fileId: string;
  completing: boolean;
}

export interface EphemeralPayload extends MessageContent {
  channel: string;
  user: string;
}

export interface RespondPayload extends MessageContent {
  responseUrl: string;
  inChannel?: boolean;
  replaceOriginal?: boolean;
}

/** A status change made in Slack that PagerDuty must hear about. */
export interface PagerDutyStatusPayload {
  incidentId: string;
  number: number;
  status: 'acknowledged' | 'resolved';
  /** The Slack user who made the change; their e-mail becomes PagerDuty's `From`. */
  slackUser: string;
  /** Where to tell that user if PagerDuty does not take it. */
  responseUrl?: string;
}

/** A change to a PagerDuty incident made in Slack, beyond its status. */
export type PagerDutyIncidentChange =
  | { kind: 'note'; content: string }
  /** Assign it to the PagerDuty user whose e-mail this Slack user has. */
  | { kind: 'reassign'; slackAssignee: string }
  | { kind: 'priority'; priority: string };

/** The thread line that announced a change; it says whether PagerDuty took it. */
export interface ChangeLine {
  channel: string;
  messageKey: MessageKey;
  text: string;
}

export interface PagerDutyChangePayload {
  incidentId: string;
  number: number;
  change: PagerDutyIncidentChange;
  /** The Slack user who made the change; their e-mail becomes PagerDuty's `From`. */
  slackUser: string;
  line?: ChangeLine;
}

/** PagerDuty's bulk incident update (`PUT /incidents`) takes at most this many incidents per request. */
export const PAGERDUTY_BULK_LIMIT = 250;

/**
 * One status change made in Slack for many incidents at once (a bulk acknowledgement), sent as one
 * `PUT /incidents` of at most 250 instead of one call each.
 */
export interface PagerDutyBulkStatusPayload {
  incidentIds: string[];
  status: 'acknowledged' | 'resolved';
  slackUser: string;
  /** Where to tell that user if PagerDuty does not take it; on one row of a bulk change only. */
  responseUrl?: string;
}

/** An Events API v2 event (trigger/resolve) such as "Service down"; same shape PagerDuty documents. */
export interface PagerDutyEventPayload {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key: string;
  payload?: {
    summary: string;
    source: string;
    severity: 'critical' | 'error' | 'warning' | 'info';
    timestamp?: string;
    component?: string;
    custom_details?: Record<string, unknown>;
  };
}

/**
 * Within a lane the most urgent pending row is sent first, then the oldest. Updates are always `refresh`, so
 * they never overtake the post they change; a thread reply is never more urgent than its pending parent.
 */
export const OUTBOX_PRIORITY = { refresh: 0, normal: 1, urgent: 2 } as const;

export type OutboxItem =
  /** `urgent`: a new alert or an escalation, which must not wait behind anything else queued in the channel. */
  | { kind: 'post'; payload: PostPayload; messageKey?: MessageKey; urgent?: boolean }
  | { kind: 'update'; payload: UpdatePayload | DeferredUpdatePayload }
  | { kind: 'ephemeral'; payload: EphemeralPayload }
  | { kind: 'respond'; payload: RespondPayload }
  | { kind: 'pd_status'; payload: PagerDutyStatusPayload }
  | { kind: 'pd_status_bulk'; payload: PagerDutyBulkStatusPayload }
  | { kind: 'pd_event'; payload: PagerDutyEventPayload }
  | { kind: 'pd_change'; payload: PagerDutyChangePayload }
  | { kind: 'file_upload'; payload: FileUploadPayload };

export interface OutboxRow {
  id: number;
  lane: string;
  kind: OutboxItem['kind'];
  payload: string;
  message_key: string | null;
  /** One of OUTBOX_PRIORITY. */
  priority: number;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
}

/** How a delivery attempt failed; decides whether and when the dispatcher tries again. */
export type DeliveryFailure =
  | { kind: 'rate_limited'; retryAfterMs: number; detail: string }
  | { kind: 'retryable'; detail: string }
  | { kind: 'permanent'; detail: string };

export class DeliveryError extends WaygateError {
  constructor(readonly failure: DeliveryFailure) {
    super(ErrorCode.DeliveryFailed, failure.detail);
    this.name = 'DeliveryError';
  }
}

/** Where a delivered post ended up; stored for later updates and thread replies. */
export interface DeliveredMessage {
  channel: string;
  ts: string;
}
