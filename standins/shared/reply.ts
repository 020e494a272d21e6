import type http from 'node:http';

/** A stand-in's answer to one request; `hung` never answers, as a stalled server would. */
export interface Reply {
  status: number | 'hung';
  headers?: Record<string, string>;
  body?: unknown;
}

/** Writes a reply: a string body as text, anything else as JSON. */
export function sendReply(res: http.ServerResponse, reply: Reply): void {
  if (reply.status === 'hung') return;
  const isText = typeof reply.body === 'string';
  res.writeHead(reply.status, {
    'Content-Type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    ...reply.headers,
  });
  res.end(isText ? reply.body : reply.body === undefined ? '' : JSON.stringify(reply.body));
}
