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
  /** Called when the last request in flight has been answered. */
  onIdle: (() => void) | undefined;

  /** True while any request is being answered. */
  busy(): boolean {
    return this.active > 0;
  }

  constructor(
    routes: readonly CustomRoute[],
    private readonly fallback?: (req: IncomingMessage, res: ServerResponse) => void,
  ) {
    for (const route of routes) {
      for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
        this.byKey.set(`${method.toUpperCase()} ${route.path}`, route);
      }
    }
  }

  async listen(port: number): Promise<number> {
    const server = createServer((req, res) => {
      this.active++;
      res.once('close', () => {
        this.active--;
        if (this.active === 0) this.onIdle?.();
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
