/**
 * A local stand-in for Slack's Web API, response_url endpoints and Socket Mode. It speaks the real wire
 * protocol (form or JSON bodies, Bearer auth, HTTP 200 for platform errors, 429 + Retry-After; for Socket
 * Mode apps.connections.open, a WebSocket with hello, envelopes and acks) so the real Bolt/WebClient/
 * SocketModeClient stack can be exercised end to end, and it can inject faults to test retry logic.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultQueue } from '../shared/faults.js';
import { LoopbackServer, onBytes } from '../shared/loopback-server.js';
import { sendReply, type Reply } from '../shared/reply.js';
import { waitFor } from '../shared/wait-for.js';
import { Directory, type StandInUser } from './directory.js';
import type { Fault } from './faults.js';
import { MessageStore, type StoredMessage } from './messages.js';
import { ResponseUrls, type ResponsePost } from './response-url.js';
import { SocketMode, type EnvelopeType, type SocketAck } from './socket-mode.js';
import { WebApi, type RecordedCall } from './web-api.js';
import { ViewStore, type OpenedView } from './views.js';
import { FileStore, type SharedFile } from './files.js';

/** Something the bot did on the stand-in: a Web API call (with its answer) or a post to a response_url. */
export type SlackActivity = { kind: 'api'; call: RecordedCall } | { kind: 'response'; post: ResponsePost };

export class SlackStandIn {
  private readonly loopback: LoopbackServer;
  private readonly faults = new FaultQueue<string, Fault>();
  private readonly messageStore: MessageStore;
  private readonly directory: Directory;
  private readonly viewStore = new ViewStore();
  private readonly fileStore: FileStore;
  private readonly webApi: WebApi;
  private readonly responseUrls: ResponseUrls;
  private readonly socketMode: SocketMode;
  private readonly observers = new Set<(activity: SlackActivity) => void>();

  private constructor(
    private readonly server: http.Server,
    opts: { token: string | undefined; botUserId: string; appToken: string | undefined; appId: string },
  ) {
    this.loopback = new LoopbackServer(server);
    this.messageStore = new MessageStore(opts.botUserId);
    this.directory = new Directory(opts.botUserId);
    this.socketMode = new SocketMode({
      appToken: opts.appToken,
      appId: opts.appId,
      origin: () => `ws://127.0.0.1:${this.port}`,
    });
    this.fileStore = new FileStore(this.faults, (fileId) => `http://127.0.0.1:${this.port}/upload/${encodeURIComponent(fileId)}`);
    this.webApi = new WebApi({
      token: opts.token,
      faults: this.faults,
      messages: this.messageStore,
      directory: this.directory,
      views: this.viewStore,
      files: this.fileStore,
      connectionsOpen: (bearer) => this.socketMode.connectionsOpen(bearer),
    });
    this.responseUrls = new ResponseUrls(this.faults);
  }

  /**
   * `token` is the bot token the Web API demands (none: any); `appToken` the app-level token
   * apps.connections.open demands (none: any `xapp-…`); `appId` goes into Socket Mode's hello.
   */
  static async start(
    opts: { token?: string; botUserId?: string; appToken?: string; appId?: string } = {},
  ): Promise<SlackStandIn> {
    const server = http.createServer();
    const standIn = new SlackStandIn(server, {
      token: opts.token,
      botUserId: opts.botUserId ?? 'U0WAYGATE',
      appToken: opts.appToken,
      appId: opts.appId ?? 'A0WAYGATE',
    });
    server.on('request', (req, res) => standIn.onRequest(req, res));
    server.on('upgrade', (req, socket, head) => standIn.socketMode.onUpgrade(req, socket, head));
    await standIn.loopback.listen();
    return standIn;
  }

  /** Hung requests and Socket Mode clients keep sockets open forever, so close() destroys them rather than waiting. */
  async close(): Promise<void> {
    this.socketMode.close();
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
    return this.webApi.calls(method);
  }

  responsePosts(id?: string): ResponsePost[] {
    return this.responseUrls.list(id);
  }

  messages(channel: string): StoredMessage[] {
    return this.messageStore.messages(channel);
  }

  /** Posts a message in a channel as a person (not the bot), e.g. one that imitates the bot's. */
  postAsUser(channel: string, user: string, text: string): StoredMessage {
    return this.messageStore.userMessage(channel, user, text);
  }

