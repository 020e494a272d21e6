import type http from 'node:http';

export type PagerDutyTarget = 'rest' | 'events';

export interface PagerDutyRecordedCall {
  /** `oncalls`: GET /oncalls, which the bot polls in the background; kept apart so `rest` counts what users cause. */
  kind: PagerDutyTarget | 'oncalls' | 'unknown';
  method: string;
  /** Path without the query string. */
  path: string;
  /** The raw query string, '' or starting with '?'. */
  search: string;
  /** Lower-cased names; authorization is kept so tests can check it. */
  headers: Record<string, string>;
  /** Parsed JSON, else the raw text; undefined for an empty body. */
  body: unknown;
  status: number | 'hung';
  response?: unknown;
  at: number;
}

/** What the stand-in keeps of a request before answering it; status and response are filled in after. */
export function recordCall(req: http.IncomingMessage, url: URL, raw: string): PagerDutyRecordedCall {
  const path = url.pathname;
  return {
    kind: path === '/v2/enqueue' ? 'events' : path === '/oncalls' ? 'oncalls' : path === '/incidents' || path.startsWith('/incidents/') || path === '/priorities' || path === '/users' ? 'rest' : 'unknown',
    method: req.method ?? 'GET',
    path,
    search: url.search,
    headers: flatHeaders(req.headers),
    body: parseBody(raw),
    status: 200,
    at: Date.now(),
  };
}

function flatHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function parseBody(raw: string): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
