import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CustomRoute } from '@slack/bolt';
import type { Logger } from '../logging/logger.js';
import type { IncidentEvent } from '../incidents/events.js';

type AcceptResult = 'accepted' | 'duplicate';
import { verifyPagerDutySignature } from './signature.js';
import { PING_EVENT_TYPE, webhookEnvelopeSchema } from './webhook-schema.js';
import { toIncidentEvent } from './webhook-events.js';

export const PAGERDUTY_WEBHOOK_PATH = '/pagerduty/webhook';
/** PagerDuty's payloads are a few KB; anything near this is not one of theirs. */
const BODY_LIMIT_BYTES = 1024 * 1024;

export interface WebhookRouteDeps {
  secrets: readonly string[];
  /** Commits the event to the inbox; throws when it could not (the 5xx makes PagerDuty redeliver). */
  accept: (event: IncidentEvent) => Promise<AcceptResult>;
  logger: Logger;
  onResult?: (result: AcceptResult | 'rejected' | 'ping' | 'error') => void;
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * The body, unless it is too large (told by its Content-Length before a byte is read) or the sender gave up
 * half-way: an unsigned sender that never finishes is not worth a log line per connection.
 */
async function readBody(req: IncomingMessage): Promise<Buffer | 'too_large' | 'aborted'> {
  if (Number(req.headers['content-length'] ?? 0) > BODY_LIMIT_BYTES) return 'too_large';
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > BODY_LIMIT_BYTES) return 'too_large';
      chunks.push(chunk);
    }
  } catch (err) {
    if (req.destroyed) return 'aborted';
    throw err;
  }
  return Buffer.concat(chunks, size);
}

/**
 * POST /pagerduty/webhook (Webhooks v3). The 2xx is sent only after the verified event is committed to the
 * inbox, so anything PagerDuty hears acknowledged survives a crash; redeliveries of the same event id change
 * nothing. Applying it to incidents follows right after, in batches (docs/decisions/006).
 */
export function pagerDutyWebhookRoute(deps: WebhookRouteDeps): CustomRoute {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const outcome = (result: Parameters<NonNullable<WebhookRouteDeps['onResult']>>[0]) => deps.onResult?.(result);
    if (deps.secrets.length === 0) {
      // 503, not 4xx: PagerDuty keeps redelivering until the operator sets the secret, so nothing is lost.
      outcome('rejected');
      return reply(res, 503, { error: 'PagerDuty webhooks are not configured (PAGERDUTY_WEBHOOK_SECRET)' });
    }
    const body = await readBody(req);
    if (body === 'aborted') {
      outcome('rejected');
      return;
    }
    if (body === 'too_large') {
      outcome('rejected');
      // Close the connection: reading the rest of an oversized body only to discard it is the sender's win.
      res.setHeader('connection', 'close');
      return reply(res, 413, { error: 'body too large' });
    }
    if (!verifyPagerDutySignature(deps.secrets, body, req.headers['x-pagerduty-signature'] as string | undefined)) {
      outcome('rejected');
      return reply(res, 401, { error: 'invalid signature' });
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      outcome('rejected');
      return reply(res, 400, { error: 'body is not JSON' });
    }
    const envelope = webhookEnvelopeSchema.safeParse(json);
    if (!envelope.success) {
      const issue = envelope.error.issues[0];
      outcome('rejected');
      return reply(res, 400, { error: `not a PagerDuty v3 webhook: ${issue ? `${issue.path.join('.')} ${issue.message}` : 'invalid'}` });
    }
    if (envelope.data.event.event_type === PING_EVENT_TYPE) {
      outcome('ping');
      return reply(res, 200, { status: 'pong' });
    }
    const mapped = toIncidentEvent(envelope.data);
    if (!mapped.ok) {
      outcome('rejected');
      return reply(res, 400, { error: mapped.reason });
    }
    const result = await deps.accept(mapped.event);
    outcome(result);
    reply(res, 200, { status: result });
  };
  return {
    path: PAGERDUTY_WEBHOOK_PATH,
    method: ['POST'],
    handler: (req, res) => {
      handle(req, res).catch((err: unknown) => {
        deps.logger.error({ err }, 'PagerDuty webhook failed');
        deps.onResult?.('error');
        if (!res.headersSent) reply(res, 500, { error: 'internal error; PagerDuty will redeliver' });
      });
    },
  };
}
