import { ErrorCode, type WebClient } from '@slack/web-api';
import {
  DeliveryError,
  type DeliveredMessage,
  type EphemeralPayload,
  type PostPayload,
  type RespondPayload,
  type UpdatePayload,
  type PagerDutyStatusPayload,
  type PagerDutyBulkStatusPayload,
  type PagerDutyEventPayload,
  type PagerDutyChangePayload,
} from './types.js';

/** Tells PagerDuty about a change made in Slack; throws DeliveryError like the Slack sender. */
export type PagerDutyStatusSender = (payload: PagerDutyStatusPayload) => Promise<void>;
export type PagerDutyBulkStatusSender = (payload: PagerDutyBulkStatusPayload) => Promise<void>;
export type PagerDutyEventSender = (payload: PagerDutyEventPayload) => Promise<void>;
export type PagerDutyChangeSender = (payload: PagerDutyChangePayload) => Promise<void>;

/** The side effects the dispatcher performs. One implementation talks to Slack; tests use the same one. */
export interface MessageSender {
  post(payload: PostPayload, threadTs: string | undefined): Promise<DeliveredMessage>;
  update(payload: UpdatePayload, target: DeliveredMessage): Promise<void>;
  ephemeral(payload: EphemeralPayload): Promise<void>;
  respond(payload: RespondPayload): Promise<void>;
}

/** Platform errors that are Slack's own trouble, worth another try; every other ok:false is final. */
const RETRYABLE_PLATFORM_ERRORS = new Set([
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'ratelimited',
  'team_added_to_org',
]);

interface SlackErrorShape {
  code?: string;
  retryAfter?: number;
  statusCode?: number;
  data?: { error?: string; response_metadata?: { messages?: string[] } };
  message?: string;
}

/** Maps a WebClient error onto what the outbox should do next. */
export function classifySlackError(err: unknown): DeliveryError {
  const e = (err ?? {}) as SlackErrorShape;
  switch (e.code) {
    case ErrorCode.RateLimitedError:
      return new DeliveryError({
        kind: 'rate_limited',
        retryAfterMs: Math.max(1, e.retryAfter ?? 1) * 1000,
        detail: `rate limited, retry after ${e.retryAfter ?? 1}s`,
      });
    case ErrorCode.PlatformError: {
      const code = e.data?.error ?? 'unknown_error';
      const extra = e.data?.response_metadata?.messages?.join('; ');
      const detail = extra ? `${code}: ${extra}` : code;
      return new DeliveryError({ kind: RETRYABLE_PLATFORM_ERRORS.has(code) ? 'retryable' : 'permanent', detail });
    }
    case ErrorCode.HTTPError: {
      const status = e.statusCode ?? 0;
      const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429;
      return new DeliveryError({ kind: permanent ? 'permanent' : 'retryable', detail: `HTTP ${status}` });
    }
    default:
      return new DeliveryError({ kind: 'retryable', detail: e.message ?? String(err) });
  }
}

export interface SlackSenderOptions {
  client: WebClient;
  /** Hosts a response_url may point at; Slack's own plus whatever the Web API base uses (a stand-in). */
  allowedResponseHosts: readonly string[];
  fetchImpl?: typeof fetch;
  responseTimeoutMs?: number;
}

/**
 * Sends through the WebClient, which is configured with retries off and rate-limited calls rejected:
 * the outbox owns retries and pacing (docs/decisions/001-outbox-owns-retries.md).
 */
export class SlackSender implements MessageSender {
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly opts: SlackSenderOptions) {
    this.fetchImpl = opts.fetchImpl ?? fetch;
  }

  async post(payload: PostPayload, threadTs: string | undefined): Promise<DeliveredMessage> {
    try {
      const base = { channel: payload.channel, text: payload.text, ...(payload.blocks ? { blocks: payload.blocks } : {}), unfurl_links: false };
      // A broadcast reply is also shown in the channel, which is what makes Slack notify anyone.
      const res = await this.opts.client.chat.postMessage(
        threadTs === undefined ? base : payload.broadcast ? { ...base, thread_ts: threadTs, reply_broadcast: true } : { ...base, thread_ts: threadTs },
      );
      return { channel: res.channel ?? payload.channel, ts: res.ts ?? '' };
    } catch (err) {
      throw classifySlackError(err);
    }
  }

  async update(payload: UpdatePayload, target: DeliveredMessage): Promise<void> {
    try {
      await this.opts.client.chat.update({
        channel: target.channel,
        ts: target.ts,
        text: payload.text,
        ...(payload.blocks ? { blocks: payload.blocks } : {}),
      });
    } catch (err) {
      throw classifySlackError(err);
    }
  }

  async ephemeral(payload: EphemeralPayload): Promise<void> {
    try {
      await this.opts.client.chat.postEphemeral({
        channel: payload.channel,
        user: payload.user,
        text: payload.text,
        ...(payload.blocks ? { blocks: payload.blocks } : {}),
      });
    } catch (err) {
      throw classifySlackError(err);
    }
  }

  async respond(payload: RespondPayload): Promise<void> {
    let url: URL;
    try {
      url = new URL(payload.responseUrl);
    } catch {
      throw new DeliveryError({ kind: 'permanent', detail: 'response_url is not a URL' });
    }
    // response_url comes from a signed Slack payload, but never let it aim the bot at arbitrary hosts.
    if (!this.opts.allowedResponseHosts.includes(url.host)) {
      throw new DeliveryError({ kind: 'permanent', detail: `response_url host ${url.host} is not allowed` });
    }
    const body = {
      text: payload.text,
      ...(payload.blocks ? { blocks: payload.blocks } : {}),
      response_type: payload.inChannel ? 'in_channel' : 'ephemeral',
      ...(payload.replaceOriginal ? { replace_original: true } : {}),
    };
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.responseTimeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new DeliveryError({ kind: 'retryable', detail: `response_url: ${(err as Error).message}` });
    }
    const text = await res.text().catch(() => '');
    if (res.ok) return;
    if (res.status === 429) {
      const after = Number(res.headers.get('retry-after') ?? '1');
      throw new DeliveryError({
        kind: 'rate_limited',
        retryAfterMs: Math.max(1, Number.isFinite(after) ? after : 1) * 1000,
        detail: 'response_url rate limited',
      });
    }
    const detail = `response_url answered HTTP ${res.status}${text ? ` ${text.slice(0, 100)}` : ''}`;
    throw new DeliveryError({ kind: res.status >= 500 ? 'retryable' : 'permanent', detail });
  }
}
