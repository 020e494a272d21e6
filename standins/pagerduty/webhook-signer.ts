/**
 * Sends Webhooks v3 deliveries to the bot exactly as PagerDuty would: the full event body, the
 * `X-PagerDuty-Signature: v1=…[,v1=…]` header (several during secret rotation), `X-Webhook-Id` (kept on
 * redelivery) and `X-Webhook-Subscription`.
 */
import { randomUUID } from 'node:crypto';
import { signPagerDutyBody } from '../../src/pagerduty/signature.js';
import { buildAnnotatedEvent, buildIncidentEvent, buildPingEvent, type EventOptions, type IncidentInput } from './webhook-events.js';

export interface WebhookSendOptions {
  /** Signs with a wrong secret. */
  badSignature?: boolean;
  /** Adds a `v1=` signature per secret after the main one, as PagerDuty does while a secret rotates. */
  extraSecrets?: string[];
  /** Sends no X-PagerDuty-Signature header at all. */
  omitSignature?: boolean;
  /** X-Webhook-Id; PagerDuty keeps it across redeliveries of the same event. Default: a fresh UUID. */
  webhookId?: string;
}

export interface WebhookResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests index freely into whatever the bot answered.
  json?: any;
}

const DEFAULT_SUBSCRIPTION = 'PSTANDINSUB01';

export class PagerDutyWebhookSigner {
  private readonly url: string;
  private readonly secret: string;
  private readonly path: string;
  private readonly subscriptionId: string;

  /** `url`: the bot's base URL; `secret`: the subscription's signing secret. */
  constructor(opts: { url: string; secret: string; path?: string; subscriptionId?: string }) {
    this.url = opts.url.replace(/\/+$/, '');
    this.secret = opts.secret;
    this.path = opts.path ?? '/pagerduty/webhook';
    this.subscriptionId = opts.subscriptionId ?? DEFAULT_SUBSCRIPTION;
  }

  incidentEvent(eventType: string, incident: IncidentInput, opts?: EventOptions): object {
    return buildIncidentEvent(eventType, incident, opts);
  }

  pingEvent(opts?: EventOptions): object {
    return buildPingEvent(opts);
  }

  annotatedEvent(incidentId: string, content: string, opts?: EventOptions & { noteId?: string }): object {
    return buildAnnotatedEvent(incidentId, content, opts);
  }

  /** The signature header this signer would send for a body. */
  signatureHeader(body: string, opts: Pick<WebhookSendOptions, 'badSignature' | 'extraSecrets'> = {}): string {
    const secret = opts.badSignature ? `${this.secret}-wrong` : this.secret;
    return [secret, ...(opts.extraSecrets ?? [])].map((s) => signPagerDutyBody(s, body)).join(',');
  }

  /** POSTs a body (an object is serialised once; a string is sent byte for byte) as PagerDuty does. */
  async send(body: object | string, opts: WebhookSendOptions = {}): Promise<WebhookResponse> {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': 'PagerDuty-Webhook/V3.0',
      'X-Webhook-Id': opts.webhookId ?? randomUUID(),
      'X-Webhook-Subscription': this.subscriptionId,
    };
    if (!opts.omitSignature) headers['X-PagerDuty-Signature'] = this.signatureHeader(raw, opts);
    const res = await fetch(`${this.url}${this.path}`, { method: 'POST', headers, body: raw });
    const text = await res.text();
    const result: WebhookResponse = { status: res.status, headers: Object.fromEntries(res.headers.entries()), text };
    if ((res.headers.get('content-type') ?? '').includes('application/json') && text.length > 0) {
      result.json = JSON.parse(text) as unknown;
    }
    return result;
  }
}
