/**
 * A local stand-in for Slack's Web API, response_url endpoints and Socket Mode. It speaks the real wire
 * protocol (form or JSON bodies, Bearer auth, HTTP 200 for platform errors, 429 + Retry-After; for Socket
 * Mode apps.connections.open, a WebSocket with hello, envelopes and acks) so the real Bolt/WebClient/
 * SocketModeClient stack can be exercised end to end, and it can inject faults to test retry logic.
 */
import { createHash, randomUUID } from 'node:crypto';
import { LoopbackServer, onBody } from '../shared/loopback-server.js';
import { waitFor } from '../shared/wait-for.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import { parseJsonField, validateMessage } from './block-kit.js';

export type Fault =
  | { kind: 'rate_limited'; retryAfterSeconds: number }
  | { kind: 'http_error'; status: number }
  | { kind: 'hang' }
  | { kind: 'platform_error'; error: string };

export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  at: number;
  status: number | 'hung';
  response?: unknown;
}

export interface ResponsePost {
  id: string;
  body: Record<string, unknown>;
  status: number | 'hung';
  at: number;
}

export interface StoredMessage {
  ts: string;
  text: string;
  blocks: unknown;
  thread_ts?: string;
  updates: number;
}

export type EnvelopeType = 'slash_commands' | 'interactive' | 'events_api';

/** What a Socket Mode client sent back for one envelope: `{ envelope_id, payload }` on the socket. */
export interface SocketAck {
  envelope_id: string;
  /** The type of the envelope this acks, when the stand-in sent it. */
  type?: EnvelopeType;
  /** The ack's response body; the Node SDK always sends one, `{}` when ack() had no argument. */
  payload?: Record<string, unknown>;
  at: number;
}

export interface StandInUser {
  id: string;
  name?: string;
  email?: string;
  tz?: string;
}

type Params = Record<string, unknown>;
type ApiResult = Record<string, unknown>;

interface Reply {
  status: number | 'hung';
  headers?: Record<string, string>;
  body?: unknown;
}

/** Form bodies carry these as JSON strings; records hold them parsed so tests can inspect them. */
const JSON_FIELDS = ['blocks', 'attachments', 'metadata'];
/** Slack accepts at most this many posts to one response_url. */
const RESPONSE_URL_USES = 5;
const SOCKET_MODE_PATH = '/socket-mode';

interface PendingAck {
  client: WebSocket;
  resolve: (ack: SocketAck) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class SlackStandIn {
  private readonly loopback: LoopbackServer;
  private recorded: RecordedCall[] = [];
  private posts: ResponsePost[] = [];
  private channels = new Map<string, StoredMessage[]>();
  private faults = new Map<string, { fault: Fault; remaining: number }[]>();
  private limits = new Map<string, { perSecond: number; sent: number[]; now: () => number }>();
  private readonly users = new Map<string, StandInUser>();
  private readonly groups = new Map<string, string[]>();
  private readonly responseUses = new Map<string, number>();
  // Counter-based ts keeps runs deterministic while staying unique and increasing, like Slack's.
  private tsCounter = 0;
  // Socket Mode: one-shot tickets from apps.connections.open, open clients oldest first, acks by envelope.
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly tickets = new Set<string>();
  private wsClients: WebSocket[] = [];
  private acks: SocketAck[] = [];
  private readonly envelopeTypes = new Map<string, EnvelopeType>();
  private readonly pendingAcks = new Map<string, PendingAck>();

  private readonly methods: Record<string, (p: Params) => ApiResult> = {
    'auth.test': () => this.authTest(),
    'chat.postMessage': (p) => this.postMessage(p),
    'chat.update': (p) => this.update(p),
    'chat.postEphemeral': (p) => this.postEphemeral(p),
    'users.info': (p) => this.usersInfo(p),
    'conversations.open': (p) => this.conversationsOpen(p),
    'usergroups.users.list': (p) => this.usergroupUsers(p),
  };

  private constructor(
    private readonly server: http.Server,
    private readonly token: string | undefined,
    private readonly botUserId: string,
    private readonly appToken: string | undefined,
    private readonly appId: string,
  ) {
    this.loopback = new LoopbackServer(server);
  }

  /**
   * `token` is the bot token the Web API demands (none: any); `appToken` the app-level token
   * apps.connections.open demands (none: any `xapp-…`); `appId` goes into Socket Mode's hello.
   */
  static async start(
    opts: { token?: string; botUserId?: string; appToken?: string; appId?: string } = {},
  ): Promise<SlackStandIn> {
    const server = http.createServer();
    const standIn = new SlackStandIn(server, opts.token, opts.botUserId ?? 'U0WAYGATE', opts.appToken, opts.appId ?? 'A0WAYGATE');
    server.on('request', (req, res) => standIn.onRequest(req, res));
    server.on('upgrade', (req, socket, head) => standIn.onUpgrade(req, socket, head));
    await standIn.loopback.listen();
    return standIn;
  }

  /** Hung requests and Socket Mode clients keep sockets open forever, so close() destroys them rather than waiting. */
  async close(): Promise<void> {
    this.failPendingAcks(() => true, 'the stand-in closed');
    for (const ws of this.wsClients) ws.terminate();
    this.wsClients = [];
    this.wss.close();
    await this.loopback.close();
  }

  private get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api/`;
  }

  responseUrl(id: string = randomUUID()): string {
    return `http://127.0.0.1:${this.port}/response/${encodeURIComponent(id)}`;
  }

