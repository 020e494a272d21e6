import type { Reply } from '../shared/reply.js';

export type Fault =
  | { kind: 'rate_limited'; retryAfterSeconds: number }
  | { kind: 'http_error'; status: number }
  | { kind: 'hang' }
  | { kind: 'platform_error'; error: string }
  /** The call takes effect, but its answer is lost: the client sees this HTTP status instead (Web API methods only). */
  | { kind: 'lost_response'; status: number };

/** What Slack answers in each failure mode: platform errors still come back as HTTP 200. */
export function faultReply(fault: Fault): Reply {
  switch (fault.kind) {
    case 'rate_limited':
      return {
        status: 429,
        headers: { 'Retry-After': String(fault.retryAfterSeconds) },
        body: { ok: false, error: 'ratelimited' },
      };
    case 'http_error':
      return { status: fault.status, body: `stand-in http_error ${fault.status}` };
    case 'hang':
      return { status: 'hung' };
    case 'platform_error':
      return { status: 200, body: { ok: false, error: fault.error } };
    case 'lost_response':
      return { status: fault.status, body: `stand-in lost_response ${fault.status}` };
  }
}
