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
  type FileUploadPayload,
  type FileUploadProgress,
} from './types.js';

/** Tells PagerDuty about a change made in Slack; throws DeliveryError like the Slack sender. */
export type PagerDutyStatusSender = (payload: PagerDutyStatusPayload) => Promise<void>;
export type PagerDutyBulkStatusSender = (payload: PagerDutyBulkStatusPayload) => Promise<void>;
export type PagerDutyEventSender = (payload: PagerDutyEventPayload) => Promise<void>;
export type PagerDutyChangeSender = (payload: PagerDutyChangePayload) => Promise<void>;

/** Where a file upload keeps its progress between attempts: its outbox row. */
export interface UploadProgressStore {
  readonly current: FileUploadProgress | undefined;
  /** Resolves once the progress is written: a completion must be recorded before it is sent. */
  save(progress: FileUploadProgress | undefined): Promise<void>;
}

/**
 * `shared`: this attempt shared the file. `shared_earlier`: Slack no longer knows the file id an earlier
 * attempt sent for completion without hearing back; it completes a file only once, so that attempt shared it.
 */
export type UploadOutcome = 'shared' | 'shared_earlier';

/** The side effects the dispatcher performs. One implementation talks to Slack; tests use the same one. */
export interface MessageSender {
  post(payload: PostPayload, threadTs: string | undefined): Promise<DeliveredMessage>;
  update(payload: UpdatePayload, target: DeliveredMessage): Promise<void>;
  ephemeral(payload: EphemeralPayload): Promise<void>;
  respond(payload: RespondPayload): Promise<void>;
  /** Absent on senders that only count messages (benchmarks): file uploads then fail with that reason. */
  uploadFile?(payload: FileUploadPayload, threadTs: string | undefined, progress: UploadProgressStore): Promise<UploadOutcome>;
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
  /** Hosts an upload URL from files.getUploadURLExternal may point at (files.slack.com; a stand-in's own). */
  allowedUploadHosts?: readonly string[];
  fetchImpl?: typeof fetch;
  responseTimeoutMs?: number;
  uploadTimeoutMs?: number;
}

/** The Slack error code of a platform error (an `ok: false` answer), else undefined. */
function platformCode(err: unknown): string | undefined {
  const e = (err ?? {}) as SlackErrorShape;
  return e.code === ErrorCode.PlatformError ? (e.data?.error ?? 'unknown_error') : undefined;
}

/** Slack answered and did nothing (an `ok: false` or a 429), as opposed to an answer that never came. */
function refusedOutright(err: unknown): boolean {
  const code = ((err ?? {}) as SlackErrorShape).code;
  return code === ErrorCode.PlatformError || code === ErrorCode.RateLimitedError;
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

  /**
   * Slack's upload flow: files.getUploadURLExternal, the bytes POSTed to the URL it gives, then
   * files.completeUploadExternal, which shares the file. The file id is saved once the bytes are with Slack,
   * and a completion is marked before it is sent, so a retry completes the same file instead of uploading a
   * second one; Slack completes a file only once (docs/decisions/013-file-uploads-through-the-outbox.md).
   */
  async uploadFile(payload: FileUploadPayload, threadTs: string | undefined, progress: UploadProgressStore): Promise<UploadOutcome> {
    let fileId = progress.current?.fileId;
    if (fileId === undefined) {
      fileId = await this.uploadBytes(payload);
      await progress.save({ fileId, completing: false });
    }
    const answerLost = progress.current?.completing === true;
    await progress.save({ fileId, completing: true });
    try {
      await this.opts.client.files.completeUploadExternal({
        files: [{ id: fileId, title: payload.title }],
        channel_id: payload.channel,
        ...(threadTs !== undefined ? { thread_ts: threadTs } : {}),
        ...(payload.initialComment ? { initial_comment: payload.initialComment } : {}),
      });
      return 'shared';
    } catch (err) {
      if (platformCode(err) === 'file_not_found') {
        if (answerLost) return 'shared_earlier';
        // Never completed, yet gone: the upload expired (a long outage). The next attempt uploads it afresh.
        await progress.save(undefined);
        throw new DeliveryError({ kind: 'retryable', detail: 'file_not_found: the upload expired before it was shared; uploading it again' });
      }
      if (refusedOutright(err)) await progress.save({ fileId, completing: false });
      throw classifySlackError(err);
    }
  }

  /** Steps 1 and 2 of the upload: returns the id of a file whose bytes Slack holds, not yet shared. */
  private async uploadBytes(payload: FileUploadPayload): Promise<string> {
    const bytes = Buffer.from(payload.contentBase64, 'base64');
    let target: { upload_url?: string; file_id?: string };
    try {
      target = await this.opts.client.files.getUploadURLExternal({ filename: payload.filename, length: bytes.length, alt_text: payload.altText });
    } catch (err) {
      throw classifySlackError(err);
    }
    if (!target.upload_url || !target.file_id) {
      throw new DeliveryError({ kind: 'retryable', detail: 'files.getUploadURLExternal answered without an upload URL' });
    }
    let url: URL;
    try {
      url = new URL(target.upload_url);
    } catch {
      throw new DeliveryError({ kind: 'permanent', detail: 'the upload URL is not a URL' });
    }
    // The URL comes from Slack's answer; the bytes still go nowhere but Slack's own file host.
    if (!(this.opts.allowedUploadHosts ?? []).includes(url.host)) {
      throw new DeliveryError({ kind: 'permanent', detail: `upload URL host ${url.host} is not allowed` });
    }
    let res: Response;
    try {
      // No token: the URL itself authorises the upload, and a bearer token has no business leaving the Web API.
      res = await this.fetchImpl(url, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(bytes),
        signal: AbortSignal.timeout(this.opts.uploadTimeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new DeliveryError({ kind: 'retryable', detail: `upload URL: ${(err as Error).message}` });
    }
    const text = await res.text().catch(() => '');
    if (res.ok) return target.file_id;
    if (res.status === 429) {
      const after = Number(res.headers.get('retry-after') ?? '1');
      const seconds = Math.max(1, Number.isFinite(after) ? after : 1);
      throw new DeliveryError({ kind: 'rate_limited', retryAfterMs: seconds * 1000, detail: `upload URL rate limited, retry after ${seconds}s` });
    }
    const detail = `upload URL answered HTTP ${res.status}${text ? ` ${text.slice(0, 100)}` : ''}`;
    throw new DeliveryError({ kind: res.status >= 500 || res.status === 408 ? 'retryable' : 'permanent', detail });
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
