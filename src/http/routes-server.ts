import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CustomRoute } from '@slack/bolt';

const MB = 1024 * 1024;

/**
 * How much the server lets strangers make it hold. A body cannot be authenticated (Slack's signature,
 * PagerDuty's HMAC) before it has arrived in full, so every byte of a body being received is a stranger's.
 */
export interface ServerLimits {
  /** Largest body of any request; Slack's and PagerDuty's payloads are a few KB, Slack's biggest some 100 KB. */
  bodyBytes: number;
  /** Body bytes being received at once over all connections; past it a request is turned away with 503. */
  inflightBodyBytes: number;
  /** Open connections at once; past it Node closes new ones as they arrive. */
  connections: number;
  /** Time to send the request headers (slow-loris). */
  headersTimeoutMs: number;
  /** Time to send the whole request, body included; Slack and PagerDuty send theirs in well under a second. */
  requestTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  bodyBytes: MB,
  inflightBodyBytes: 4 * MB,
  connections: 128,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
};

/** The bytes a request will send: its Content-Length, or the largest allowed body when it is chunked. */
function declaredBodyBytes(req: IncomingMessage, limit: number): number {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length);
  return req.headers['transfer-encoding'] !== undefined ? limit : 0;
}

/** Answers before the body is read, and drops the connection: what the client sends next is not read. */
function refuse(res: ServerResponse, status: number, error: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close', ...headers });
  // Node would otherwise read the rest of the body to discard it, at the sender's pace: stop reading now,
  // and close once the answer is out.
  const socket = res.socket;
  socket?.pause();
  res.end(JSON.stringify({ error }), () => socket?.destroy());
}

/**
 * The bot's HTTP server: our routes (webhook, health, metrics) are answered directly, everything else goes
 * to `fallback` (Bolt's HTTP receiver, which serves POST /slack/events). Our own server because Bolt's
 * receivers match custom routes by compiling each pattern on every request, and Bolt's Socket Mode
 * receiver starts its server without waiting, so a busy port would surface as an uncaught exception.
 * It also bounds what unauthenticated clients can make it hold (ServerLimits).
 */
export class RoutesServer {
  private server: Server | undefined;
  private readonly byKey = new Map<string, CustomRoute>();
  private active = 0;
  private readonly idleListeners: Array<() => void> = [];

  /** Calls `listener` whenever the last request in flight has been answered (work waiting for a quiet moment). */
  onIdle(listener: () => void): void {
    this.idleListeners.push(listener);
  }

  /** True while any request is being answered. */
  busy(): boolean {
    return this.active > 0;
  }

  /** Body bytes reserved by requests whose body is still arriving or being handled. */
  private reserved = 0;

  constructor(
    routes: readonly CustomRoute[],
    private readonly fallback?: (req: IncomingMessage, res: ServerResponse) => void,
    private readonly limits: ServerLimits = DEFAULT_SERVER_LIMITS,
  ) {
    this.add(routes);
  }

  /** Adds routes before listen(); modules bring their own. */
  add(routes: readonly CustomRoute[]): void {
    for (const route of routes) {
      for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
        const key = `${method.toUpperCase()} ${route.path}`;
        if (this.byKey.has(key)) throw new Error(`route ${key} registered twice`);
        this.byKey.set(key, route);
      }
    }
  }

  async listen(port: number): Promise<number> {
    const { limits } = this;
    // Node checks the two timeouts on this interval; its default (30 s) would let a slow client run long past them.
    const server = createServer({ connectionsCheckingInterval: 1_000, headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs }, (req, res) => {
      this.active++;
      // Counted from the headers, before a byte of the body is read: the body is admitted whole or not at all.
      const declared = declaredBodyBytes(req, limits.bodyBytes);
      const admitted = declared <= limits.bodyBytes && this.reserved + declared <= limits.inflightBodyBytes;
      if (admitted) this.reserved += declared;
      res.once('close', () => {
        if (admitted) this.reserved -= declared;
        this.active--;
        if (this.active === 0) for (const listener of this.idleListeners) listener();
      });
      if (!Number.isSafeInteger(declared) || declared < 0) return refuse(res, 400, 'bad content-length');
      if (declared > limits.bodyBytes) return refuse(res, 413, 'body too large');
      if (!admitted) return refuse(res, 503, 'busy: too many requests arriving at once; try again', { 'retry-after': '1' });
      const path = (req.url ?? '/').split('?')[0];
      const route = this.byKey.get(`${(req.method ?? 'GET').toUpperCase()} ${path}`);
      if (route) return route.handler(Object.assign(req, { params: {} }), res);
      if (this.fallback) return this.fallback(req, res);
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    });
    server.maxConnections = limits.connections;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
