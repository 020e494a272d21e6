import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Captured {
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The raw bytes, as signatures are computed over them. */
  raw: Buffer;
  body: string;
}

/** A bare HTTP endpoint that records exactly what arrived on the wire and answers with `reply`. */
export async function startCapture(
  reply: { status: number; json: unknown } = { status: 200, json: { received: true } },
): Promise<{ url: string; requests: Captured[]; close: () => Promise<void> }> {
  const requests: Captured[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      requests.push({ path: req.url ?? '', headers: req.headers, raw, body: raw.toString('utf8') });
      res.writeHead(reply.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(reply.json));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
