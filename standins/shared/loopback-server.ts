import type http from 'node:http';
import type { Socket } from 'node:net';

/**
 * What both stand-ins need from their HTTP server: listen on a free loopback port, remember open sockets,
 * and close at once even while a request is deliberately left hanging (the `hang` fault).
 */
export class LoopbackServer {
  private readonly sockets = new Set<Socket>();

  constructor(readonly server: http.Server) {
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  listen(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
  }

  /** Stops listening and destroys every open socket rather than waiting for hung requests. */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    return closed;
  }
}

/** Collects a request body, then hands it over as text. */
export function onBody(req: http.IncomingMessage, handle: (raw: string) => void): void {
  onBytes(req, (bytes) => handle(bytes.toString('utf8')));
}

/** Collects a request body, then hands it over as bytes (file uploads are binary). */
export function onBytes(req: http.IncomingMessage, handle: (bytes: Buffer) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => handle(Buffer.concat(chunks)));
}
