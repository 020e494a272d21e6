import type { Reply } from '../shared/reply.js';
import type { PagerDutyTarget } from './recorder.js';

export type PagerDutyFault =
  | { kind: 'http_error'; status: number }
  | { kind: 'rate_limited'; retryAfterSeconds?: number }
  | { kind: 'hang' };

/** What PagerDuty answers in each failure mode; the REST and Events APIs word their errors differently. */
export function faultReply(target: PagerDutyTarget, fault: PagerDutyFault): Reply {
  switch (fault.kind) {
    case 'rate_limited': {
      const headers = fault.retryAfterSeconds !== undefined ? { 'Retry-After': String(fault.retryAfterSeconds) } : undefined;
      const body =
        target === 'events'
          ? { status: 'throttle event', message: 'Requests for this service are arriving too quickly. Please retry later.' }
          : { error: { message: 'Rate Limit Exceeded', code: 2020 } };
      return { status: 429, ...(headers ? { headers } : {}), body };
    }
    case 'http_error': {
      const message = `stand-in http_error ${fault.status}`;
      return {
        status: fault.status,
        body: target === 'events' ? { status: 'error', message } : { error: { message, code: 2000 } },
      };
    }
    case 'hang':
      return { status: 'hung' };
  }
}
