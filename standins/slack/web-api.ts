import type http from 'node:http';
import type { FaultQueue } from '../shared/faults.js';
import type { Reply } from '../shared/reply.js';
import type { Directory } from './directory.js';
import { faultReply, type Fault } from './faults.js';
import type { MessageStore } from './messages.js';
import type { ViewStore } from './views.js';
import type { FileStore } from './files.js';
import { bearerOf, parseParams, type ApiResult, type Params } from './params.js';

export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  at: number;
  status: number | 'hung';
  response?: unknown;
}

export interface WebApiOptions {
  /** The bot token every method but apps.connections.open demands; none: any. */
  token: string | undefined;
  faults: FaultQueue<string, Fault>;
  messages: MessageStore;
  directory: Directory;
  views: ViewStore;
  files: FileStore;
  /** apps.connections.open, answered by Socket Mode with the app-level token. */
  connectionsOpen: (bearer: unknown) => ApiResult;
}

/**
 * The Web API at `/api/<method>`: form or JSON arguments, Bearer auth, HTTP 200 for platform errors,
 * 429 + Retry-After for rate limits. Records every call with its answer.
 */
export class WebApi {
  private recorded: RecordedCall[] = [];
  private readonly limits = new Map<string, { perSecond: number; sent: number[]; now: () => number }>();
  private readonly methods: Record<string, (p: Params) => ApiResult>;

  constructor(private readonly opts: WebApiOptions) {
    const { messages, directory, views, files } = opts;
    this.methods = {
      'auth.test': () => directory.authTest(),
      'chat.postMessage': (p) => messages.postMessage(p),
      'chat.update': (p) => messages.update(p),
      'chat.postEphemeral': (p) => messages.postEphemeral(p),
      'conversations.history': (p) => messages.history(p),
      'users.info': (p) => directory.usersInfo(p),
      'users.lookupByEmail': (p) => directory.lookupByEmail(p),
      'conversations.open': (p) => directory.conversationsOpen(p),
      'usergroups.users.list': (p) => directory.usergroupUsers(p),
      'views.open': (p) => views.open(p),
      'files.getUploadURLExternal': (p) => files.getUploadUrl(p),
      'files.completeUploadExternal': (p) => files.complete(p),
    };
  }

  calls(method?: string): RecordedCall[] {
    return method === undefined ? [...this.recorded] : this.recorded.filter((c) => c.method === method);
  }

  /** The call answered last, if any. */
  lastCall(): RecordedCall | undefined {
    return this.recorded.at(-1);
  }

  /** Limits chat.postMessage to a channel; `now` lets a test measure the window on its own clock. */
  limitChannel(channel: string, perSecond: number, now: () => number): void {
    this.limits.set(channel, { perSecond, sent: [], now });
  }

  /** Forgets recorded calls and channel limits. */
  reset(): void {
    this.recorded = [];
    this.limits.clear();
  }

  handle(method: string, req: http.IncomingMessage, raw: string): Reply {
    const parsed = parseParams(req.headers['content-type'] ?? '', raw);
    const call: RecordedCall = { method, params: parsed ?? {}, at: Date.now(), status: 200 };
    this.recorded.push(call);
    const reply = this.reply(method, req, parsed);
    call.status = reply.status;
    if (reply.body !== undefined) call.response = reply.body;
    return reply;
  }

  private reply(method: string, req: http.IncomingMessage, params: Params | undefined): Reply {
    const fault = this.opts.faults.take(method);
    if (fault?.kind === 'lost_response') {
      this.reply(method, req, params);
      return faultReply(fault);
    }
    if (fault) return faultReply(fault);
    if (!params) return { status: 200, body: { ok: false, error: 'invalid_json' } };
    // The one method that takes the app-level token rather than the bot token.
    if (method === 'apps.connections.open') return { status: 200, body: this.opts.connectionsOpen(bearerOf(req, params)) };
    const authError = this.checkAuth(req, params);
    if (authError) return { status: 200, body: { ok: false, error: authError } };
    const handler = this.methods[method];
    if (!handler) return { status: 200, body: { ok: false, error: 'unknown_method' } };
    if (method === 'chat.postMessage' && this.overChannelLimit(params.channel)) {
      return { status: 429, headers: { 'Retry-After': '1' }, body: { ok: false, error: 'ratelimited' } };
    }
    return { status: 200, body: handler(params) };
  }

  private checkAuth(req: http.IncomingMessage, params: Params): string | undefined {
    if (this.opts.token === undefined) return undefined;
    const bearer = bearerOf(req, params);
    if (bearer === undefined) return 'not_authed';
    if (typeof bearer === 'string' && bearer.startsWith('xapp-')) return 'not_allowed_token_type';
    return bearer === this.opts.token ? undefined : 'invalid_auth';
  }

  /** Slack allows roughly one message per second per channel; tests opt in with limitChannel. */
  private overChannelLimit(channel: unknown): boolean {
    const limit = typeof channel === 'string' ? this.limits.get(channel) : undefined;
    if (!limit) return false;
    const now = limit.now();
    limit.sent = limit.sent.filter((t) => now - t < 1000);
    if (limit.sent.length >= limit.perSecond) return true;
    limit.sent.push(now);
    return false;
  }
}
