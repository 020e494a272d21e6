import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import type { ApiResult } from './params.js';

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

export interface SocketModeOptions {
  /** The app-level token apps.connections.open demands; none: any `xapp-…`. */
  appToken: string | undefined;
  /** Sent in the hello message, as Slack does. */
  appId: string;
  /** `ws://host:port` of the server the upgrade requests arrive on. */
  origin: () => string;
}

interface PendingAck {
  client: WebSocket;
  resolve: (ack: SocketAck) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const SOCKET_MODE_PATH = '/socket-mode';

/**
 * Socket Mode: apps.connections.open hands out one-shot WebSocket URLs; on connect the client gets hello,
 * then envelopes, and acks each one on the socket. Open clients are kept oldest first.
 */
export class SocketMode {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly tickets = new Set<string>();
  private clients: WebSocket[] = [];
  private acks: SocketAck[] = [];
  private readonly envelopeTypes = new Map<string, EnvelopeType>();
  private readonly pendingAcks = new Map<string, PendingAck>();

  constructor(private readonly opts: SocketModeOptions) {}

  /** Open connections (a client that reconnects briefly has two). */
  connections(): number {
    return this.clients.filter((ws) => ws.readyState === WebSocket.OPEN).length;
  }

  /** Acks received, oldest first. */
  receivedAcks(): SocketAck[] {
    return this.acks.map((a) => ({ ...a }));
  }

  forgetAcks(): void {
    this.acks = [];
  }

  /** Sends an envelope to the most recently connected client and resolves with its ack. */
  async sendEnvelope(type: EnvelopeType, payload: object, timeoutMs: number): Promise<SocketAck> {
    const client = this.clients.filter((ws) => ws.readyState === WebSocket.OPEN).at(-1);
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

  sendDisconnect(reason: string): void {
    const message = JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'standin-socket-mode' } });
    for (const ws of this.clients) if (ws.readyState === WebSocket.OPEN) ws.send(message);
  }

  /** apps.connections.open: checks the app-level token and issues a one-shot connection URL. */
  connectionsOpen(bearer: unknown): ApiResult {
    if (typeof bearer !== 'string' || bearer === '') return { ok: false, error: 'not_authed' };
    if (!bearer.startsWith('xapp-')) {
      return { ok: false, error: bearer.startsWith('xox') ? 'not_allowed_token_type' : 'invalid_auth' };
    }
    if (this.opts.appToken !== undefined && bearer !== this.opts.appToken) return { ok: false, error: 'invalid_auth' };
    const ticket = randomUUID();
    this.tickets.add(ticket);
    return { ok: true, url: `${this.opts.origin()}${SOCKET_MODE_PATH}?ticket=${ticket}&app_id=${this.opts.appId}` };
  }

  /** Accepts a WebSocket upgrade only on the Socket Mode path with an unused ticket from apps.connections.open. */
  onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const ticket = url.searchParams.get('ticket') ?? '';
    if (url.pathname !== SOCKET_MODE_PATH || !this.tickets.delete(ticket)) {
      const status = url.pathname === SOCKET_MODE_PATH ? '401 Unauthorized' : '404 Not Found';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws));
  }

  /** Open clients would keep the server's sockets open forever, so they are terminated, not closed politely. */
  close(): void {
    this.failPendingAcks(() => true, 'the stand-in closed');
    for (const ws of this.clients) ws.terminate();
    this.clients = [];
    this.wss.close();
  }

  private onSocket(ws: WebSocket): void {
    this.clients.push(ws);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.onMessage(rawText(data));
    });
    ws.on('close', () => {
      this.clients = this.clients.filter((c) => c !== ws);
      this.failPendingAcks((p) => p.client === ws, 'the Socket Mode connection closed');
    });
    // ws answers the client's pings with pongs by itself; Slack's own pings are optional for the client.
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.connections(),
        debug_info: { host: 'standin-socket-mode', build_number: 1, approximate_connection_time: 18060 },
        connection_info: { app_id: this.opts.appId },
      }),
    );
  }

  private onMessage(text: string): void {
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
}

function rawText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return (data instanceof ArrayBuffer ? Buffer.from(data) : data).toString('utf8');
}
