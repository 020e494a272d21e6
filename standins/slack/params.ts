import type http from 'node:http';
import { parseJsonField } from './block-kit.js';

/** A Web API call's arguments, whether they came as a form or as JSON. */
export type Params = Record<string, unknown>;
/** A Web API method's answer body. */
export type ApiResult = Record<string, unknown>;

/** Form bodies carry these as JSON strings; records hold them parsed so tests can inspect them. */
const JSON_FIELDS = ['blocks', 'attachments', 'metadata'];

/** The call's arguments, or undefined for a JSON body that is not an object (Slack: `invalid_json`). */
export function parseParams(contentType: string, raw: string): Params | undefined {
  let params: Params;
  if (contentType.includes('application/json')) {
    try {
      const parsed = JSON.parse(raw || '{}') as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
      params = parsed as Params;
    } catch {
      return undefined;
    }
  } else {
    params = Object.fromEntries(new URLSearchParams(raw));
  }
  for (const field of JSON_FIELDS) {
    if (field in params) params[field] = parseJsonField(params[field]);
  }
  return params;
}

/** The token a Web API call carries: the Authorization bearer, else the `token` parameter. */
export function bearerOf(req: http.IncomingMessage, params: Params): unknown {
  const header = req.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : params.token;
}

export function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

export function stringOr(v: unknown, fallback: string): string {
  return typeof v === 'string' ? v : fallback;
}
