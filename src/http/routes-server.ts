import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CustomRoute } from '@slack/bolt';

/**
 * The bot's HTTP server: our routes (webhook, health, metrics) are answered directly, everything else goes
 * to `fallback` (Bolt's HTTP receiver, which serves POST /slack/events). Our own server because Bolt's
 * receivers match custom routes by compiling each pattern on every request, and Bolt's Socket Mode
 * receiver starts its server without waiting, so a busy port would surface as an uncaught exception.
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

  constructor(
    routes: readonly CustomRoute[],
    private readonly fallback?: (req: IncomingMessage, res: ServerResponse) => void,
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
    const server = createServer((req, res) => {
      this.active++;
      res.once('close', () => {
        this.active--;
        if (this.active === 0) for (const listener of this.idleListeners) listener();
      });
      const path = (req.url ?? '/').split('?')[0];
      const route = this.byKey.get(`${(req.method ?? 'GET').toUpperCase()} ${path}`);
      if (route) return route.handler(Object.assign(req, { params: {} }), res);
      if (this.fallback) return this.fallback(req, res);
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    });
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