  /** Modals the bot opened with views.open, oldest first. */
  views(): OpenedView[] {
    return this.viewStore.list();
  }

  /**
   * Files shared with files.completeUploadExternal, oldest first, with their bytes. Only completed uploads are
   * listed, and a shared file is not added to messages(): Slack shows it as a file message of its own.
   */
  files(): SharedFile[] {
    return this.fileStore.list();
  }

  /** Open Socket Mode connections (a client that reconnects briefly has two). */
  socketConnections(): number {
    return this.socketMode.connections();
  }

  /** Acks received over Socket Mode, oldest first. */
  socketAcks(): SocketAck[] {
    return this.socketMode.receivedAcks();
  }

  /**
   * Sends an envelope to the most recently connected Socket Mode client, as Slack does on a slash
   * command, interaction or event, and resolves with the client's ack for it.
   */
  sendEnvelope(type: EnvelopeType, payload: object, timeoutMs = 5000): Promise<SocketAck> {
    return this.socketMode.sendEnvelope(type, payload, timeoutMs);
  }

  /** Asks connected clients to reconnect, as Slack does before recycling a connection. */
  sendDisconnect(reason = 'refresh_requested'): void {
    this.socketMode.sendDisconnect(reason);
  }

  /** Forgets calls, posts, messages, faults, channel limits and acks; users and user groups stay. */
  reset(): void {
    this.webApi.reset();
    this.responseUrls.reset();
    this.messageStore.clear();
    this.viewStore.clear();
    this.fileStore.clear();
    this.faults.clear();
    this.socketMode.forgetAcks();
  }

  /** `target` is a Web API method name, `response_url` or `upload` (the POST to an upload URL). */
  failNext(target: string, fault: Fault, times = 1): void {
    this.faults.add(target, fault, times);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Limits chat.postMessage to a channel; `now` lets a test measure the window on its own clock. */
  limitChannel(channel: string, perSecond: number, now: () => number = () => Date.now()): void {
    this.webApi.limitChannel(channel, perSecond, now);
  }

  addUser(user: StandInUser): void {
    this.directory.addUser(user);
  }

  addUserGroup(id: string, userIds: string[]): void {
    this.directory.addUserGroup(id, userIds);
  }

  /**
   * Calls `listener` after each Web API call and response_url post has been answered, with what was recorded
   * (a local sandbox shows the bot's messages live). Returns a function that stops the calls.
   */
  observe(listener: (activity: SlackActivity) => void): () => void {
    this.observers.add(listener);
    return () => this.observers.delete(listener);
  }

  private emit(activity: SlackActivity): void {
    for (const listener of this.observers) {
      try {
        listener(activity);
      } catch {
        // An observer's failure is its own; the stand-in still answers the bot.
      }
    }
  }

  /** Polls until fn yields something other than undefined/false; see waitFor in ../shared/wait-for.ts. */
  waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
    return waitFor(fn, timeoutMs);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    onBytes(req, (bytes) => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      if (path.startsWith('/upload/')) {
        // Uploads carry binary bytes (raw or multipart) and are read as such, not as text.
        this.fileStore
          .upload(decodeURIComponent(path.slice('/upload/'.length)), req.headers['content-type'] ?? '', bytes)
          .then(
            (reply) => sendReply(res, reply),
            (e: unknown) => sendReply(res, { status: 500, body: `stand-in error: ${e instanceof Error ? e.message : String(e)}` }),
          );
        return;
      }
      const raw = bytes.toString('utf8');
      let reply: Reply;
      try {
        if (path.startsWith('/api/')) {
          reply = this.webApi.handle(path.slice('/api/'.length), req, raw);
          const call = this.observers.size > 0 ? this.webApi.lastCall() : undefined;
          if (call) this.emit({ kind: 'api', call });
        } else if (path.startsWith('/response/')) {
          reply = this.responseUrls.handle(decodeURIComponent(path.slice('/response/'.length)), raw);
          const post = this.observers.size > 0 ? this.responseUrls.last() : undefined;
          if (post) this.emit({ kind: 'response', post });
        } else reply = { status: 404, body: 'not_found' };
      } catch (e) {
        reply = { status: 500, body: `stand-in error: ${e instanceof Error ? e.message : String(e)}` };
      }
      sendReply(res, reply);
    });
  }
}