  calls(method?: string): RecordedCall[] {
    return method === undefined ? [...this.recorded] : this.recorded.filter((c) => c.method === method);
  }

  responsePosts(id?: string): ResponsePost[] {
    return id === undefined ? [...this.posts] : this.posts.filter((p) => p.id === id);
  }

  messages(channel: string): StoredMessage[] {
    return (this.channels.get(channel) ?? []).map((m) => ({ ...m }));
  }

  /** Open Socket Mode connections (a client that reconnects briefly has two). */
  socketConnections(): number {
    return this.wsClients.filter((ws) => ws.readyState === WebSocket.OPEN).length;
  }

  /** Acks received over Socket Mode, oldest first. */
  socketAcks(): SocketAck[] {
    return this.acks.map((a) => ({ ...a }));
  }

  /**
   * Sends an envelope to the most recently connected Socket Mode client, as Slack does on a slash
   * command, interaction or event, and resolves with the client's ack for it.
   */
  async sendEnvelope(type: EnvelopeType, payload: object, timeoutMs = 5000): Promise<SocketAck> {
    const client = this.wsClients.filter((ws) => ws.readyState === WebSocket.OPEN).at(-1);
    if (!client) throw new Error(`cannot send a ${type} envelope: no Socket Mode client is connected`);
    const envelopeId = randomUUID();
    this.envelopeTypes.set(envelopeId, type);
    const acked = new Promise<SocketAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingAcks.delete(envelopeId);
        reject(new Error(`no ack for ${type} envelope ${envelopeId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingAcks.set(envelopeId, { client, resolve, reject, timer });
    });
    client.send(
      JSON.stringify({
        envelope_id: envelopeId,
        type,
        payload,
        // Slack lets only interactive payloads answer in the ack; events are acked empty.
        accepts_response_payload: type !== 'events_api',
        retry_attempt: 0,
        retry_reason: '',
      }),
    );
    return acked;
  }

  /** Asks connected clients to reconnect, as Slack does before recycling a connection. */
  sendDisconnect(reason = 'refresh_requested'): void {
    const message = JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'standin-socket-mode' } });
    for (const ws of this.wsClients) if (ws.readyState === WebSocket.OPEN) ws.send(message);
  }

  reset(): void {
    this.recorded = [];
    this.posts = [];
    this.channels.clear();
    this.faults.clear();
    this.limits.clear();
    this.responseUses.clear();
    this.acks = [];
  }

  failNext(target: string, fault: Fault, times = 1): void {
    const queue = this.faults.get(target) ?? [];
    queue.push({ fault, remaining: times });
    this.faults.set(target, queue);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Limits chat.postMessage to a channel; `now` lets a test measure the window on its own clock. */
  limitChannel(channel: string, perSecond: number, now: () => number = () => Date.now()): void {
    this.limits.set(channel, { perSecond, sent: [], now });
  }

  addUser(user: StandInUser): void {
    this.users.set(user.id, { ...user });
  }

  addUserGroup(id: string, userIds: string[]): void {
    this.groups.set(id, [...userIds]);
  }

  /** Polls until fn yields something other than undefined/false; see waitFor in ../shared/wait-for.ts. */
  waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
    return waitFor(fn, timeoutMs);
  }

  // ---- HTTP plumbing ----

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    onBody(req, (raw) => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      let reply: Reply;
      try {
        if (path.startsWith('/api/')) reply = this.handleApi(path.slice('/api/'.length), req, raw);
        else if (path.startsWith('/response/')) reply = this.handleResponseUrl(decodeURIComponent(path.slice('/response/'.length)), raw);
        else reply = { status: 404, body: 'not_found' };
      } catch (e) {
        reply = { status: 500, body: `stand-in error: ${e instanceof Error ? e.message : String(e)}` };
      }
      this.send(res, reply);
    });
  }

  private send(res: http.ServerResponse, reply: Reply): void {
    if (reply.status === 'hung') return;
    const isText = typeof reply.body === 'string';
    res.writeHead(reply.status, {
      'Content-Type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      ...reply.headers,
    });
    res.end(isText ? reply.body : JSON.stringify(reply.body));
  }

  private takeFault(target: string): Fault | undefined {
    const queue = this.faults.get(target);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    if (--head.remaining <= 0) queue.shift();
    return head.fault;
  }

  private faultReply(fault: Fault): Reply {
    switch (fault.kind) {
      case 'rate_limited':
        return {
          status: 429,
          headers: { 'Retry-After': String(fault.retryAfterSeconds) },
          body: { ok: false, error: 'ratelimited' },
        };
      case 'http_error':
        return { status: fault.status, body: `stand-in http_error ${fault.status}` };
      case 'hang':
        return { status: 'hung' };
      case 'platform_error':
        return { status: 200, body: { ok: false, error: fault.error } };
    }
  }

  // ---- Web API ----

  private handleApi(method: string, req: http.IncomingMessage, raw: string): Reply {
    const parsed = parseParams(req.headers['content-type'] ?? '', raw);
    const call: RecordedCall = { method, params: parsed ?? {}, at: Date.now(), status: 200 };
    this.recorded.push(call);
    const reply = this.apiReply(method, req, parsed);
    call.status = reply.status;
    if (reply.body !== undefined) call.response = reply.body;
    return reply;
  }

  private apiReply(method: string, req: http.IncomingMessage, params: Params | undefined): Reply {
    const fault = this.takeFault(method);
    if (fault) return this.faultReply(fault);
    if (!params) return { status: 200, body: { ok: false, error: 'invalid_json' } };
    // The one method that takes the app-level token rather than the bot token.
    if (method === 'apps.connections.open') return { status: 200, body: this.connectionsOpen(bearerOf(req, params)) };
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
    if (this.token === undefined) return undefined;
    const bearer = bearerOf(req, params);
    if (bearer === undefined) return 'not_authed';
    if (typeof bearer === 'string' && bearer.startsWith('xapp-')) return 'not_allowed_token_type';
    return bearer === this.token ? undefined : 'invalid_auth';
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

  private nextTs(): string {
    this.tsCounter += 1;
    const micros = 1_700_000_000_000_000 + this.tsCounter * 100;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }

  private authTest(): ApiResult {
    return {
      ok: true,
      url: 'https://standin.slack.com/',
      team: 'Stand-in',
      user: 'waygate',
      team_id: 'T0STANDIN',
      user_id: this.botUserId,
      bot_id: 'B0WAYGATE',
    };
  }

  private postMessage(p: Params): ApiResult {
    const channel = nonEmpty(p.channel);
    if (!channel) return { ok: false, error: 'channel_not_found' };
    const invalid = messageError(p);
    if (invalid) return invalid;
    const threadTs = nonEmpty(p.thread_ts);
    const msg: StoredMessage = { ts: this.nextTs(), text: stringOr(p.text, ''), blocks: p.blocks, updates: 0 };
    if (threadTs) msg.thread_ts = threadTs;
    const list = this.channels.get(channel) ?? [];
    list.push(msg);
    this.channels.set(channel, list);
    return { ok: true, channel, ts: msg.ts, message: this.messageView(msg) };
  }

  private update(p: Params): ApiResult {
    const channel = nonEmpty(p.channel);
    if (!channel) return { ok: false, error: 'channel_not_found' };
    const msg = this.channels.get(channel)?.find((m) => m.ts === p.ts);
    if (!msg) return { ok: false, error: 'message_not_found' };
    const invalid = messageError(p);
    if (invalid) return invalid;
    // Like Slack, fields left out of chat.update keep their previous value.
    if (p.text !== undefined) msg.text = stringOr(p.text, '');
    if (p.blocks !== undefined) msg.blocks = p.blocks;
    msg.updates += 1;
    return { ok: true, channel, ts: msg.ts, text: msg.text, message: this.messageView(msg) };
  }

  private postEphemeral(p: Params): ApiResult {
    if (!nonEmpty(p.channel)) return { ok: false, error: 'channel_not_found' };
    if (!nonEmpty(p.user)) return { ok: false, error: 'user_not_found' };
    return messageError(p) ?? { ok: true, message_ts: this.nextTs() };
  }

  private usersInfo(p: Params): ApiResult {
    const user = typeof p.user === 'string' ? this.users.get(p.user) : undefined;
    if (!user) return { ok: false, error: 'user_not_found' };
    const name = user.name ?? user.id.toLowerCase();
    const profile: Record<string, unknown> = { real_name: name, display_name: name };
    // Without users:read.email Slack omits email entirely, so only include it when configured.
    if (user.email !== undefined) profile.email = user.email;
    return { ok: true, user: { id: user.id, name, real_name: name, tz: user.tz ?? 'UTC', profile } };
  }

  private conversationsOpen(p: Params): ApiResult {
    const users = stringOr(p.users, '')
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean)
      .sort();
    if (users.length === 0) return { ok: false, error: 'users_list_not_supplied' };
    // Hash-derived so the same user set maps to the same DM across resets and stand-in instances.
    const id = 'D' + createHash('sha256').update(users.join(',')).digest('hex').slice(0, 10).toUpperCase();
    return { ok: true, channel: { id } };
  }

  private usergroupUsers(p: Params): ApiResult {
    const users = typeof p.usergroup === 'string' ? this.groups.get(p.usergroup) : undefined;
    return users ? { ok: true, users: [...users] } : { ok: false, error: 'no_such_subteam' };
  }

  private messageView(m: StoredMessage): ApiResult {
    return {
      type: 'message',
      text: m.text,
      blocks: m.blocks,
      ts: m.ts,
      user: this.botUserId,
      bot_id: 'B0WAYGATE',
      ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}),
    };
  }

  // ---- Socket Mode ----

  private connectionsOpen(bearer: unknown): ApiResult {
    if (typeof bearer !== 'string' || bearer === '') return { ok: false, error: 'not_authed' };
    if (!bearer.startsWith('xapp-')) {
      return { ok: false, error: bearer.startsWith('xox') ? 'not_allowed_token_type' : 'invalid_auth' };
    }
    if (this.appToken !== undefined && bearer !== this.appToken) return { ok: false, error: 'invalid_auth' };
    const ticket = randomUUID();
    this.tickets.add(ticket);
    return { ok: true, url: `ws://127.0.0.1:${this.port}${SOCKET_MODE_PATH}?ticket=${ticket}&app_id=${this.appId}` };
  }

  /** Accepts a WebSocket upgrade only on the Socket Mode path with an unused ticket from apps.connections.open. */
  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const ticket = url.searchParams.get('ticket') ?? '';
    if (url.pathname !== SOCKET_MODE_PATH || !this.tickets.delete(ticket)) {
      const status = url.pathname === SOCKET_MODE_PATH ? '401 Unauthorized' : '404 Not Found';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws));
  }

