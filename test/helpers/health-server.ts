import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A stand-in for the Waygate MCP service's health endpoint, whose answer a test can switch. */
export interface HealthServer {
  /** The health URL to configure as `service.healthUrl`. */
  url: string;
  /** The HTTP status the next checks get (200 by default). */
  status: number;
  close(): Promise<void>;
}

export async function startHealthServer(): Promise<HealthServer> {
  const server = http.createServer((_req, res) => {
    res.writeHead(health.status, { 'content-type': 'application/json' });
    res.end(health.status === 200 ? '{"status":"ok"}' : '{"status":"error"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const health: HealthServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`,
    status: 200,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return health;
}
