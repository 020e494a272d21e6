import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CustomRoute } from '@slack/bolt';

/**
 * Serves the operational routes on their own server in Socket Mode. Bolt's Socket Mode receiver can serve
 * custom routes too, but it starts that server without waiting for it, so a busy port would surface as an
 * uncaught exception instead of a failed start.
 */
export class RoutesServer {
  private server: Server | undefined;

  constructor(private readonly routes: readonly CustomRoute[]) {}

  async listen(port: number): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const method = (req.method ?? 'GET').toUpperCase();
      const route = this.routes.find(
        (r) => r.path === path && (Array.isArray(r.method) ? r.method : [r.method]).some((m) => m.toUpperCase() === method),
      );
      if (!route) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
        return;
      }
      route.handler(Object.assign(req, { params: {} }), res);
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
