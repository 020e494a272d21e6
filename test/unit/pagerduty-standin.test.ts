import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCapture, type Captured } from '../helpers/capture.js';
import { verifyPagerDutySignature } from '../../src/pagerduty/signature.js';
import {
  INCIDENT_EVENT_TYPES,
  incidentDataSchema,
  incidentNoteSchema,
  webhookEnvelopeSchema,
} from '../../src/pagerduty/webhook-schema.js';
import { PagerDutyWebhookSigner, PagerDutyStandIn } from '../../standins/pagerduty/index.js';

const SECRET = 'standin-webhook-secret';
const TOKEN = 'standin-rest-token';
const ROUTING_KEY = 'R0123456789abcdef0123456789abcde';



function header(req: Captured, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

describe('PagerDutyWebhookSigner', () => {
  let capture: Awaited<ReturnType<typeof startCapture>>;
  let signer: PagerDutyWebhookSigner;

  beforeEach(async () => {
    capture = await startCapture({ status: 202, json: { accepted: true } });
    signer = new PagerDutyWebhookSigner({ url: `${capture.url}/`, secret: SECRET });
  });
  afterEach(() => capture.close());

  it('delivers a signed body that verifyPagerDutySignature accepts, with PagerDuty’s headers', async () => {
    const body = signer.incidentEvent('incident.triggered', { id: 'PABC123', number: 42, title: 'API down' });
    const res = await signer.send(body, { webhookId: 'b1f0a4a8-redelivery' });

    expect(res).toMatchObject({ status: 202, json: { accepted: true } });
    const [req] = capture.requests;
    expect(req!.path).toBe('/pagerduty/webhook');
    expect(req!.body).toBe(JSON.stringify(body));
    expect(header(req!, 'content-type')).toBe('application/json');
    expect(header(req!, 'x-webhook-id')).toBe('b1f0a4a8-redelivery');
    expect(header(req!, 'x-webhook-subscription')).toMatch(/^P[A-Z0-9]+$/);
    expect(header(req!, 'x-pagerduty-signature')).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyPagerDutySignature([SECRET], req!.raw, header(req!, 'x-pagerduty-signature'))).toBe(true);
  });

  it('sends a string body byte for byte', async () => {
    const raw = '{"event": {"id": "x",  "spacing": "kept"}}';
    await signer.send(raw);
    expect(capture.requests[0]!.body).toBe(raw);
    expect(verifyPagerDutySignature([SECRET], raw, header(capture.requests[0]!, 'x-pagerduty-signature'))).toBe(true);
  });

  it('can sign badly, rotate secrets, or omit the signature', async () => {
    const body = signer.pingEvent();
    await signer.send(body, { badSignature: true });
    await signer.send(body, { badSignature: true, extraSecrets: ['next-secret'] });
    await signer.send(body, { omitSignature: true });
    const [bad, rotating, unsigned] = capture.requests;

    expect(verifyPagerDutySignature([SECRET], bad!.raw, header(bad!, 'x-pagerduty-signature'))).toBe(false);
    const rotationHeader = header(rotating!, 'x-pagerduty-signature')!;
    expect(rotationHeader.split(',')).toHaveLength(2);
    expect(verifyPagerDutySignature([SECRET], rotating!.raw, rotationHeader)).toBe(false);
    expect(verifyPagerDutySignature(['next-secret'], rotating!.body, rotationHeader)).toBe(true);
    expect(header(unsigned!, 'x-pagerduty-signature')).toBeUndefined();
    // Each delivery gets its own webhook id unless one is given.
    expect(new Set(capture.requests.map((r) => header(r, 'x-webhook-id'))).size).toBe(3);
  });
});