  private onSocket(ws: WebSocket): void {
    this.wsClients.push(ws);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.onSocketMessage(rawText(data));
    });
    ws.on('close', () => {
      this.wsClients = this.wsClients.filter((c) => c !== ws);
      this.failPendingAcks((p) => p.client === ws, 'the Socket Mode connection closed');
    });
    // ws answers the client's pings with pongs by itself; Slack's own pings are optional for the client.
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.socketConnections(),
        debug_info: { host: 'standin-socket-mode', build_number: 1, approximate_connection_time: 18060 },
        connection_info: { app_id: this.appId },
      }),
    );
  }

  private onSocketMessage(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return; // Slack ignores what it cannot parse; so does the stand-in.
    }
    if (typeof message !== 'object' || message === null) return;
    const { envelope_id: envelopeId, payload } = message as { envelope_id?: unknown; payload?: unknown };
    if (typeof envelopeId !== 'string') return;
    const ack: SocketAck = { envelope_id: envelopeId, at: Date.now() };
    const type = this.envelopeTypes.get(envelopeId);
    if (type) ack.type = type;
    if (typeof payload === 'object' && payload !== null) ack.payload = payload as Record<string, unknown>;
    this.acks.push(ack);
    const pending = this.pendingAcks.get(envelopeId);
    if (!pending) return;
    this.pendingAcks.delete(envelopeId);
    clearTimeout(pending.timer);
    pending.resolve({ ...ack });
  }

  private failPendingAcks(which: (p: PendingAck) => boolean, why: string): void {
    for (const [id, pending] of this.pendingAcks) {
      if (!which(pending)) continue;
      this.pendingAcks.delete(id);
      clearTimeout(pending.timer);
      pending.reject(new Error(`no ack for ${this.envelopeTypes.get(id) ?? 'an'} envelope ${id}: ${why}`));
    }
  }

  // ---- response_url ----

  private handleResponseUrl(id: string, raw: string): Reply {
    let body: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(raw) as unknown;
      if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
    } catch {
      // An unparsable body is recorded as empty and then refused as no_text below.
    }
    const post: ResponsePost = { id, body, status: 200, at: Date.now() };
    this.posts.push(post);
    const reply = this.responseReply(id, body);
    post.status = reply.status;
    return reply;
  }

  private responseReply(id: string, body: Record<string, unknown>): Reply {
    const fault = this.takeFault('response_url');
    if (fault) return this.faultReply(fault);
    const uses = this.responseUses.get(id) ?? 0;
    if (uses >= RESPONSE_URL_USES) return { status: 404, body: 'used_url' };
    if (body.delete_original !== true) {
      const problems = validateMessage(body);
      const onlyNoText = problems.length === 1 && problems[0] === 'no_text';
      if (problems.length > 0) return { status: 400, body: onlyNoText ? 'no_text' : 'invalid_blocks' };
    }
    this.responseUses.set(id, uses + 1);
    return { status: 200, body: 'ok' };
  }
}

