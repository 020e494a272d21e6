import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SERVER_LIMITS, RoutesServer } from '../../src/http/routes-server.js';
import { waitFor } from '../../standins/shared/wait-for.js';

/** Opens a connection, sends `text` and never more; resolves with what the server said once it hung up. */
function stall(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(answer));
    socket.write(text);
  });
}

describe('RoutesServer against slow clients', () => {
  let server: RoutesServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('by default gives a client 10 s for its headers and 15 s for the whole request, not Node’s 60 s and 5 min', () => {
    expect(DEFAULT_SERVER_LIMITS).toMatchObject({ headersTimeoutMs: 10_000, requestTimeoutMs: 15_000, bodyBytes: 1024 * 1024 });
  });

  it('hangs up on a client that never finishes its headers, or its body, once its time is up', async () => {
    let handled = 0;
    server = new RoutesServer(
      [{ path: '/pagerduty/webhook', method: ['POST'], handler: (req, res) => void req.resume().once('end', () => res.end(String(++handled))) }],
      undefined,
      { ...DEFAULT_SERVER_LIMITS, headersTimeoutMs: 200, requestTimeoutMs: 400 },
    );
    const port = await server.listen(0);
    const [headers, body] = await Promise.all([
      stall(port, 'POST /pagerduty/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow'),
      stall(port, 'POST /pagerduty/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"partial'),
    ]);
    expect(headers).toMatch(/^HTTP\/1\.1 408/);
    expect(body).toMatch(/^HTTP\/1\.1 408/);
    expect(handled).toBe(0);
    // A client that sends its request in time is served as before.
    const ok = await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/pagerduty/webhook`, { method: 'POST', body: '{}' })).text());
    expect(ok).toBe('1');
  });

  it('answers a body it will not read with a closed connection, and frees its share for the next request', async () => {
    server = new RoutesServer(
      [{ path: '/in', method: ['POST'], handler: (req, res) => void req.resume().once('end', () => res.end('ok')) }],
      undefined,
      { ...DEFAULT_SERVER_LIMITS, bodyBytes: 1_000, inflightBodyBytes: 1_500 },
    );
    const port = await server.listen(0);
    const tooBig = await stall(port, 'POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n');
    expect(tooBig).toMatch(/^HTTP\/1\.1 413[\s\S]*connection: close/i);
    const holding = connect(port, '127.0.0.1');
    holding.write('POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
    const busy = await waitFor(async () => {
      const answer = await stall(port, 'POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\n');
      return /^HTTP\/1\.1 503/.test(answer) && answer;
    });
    expect(busy).toMatch(/retry-after: 1/i);
    // Bodies within what is left, and requests with no body, are still served.
    expect(await (await fetch(`http://127.0.0.1:${port}/in`, { method: 'POST', body: 'x'.repeat(400) })).text()).toBe('ok');
    holding.destroy();
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/in`, { method: 'POST', body: 'x'.repeat(600) })).status === 200);
  });
});