describe('webhook body builders', () => {
  const signer = new PagerDutyWebhookSigner({ url: 'http://127.0.0.1:1', secret: SECRET });

  it.each(INCIDENT_EVENT_TYPES.filter((t) => t !== 'incident.annotated'))('%s passes the envelope and incident schemas', (type) => {
    const body = signer.incidentEvent(type, { id: 'PABC123', number: 42, title: 'API down', priority: 'P2', urgency: 'low' });
    const { event } = webhookEnvelopeSchema.parse(body);
    expect(event.event_type).toBe(type);
    expect(event.resource_type).toBe('incident');
    const incident = incidentDataSchema.parse(event.data);
    expect(incident).toMatchObject({ id: 'PABC123', number: 42, title: 'API down', urgency: 'low' });
    expect(incident.priority).toMatchObject({ summary: 'P2', type: 'priority_reference' });
    expect(incident.html_url).toBe('https://acme.pagerduty.com/incidents/PABC123');
  });

  it('derives the status from the event type unless told, and fills every field PagerDuty sends', () => {
    const data = (type: string, extra: object = {}) =>
      incidentDataSchema.parse(webhookEnvelopeSchema.parse(signer.incidentEvent(type, { id: 'P1', number: 1, ...extra })).event.data);
    expect(data('incident.triggered').status).toBe('triggered');
    expect(data('incident.acknowledged').status).toBe('acknowledged');
    expect(data('incident.resolved')).toMatchObject({ status: 'resolved', assignees: [] });
    expect(data('incident.escalated', { status: 'acknowledged' }).status).toBe('acknowledged');

    const full = data('incident.triggered');
    for (const field of ['self', 'incident_key', 'created_at', 'service', 'escalation_policy', 'conference_bridge', 'resolve_reason']) {
      expect(full).toHaveProperty(field);
    }
    expect(full.priority).toBeNull();
    expect(full.assignees[0]).toMatchObject({ type: 'user_reference', html_url: expect.stringMatching(/^https:\/\/acme\.pagerduty\.com\/users\//) });
    expect(full.service).toMatchObject({ type: 'service_reference', self: expect.stringMatching(/^https:\/\/api\.pagerduty\.com\//) });
  });

  it('takes the event id, time and agent from the caller', () => {
    const { event } = webhookEnvelopeSchema.parse(
      signer.incidentEvent('incident.acknowledged', { id: 'P1', number: 1 }, {
        eventId: '01HZZZSTANDINEVENT000000001',
        occurredAt: '2024-05-01T10:00:00.000Z',
        agent: { id: 'PUSER01', summary: 'Alice' },
      }),
    );
    expect(event).toMatchObject({ id: '01HZZZSTANDINEVENT000000001', occurred_at: '2024-05-01T10:00:00.000Z' });
    expect(event.agent).toMatchObject({ id: 'PUSER01', summary: 'Alice', type: 'user_reference' });
    const auto = webhookEnvelopeSchema.parse(signer.incidentEvent('incident.triggered', { id: 'P1', number: 1 }, { agent: null }));
    expect(auto.event.agent).toBeNull();
  });

  it('builds a ping and an annotated event that parse', () => {
    const ping = webhookEnvelopeSchema.parse(signer.pingEvent());
    expect(ping.event).toMatchObject({ event_type: 'pagey.ping', resource_type: 'pagey', agent: null });
    expect(ping.event.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);

    const annotated = webhookEnvelopeSchema.parse(signer.annotatedEvent('PABC123', 'rolled back v2.3.1'));
    expect(annotated.event.event_type).toBe('incident.annotated');
    const note = incidentNoteSchema.parse(annotated.event.data);
    expect(note).toMatchObject({ type: 'incident_note', content: 'rolled back v2.3.1', incident_id: 'PABC123' });
  });

  it('has schemas that reject what the bot cannot act on', () => {
    const good = incidentDataSchema.parse(webhookEnvelopeSchema.parse(signer.incidentEvent('incident.triggered', { id: 'P1', number: 1 })).event.data);
    expect(incidentDataSchema.safeParse({ ...good, status: 'closed' }).success).toBe(false);
    expect(incidentDataSchema.safeParse({ ...good, urgency: 'medium' }).success).toBe(false);
    expect(incidentDataSchema.safeParse({ ...good, id: undefined }).success).toBe(false);
    expect(incidentDataSchema.safeParse({ ...good, number: '1' }).success).toBe(false);
    expect(incidentDataSchema.safeParse({ ...good, unknown_new_field: 1 }).success).toBe(true);
    expect(incidentNoteSchema.safeParse({ id: 'N1', type: 'incident_note', content: 'x' }).success).toBe(false);
    expect(
      incidentNoteSchema.parse({ id: 'N1', type: 'incident_note', content: 'x', trigger_object: { id: 'P9', type: 'incident' } }).incident_id,
    ).toBe('P9');
    expect(webhookEnvelopeSchema.safeParse({ event: { id: 'E1', event_type: 'x', resource_type: 'y', occurred_at: 'yesterday' } }).success).toBe(false);
  });
});

describe('PagerDutyStandIn', () => {
  let standIn: PagerDutyStandIn;

  const rest = (path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) =>
    fetch(`${standIn.apiUrl}${path}`, {
      method: init.method ?? 'GET',
      headers: init.headers ?? {},
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
  const auth = { Authorization: `Token token=${TOKEN}`, 'Content-Type': 'application/json' };
  const ack = { incident: { type: 'incident_reference', status: 'acknowledged' } };
  const enqueue = (body: unknown) =>
    fetch(`${standIn.eventsUrl}/v2/enqueue`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

  beforeEach(async () => {
    standIn = await PagerDutyStandIn.start({ token: TOKEN });
    standIn.addIncident({ id: 'PABC123', number: 42, status: 'triggered', title: 'API down' });
  });
  afterEach(() => standIn.close());

  it('demands the token, and From on writes, but tolerates a missing Accept header', async () => {
    const noToken = await rest('/incidents/PABC123', { method: 'PUT', headers: { 'Content-Type': 'application/json', From: 'a@b.c' }, body: ack });
    expect(noToken.status).toBe(401);
    const noFrom = await rest('/incidents/PABC123', { method: 'PUT', headers: auth, body: ack });
    expect(noFrom.status).toBe(400);
    expect(await noFrom.json()).toEqual({ error: { message: 'Invalid Input Provided', code: 2001, errors: ['Requester User Not Found'] } });
    expect(standIn.incident('PABC123')?.status).toBe('triggered');

    const ok = await rest('/incidents/PABC123', { method: 'PUT', headers: { ...auth, From: 'a@b.c' }, body: ack });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ incident: { id: 'PABC123', status: 'acknowledged', incident_number: 42 } });
    expect(standIn.calls('/incidents/PABC123').map((c) => c.status)).toEqual([401, 400, 200]);
    // fetch sent its default Accept: */*, not PagerDuty's versioned media type, and was still served.
    expect(standIn.calls('/incidents/PABC123')[2]!.headers.accept).toBe('*/*');
  });

  it('does not require From when started with requireFrom: false', async () => {
    await standIn.close();
    standIn = await PagerDutyStandIn.start({ token: TOKEN, requireFrom: false });
    standIn.addIncident({ id: 'PABC123', number: 42, status: 'triggered', title: 'API down' });
    expect((await rest('/incidents/PABC123', { method: 'PUT', headers: auth, body: ack })).status).toBe(200);
  });

  it('answers 404 for an unknown incident and 400 when acting on a resolved one', async () => {
    const headers = { ...auth, From: 'a@b.c' };
    expect((await rest('/incidents/PNOPE', { method: 'PUT', headers, body: ack })).status).toBe(404);
    const resolve = { incident: { type: 'incident_reference', status: 'resolved' } };
    expect((await rest('/incidents/PABC123', { method: 'PUT', headers, body: resolve })).status).toBe(200);
    const again = await rest('/incidents/PABC123', { method: 'PUT', headers, body: ack });
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: { errors: ['Incident Already Resolved'] } });
    expect(standIn.incident('PABC123')?.status).toBe('resolved');
  });

  it('applies a bulk update all or nothing and caps it at 250 incidents', async () => {
    standIn.addIncident({ id: 'PDEF456', number: 43, status: 'triggered', title: 'DB slow' });
    const headers = { ...auth, From: 'a@b.c' };
    const entry = (id: string) => ({ id, type: 'incident_reference', status: 'resolved' });
    const partial = await rest('/incidents', { method: 'PUT', headers, body: { incidents: [entry('PABC123'), entry('PMISSING')] } });
    expect(partial.status).toBe(404);
    expect(standIn.incident('PABC123')?.status).toBe('triggered');

    const tooMany = Array.from({ length: 251 }, () => entry('PABC123'));
    expect((await rest('/incidents', { method: 'PUT', headers, body: { incidents: tooMany } })).status).toBe(400);

    expect((await rest('/incidents', { method: 'PUT', headers, body: { incidents: [entry('PABC123'), entry('PDEF456')] } })).status).toBe(200);
    expect(standIn.allIncidents().map((i) => i.status)).toEqual(['resolved', 'resolved']);
  });

  it('validates Events API bodies like PagerDuty and files triggers as incidents', async () => {
    const shortKey = await enqueue({ routing_key: 'abc', event_action: 'trigger', payload: { summary: 's', source: 'x', severity: 'info' } });
    expect(shortKey.status).toBe(400);
    expect(await shortKey.json()).toMatchObject({ status: 'invalid event', message: 'Event object is invalid' });
    expect((await enqueue({ routing_key: ROUTING_KEY, event_action: 'trigger' })).status).toBe(400);
    const longSummary = { summary: 'x'.repeat(1025), source: 'x', severity: 'info' };
    expect((await enqueue({ routing_key: ROUTING_KEY, event_action: 'trigger', payload: longSummary })).status).toBe(400);
    expect((await enqueue({ routing_key: ROUTING_KEY, event_action: 'trigger', payload: { summary: 's', source: 'x', severity: 'fatal' } })).status).toBe(400);
    expect((await enqueue({ routing_key: ROUTING_KEY, event_action: 'resolve' })).status).toBe(400);

    const trigger = { routing_key: ROUTING_KEY, event_action: 'trigger', dedup_key: 'k-1', payload: { summary: 'queue backed up', source: 'worker', severity: 'warning' } };
    const accepted = await enqueue(trigger);
    expect(accepted.status).toBe(202);
    expect(await accepted.json()).toEqual({ status: 'success', message: 'Event processed', dedup_key: 'k-1' });
    expect(standIn.allIncidents().find((i) => i.incident_key === 'k-1')).toMatchObject({ status: 'triggered', urgency: 'low' });

    expect((await enqueue({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'k-1' })).status).toBe(202);
    expect(standIn.allIncidents().find((i) => i.incident_key === 'k-1')?.status).toBe('resolved');
    expect(standIn.events()).toHaveLength(7);
    expect(standIn.events()[5]).toEqual(trigger);
  });

  it('injects faults per target, a given number of times, then behaves normally', async () => {
    standIn.failNext('rest', { kind: 'http_error', status: 502 }, 2);
    standIn.failNext('events', { kind: 'rate_limited', retryAfterSeconds: 9 });
    expect((await rest('/incidents/PABC123', { headers: auth })).status).toBe(502);
    expect((await rest('/incidents/PABC123', { headers: auth })).status).toBe(502);
    expect((await rest('/incidents/PABC123', { headers: auth })).status).toBe(200);
    const limited = await enqueue({ routing_key: ROUTING_KEY, event_action: 'acknowledge', dedup_key: 'k' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('9');
    expect(standIn.calls('rest')).toHaveLength(3);
    expect(standIn.calls('events')).toHaveLength(1);
  });

  it('records a hung request and lets waitFor observe it; close() does not wait for it', async () => {
    standIn.failNext('rest', { kind: 'hang' });
    const pending = rest('/incidents/PABC123', { headers: auth }).catch((e: unknown) => e);
    const call = await standIn.waitFor(() => standIn.calls('rest')[0], 2000);
    expect(call).toMatchObject({ method: 'GET', path: '/incidents/PABC123', status: 'hung' });
    await standIn.close();
    expect(await pending).toBeInstanceOf(Error);
  });

  it('waitFor reports a timeout with the last error', async () => {
    await expect(
      standIn.waitFor(() => {
        throw new Error('not yet');
      }, 30),
    ).rejects.toThrow(/timed out after 30 ms: last error: not yet/);
  });
});