/** The token a Web API call carries: the Authorization bearer, else the `token` parameter. */
function bearerOf(req: http.IncomingMessage, params: Params): unknown {
  const header = req.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : params.token;
}

function rawText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return (data instanceof ArrayBuffer ? Buffer.from(data) : data).toString('utf8');
}

function parseParams(contentType: string, raw: string): Params | undefined {
  let params: Params;
  if (contentType.includes('application/json')) {
    try {
      const parsed = JSON.parse(raw || '{}') as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
      params = parsed as Params;
    } catch {
      return undefined;
    }
  } else {
    params = Object.fromEntries(new URLSearchParams(raw));
  }
  for (const field of JSON_FIELDS) {
    if (field in params) params[field] = parseJsonField(params[field]);
  }
  return params;
}

/** Maps validator problems onto the error codes Slack's Web API returns. */
function messageError(p: Params): ApiResult | undefined {
  const problems = validateMessage(p);
  if (problems.length === 0) return undefined;
  if (problems.length === 1 && problems[0] === 'no_text') return { ok: false, error: 'no_text' };
  const errors = problems.filter((x) => x !== 'no_text');
  return { ok: false, error: 'invalid_blocks', errors, response_metadata: { messages: errors } };
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function stringOr(v: unknown, fallback: string): string {
  return typeof v === 'string' ? v : fallback;
}
