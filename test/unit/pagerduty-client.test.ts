import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryError, DeliveryFailure } from '../../src/outbox/types.js';
import { BULK_UPDATE_LIMIT, PagerDutyClient, type PagerDutyEvent } from '../../src/pagerduty/client.js';
import { PagerDutyStandIn } from '../../standins/pagerduty/index.js';

const TOKEN = 'u+standin-rest-token-0123';
const FROM = 'alice@example.com';
const DEFAULT_FROM = 'waygate@example.com';
const INCIDENT = 'PABC123';
const ROUTING_KEY = 'R0123456789abcdef0123456789abcde';

/** Awaits a rejection and returns its DeliveryFailure; fails the test if the promise resolves. */
async function failure(promise: Promise<unknown>): Promise<DeliveryFailure> {
  let err: unknown;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  if (err === undefined) expect.fail('expected the call to reject with a DeliveryError');
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).name).toBe('DeliveryError');
  return (err as DeliveryError).failure;
}

function triggerEvent(overrides: Partial<PagerDutyEvent> = {}): PagerDutyEvent {
  return {
    routing_key: ROUTING_KEY,
    event_action: 'trigger',
    payload: { summary: 'Waygate MCP p99 latency above 2 s', source: 'waygate-bot', severity: 'critical' },
    ...overrides,
  };
}

describe('PagerDutyClient', () => {
  let standIn: PagerDutyStandIn;
  let client: PagerDutyClient;

  function makeClient(overrides: Partial<ConstructorParameters<typeof PagerDutyClient>[0]> = {}): PagerDutyClient {
    return new PagerDutyClient({
      token: TOKEN,
      apiUrl: standIn.apiUrl,
      eventsUrl: standIn.eventsUrl,
      defaultFrom: DEFAULT_FROM,
      pdjsRetryDelayMs: 5, // pdjs waits this long between its own 429 retries; keep the test fast
      ...overrides,
    });
  }

  beforeEach(async () => {
    standIn = await PagerDutyStandIn.start({ token: TOKEN });
    client = makeClient();
    standIn.addIncident({ id: INCIDENT, number: 42, status: 'triggered', title: 'API latency high', priority: 'P1' });
  });

  afterEach(async () => {
    await standIn.close();
  });

  describe('setIncidentStatus', () => {
    it('acknowledges with PUT /incidents/{id}, the token, the v2 Accept header and the From address', async () => {
      await client.setIncidentStatus(INCIDENT, 'acknowledged', FROM);

      const calls = standIn.calls('rest');
      expect(calls).toHaveLength(1);
      const call = calls[0]!;
      expect(call.method).toBe('PUT');
      expect(call.path).toBe(`/incidents/${INCIDENT}`);
      expect(call.headers.authorization).toBe(`Token token=${TOKEN}`);
      expect(call.headers.accept).toBe('application/vnd.pagerduty+json;version=2');
      expect(call.headers['content-type']).toMatch(/^application\/json/);
      expect(call.headers.from).toBe(FROM);
      expect(call.body).toEqual({ incident: { type: 'incident_reference', status: 'acknowledged' } });
      expect(call.status).toBe(200);

      expect(standIn.incident(INCIDENT)).toMatchObject({ status: 'acknowledged', lastChangedBy: FROM });
    });

    it('resolves on behalf of defaultFrom when no From address is given', async () => {
      await client.setIncidentStatus(INCIDENT, 'resolved');

      expect(standIn.calls('rest')[0]?.headers.from).toBe(DEFAULT_FROM);
      expect(standIn.calls('rest')[0]?.body).toEqual({ incident: { type: 'incident_reference', status: 'resolved' } });
      expect(standIn.incident(INCIDENT)).toMatchObject({ status: 'resolved', lastChangedBy: DEFAULT_FROM });
    });

    it('refuses a write with no From address at all before calling PagerDuty', async () => {
      const noFrom = makeClient({ defaultFrom: undefined });

      const f = await failure(noFrom.setIncidentStatus(INCIDENT, 'acknowledged'));

      expect(f.kind).toBe('permanent');
      expect(f.detail).toMatch(/From/);
      expect(standIn.calls()).toHaveLength(0);
      expect(standIn.incident(INCIDENT)?.status).toBe('triggered');
    });

    it('treats a 500 as retryable, sends exactly one request and leaves the incident alone', async () => {
      standIn.failNext('rest', { kind: 'http_error', status: 500 });

      const f = await failure(client.setIncidentStatus(INCIDENT, 'acknowledged', FROM));

      expect(f.kind).toBe('retryable');
      expect(f.detail).toContain('HTTP 500');
      expect(standIn.calls('rest')).toHaveLength(1);
      expect(standIn.incident(INCIDENT)?.status).toBe('triggered');
    });

    it('reports rate_limited with Retry-After once pdjs has spent its own three 429 retries', async () => {
      standIn.failNext('rest', { kind: 'rate_limited', retryAfterSeconds: 7 }, 4);

      const f = await failure(client.setIncidentStatus(INCIDENT, 'acknowledged', FROM));

      expect(f).toMatchObject({ kind: 'rate_limited', retryAfterMs: 7000 });
      expect(f.detail).toContain('HTTP 429');
      expect(standIn.calls('rest').map((c) => c.status)).toEqual([429, 429, 429, 429]);
      expect(standIn.incident(INCIDENT)?.status).toBe('triggered');
    });

    it('rides out a single 429 through pdjs and acknowledges the incident', async () => {
      standIn.failNext('rest', { kind: 'rate_limited', retryAfterSeconds: 7 }, 1);

      await client.setIncidentStatus(INCIDENT, 'acknowledged', FROM);

      expect(standIn.calls('rest').map((c) => c.status)).toEqual([429, 200]);
      expect(standIn.incident(INCIDENT)?.status).toBe('acknowledged');
    });

    it('backs off 20 s on a 429 without Retry-After', async () => {
      standIn.failNext('rest', { kind: 'rate_limited' }, 4);

      const f = await failure(client.setIncidentStatus(INCIDENT, 'acknowledged', FROM));

      expect(f).toMatchObject({ kind: 'rate_limited', retryAfterMs: 20_000 });
      expect(standIn.calls('rest')).toHaveLength(4);
    });

    it('gives up permanently on an unknown incident', async () => {
      const f = await failure(client.setIncidentStatus('PNOPE00', 'acknowledged', FROM));

      expect(f.kind).toBe('permanent');
      expect(f.detail).toContain('HTTP 404');
      expect(f.detail).toContain('Incident PNOPE00 not found');
    });

    it("gives up permanently on an already-resolved incident, with PagerDuty's message", async () => {
      standIn.addIncident({ id: 'PDONE01', number: 43, status: 'resolved', title: 'Old alert' });

      const f = await failure(client.setIncidentStatus('PDONE01', 'acknowledged', FROM));

      expect(f.kind).toBe('permanent');
      expect(f.detail).toContain('HTTP 400');
      expect(f.detail).toContain('Incident Already Resolved');
      expect(standIn.incident('PDONE01')?.status).toBe('resolved');
    });

    it('gives up permanently on a rejected token without echoing the token', async () => {
      const wrongToken = 'u+wrong-rest-token-9876';
      const wrong = makeClient({ token: wrongToken });

      let thrown: unknown;
      const f = await failure(
        wrong.setIncidentStatus(INCIDENT, 'acknowledged', FROM).catch((e: unknown) => {
          thrown = e;
          throw e;
        }),
      );

      expect(f.kind).toBe('permanent');
      expect(f.detail).toContain('HTTP 401');
      expect(f.detail).not.toContain(wrongToken);
      expect((thrown as Error).message).not.toContain(wrongToken);
      expect(JSON.stringify(thrown)).not.toContain(wrongToken);
      expect(standIn.incident(INCIDENT)?.status).toBe('triggered');
    });

    it('treats a refused connection as retryable', async () => {
      const gone = await PagerDutyStandIn.start({ token: TOKEN });
      const deadUrl = gone.apiUrl;
      await gone.close();
      const unreachable = makeClient({ apiUrl: deadUrl, eventsUrl: deadUrl });

      const f = await failure(unreachable.setIncidentStatus(INCIDENT, 'acknowledged', FROM));

      expect(f.kind).toBe('retryable');
      expect(f.detail).toContain('PUT /incidents/PABC123');
      expect(f.detail).not.toContain(TOKEN);
    });

    it('times out a hung request as retryable', async () => {
      standIn.failNext('rest', { kind: 'hang' });
      const impatient = makeClient({ timeoutMs: 150 });

      const f = await failure(impatient.setIncidentStatus(INCIDENT, 'acknowledged', FROM));

      expect(f.kind).toBe('retryable');
      expect(f.detail).toContain('timed out');
      expect(standIn.calls('rest').map((c) => c.status)).toEqual(['hung']);
      expect(standIn.incident(INCIDENT)?.status).toBe('triggered');
    });
  });

  describe('setIncidentsStatus', () => {
    it('splits a bulk update into PUT /incidents requests of at most 250 incidents', async () => {
      const ids = Array.from({ length: 260 }, (_, i) => `PBULK${String(i).padStart(3, '0')}`);
      for (const [i, id] of ids.entries()) standIn.addIncident({ id, number: 100 + i, title: `Bulk ${i}` });

      await client.setIncidentsStatus(ids, 'acknowledged', FROM);

      const calls = standIn.calls('/incidents');
      expect(calls.map((c) => c.method)).toEqual(['PUT', 'PUT']);
      const sent = calls.map((c) => (c.body as { incidents: { id: string; type: string; status: string }[] }).incidents);
      expect(sent.map((list) => list.length)).toEqual([BULK_UPDATE_LIMIT, 10]);
      expect(sent.flat().map((x) => x.id)).toEqual(ids);
      expect(sent.flat().every((x) => x.type === 'incident_reference' && x.status === 'acknowledged')).toBe(true);
      expect(calls.every((c) => c.headers.from === FROM)).toBe(true);
      expect(ids.every((id) => standIn.incident(id)?.status === 'acknowledged')).toBe(true);
      expect(standIn.incident(INCIDENT)?.status).toBe('triggered');
    });

    it('stops at a failing chunk and leaves later chunks unsent', async () => {
      const ids = Array.from({ length: 260 }, (_, i) => `PBULK${String(i).padStart(3, '0')}`);
      for (const [i, id] of ids.entries()) standIn.addIncident({ id, number: 100 + i, title: `Bulk ${i}` });
      standIn.failNext('rest', { kind: 'http_error', status: 502 });

      const f = await failure(client.setIncidentsStatus(ids, 'resolved', FROM));

      expect(f.kind).toBe('retryable');
      expect(f.detail).toContain('PUT /incidents answered HTTP 502');
      expect(standIn.calls('/incidents')).toHaveLength(1);
      expect(ids.every((id) => standIn.incident(id)?.status === 'triggered')).toBe(true);
    });
  });

  describe('listOpenIncidents', () => {
    it('follows offset pagination and returns only triggered and acknowledged incidents', async () => {
      for (let i = 0; i < 229; i++) {
        const status = i % 2 === 0 ? 'triggered' : 'acknowledged';
        standIn.addIncident({ id: `POPEN${String(i).padStart(3, '0')}`, number: 100 + i, title: `Open ${i}`, status });
      }
      for (let i = 0; i < 5; i++) {
        standIn.addIncident({ id: `PGONE${i}`, number: 500 + i, title: `Gone ${i}`, status: 'resolved' });
      }

      const incidents = (await client.listOpenIncidents()) as { id: string; status: string }[];

      expect(incidents).toHaveLength(230);
      expect(new Set(incidents.map((i) => i.id)).size).toBe(230);
      expect(incidents[0]?.id).toBe(INCIDENT);
      expect(incidents.every((i) => i.status === 'triggered' || i.status === 'acknowledged')).toBe(true);

      const calls = standIn.calls('/incidents');
      expect(calls.map((c) => c.method)).toEqual(['GET', 'GET', 'GET']);
      const params = calls.map((c) => new URLSearchParams(c.search));
      expect(params.map((p) => p.get('offset'))).toEqual(['0', '100', '200']);
      expect(params.every((p) => p.get('limit') === '100')).toBe(true);
      expect(params[0]?.getAll('statuses[]')).toEqual(['triggered', 'acknowledged']);
      expect(calls[0]?.headers.authorization).toBe(`Token token=${TOKEN}`);
      expect(calls[0]?.headers.from).toBeUndefined();
    });

    it('makes one request when everything fits on a page', async () => {
      const incidents = await client.listOpenIncidents();

      expect(incidents).toEqual([expect.objectContaining({ id: INCIDENT, incident_number: 42, status: 'triggered' })]);
      expect(standIn.calls('/incidents')).toHaveLength(1);
    });
  });

  describe('enqueueEvent', () => {
    it('sends a trigger to /v2/enqueue and returns the dedup_key PagerDuty filed it under', async () => {
      const event = triggerEvent();

      const result = await client.enqueueEvent(event);

      expect(result.dedup_key).toMatch(/^[0-9a-f]{32}$/);
      expect(standIn.events()).toEqual([event]);
      const call = standIn.calls('events')[0]!;
      expect(call.method).toBe('POST');
      expect(call.path).toBe('/v2/enqueue');
      expect(call.status).toBe(202);
      expect(call.headers['content-type']).toMatch(/^application\/json/);
      expect(standIn.allIncidents().find((i) => i.incident_key === result.dedup_key)).toMatchObject({
        title: 'Waygate MCP p99 latency above 2 s',
        status: 'triggered',
      });
    });

    it('keeps a caller-chosen dedup_key', async () => {
      const result = await client.enqueueEvent(triggerEvent({ dedup_key: 'waygate/latency/2024' }));

      expect(result).toEqual({ dedup_key: 'waygate/latency/2024' });
    });

    it('never sends the REST token to the Events API', async () => {
      await client.enqueueEvent(triggerEvent());

      const headers = standIn.calls('events')[0]!.headers;
      expect(headers.authorization).toBeUndefined();
      expect(Object.values(headers).some((v) => v.includes(TOKEN))).toBe(false);
      expect(JSON.stringify(standIn.events())).not.toContain(TOKEN);
    });

    it('gives up permanently on an invalid routing key', async () => {
      const f = await failure(client.enqueueEvent(triggerEvent({ routing_key: 'too-short' })));

      expect(f.kind).toBe('permanent');
      expect(f.detail).toContain('HTTP 400');
      expect(f.detail).toContain('routing_key');
      expect(standIn.allIncidents()).toHaveLength(1);
    });

    it('treats a 503 as retryable', async () => {
      standIn.failNext('events', { kind: 'http_error', status: 503 });

      const f = await failure(client.enqueueEvent(triggerEvent()));

      expect(f.kind).toBe('retryable');
      expect(f.detail).toContain('HTTP 503');
      expect(standIn.calls('events')).toHaveLength(1);
    });

    it('reports a 429 as rate_limited without retrying by itself', async () => {
      standIn.failNext('events', { kind: 'rate_limited', retryAfterSeconds: 3 });

      const f = await failure(client.enqueueEvent(triggerEvent()));

      expect(f).toMatchObject({ kind: 'rate_limited', retryAfterMs: 3000 });
      expect(f.detail).toContain('HTTP 429');
      expect(standIn.calls('events')).toHaveLength(1);
    });

    it('backs off 20 s on an Events API 429 without Retry-After', async () => {
      standIn.failNext('events', { kind: 'rate_limited' });

      const f = await failure(client.enqueueEvent(triggerEvent()));

      expect(f).toMatchObject({ kind: 'rate_limited', retryAfterMs: 20_000 });
    });

    it('times out a hung Events API request as retryable', async () => {
      standIn.failNext('events', { kind: 'hang' });
      const impatient = makeClient({ timeoutMs: 150 });

      const f = await failure(impatient.enqueueEvent(triggerEvent()));

      expect(f.kind).toBe('retryable');
      expect(f.detail).toContain('timed out');
    });
  });

  describe('notes, assignments and priorities', () => {
    beforeEach(() => {
      standIn.setUsers([
        { id: 'PANNA01', name: 'Anna Lee', email: 'anna.lee@example.com' },
        { id: 'PANNA02', name: 'Ann Lee', email: 'ann@example.com' },
      ]);
    });

    it('adds a note with POST /incidents/{id}/notes as the From user and returns its id', async () => {
      const id = await client.addNote(INCIDENT, 'Rolled back v1.4.2', FROM);
      expect(id).toMatch(/^PNOTE/);
      expect(standIn.incident(INCIDENT)?.notes).toEqual([{ id, content: 'Rolled back v1.4.2', from: FROM }]);
      expect(await failure(client.addNote('PNOPE', 'x', FROM))).toMatchObject({ kind: 'permanent' });
    });

    it('finds a user by the exact e-mail only, although PagerDuty’s query also matches parts of it', async () => {
      expect(await client.userIdByEmail('ANN@example.com')).toBe('PANNA02');
      expect(await client.userIdByEmail('lee@example.com')).toBeUndefined();
    });

    it('reads the account’s priorities once, and again only for a name it does not know', async () => {
      expect(await client.priorityIdByName('P2')).toMatch(/^PPRI/);
      expect(await client.priorityIdByName('P3')).toMatch(/^PPRI/);
      expect(standIn.calls('/priorities')).toHaveLength(1);
      expect(await client.priorityIdByName('SEV-1')).toBeUndefined();
      expect(standIn.calls('/priorities')).toHaveLength(2);
    });

    it('reassigns and re-prioritises with PUT /incidents/{id}; PagerDuty refuses an unknown user as invalid input', async () => {
      await client.updateIncident(INCIDENT, { assigneeId: 'PANNA01' }, FROM);
      await client.updateIncident(INCIDENT, { priorityId: (await client.priorityIdByName('P4'))! }, FROM);
      expect(standIn.incident(INCIDENT)).toMatchObject({ assignees: [{ id: 'PANNA01', summary: 'Anna Lee' }], priority: 'P4' });
      const refused = await failure(client.updateIncident(INCIDENT, { assigneeId: 'PGHOST' }, FROM));
      expect(refused).toMatchObject({ kind: 'permanent' });
      expect(refused.detail).toContain('Assignee PGHOST not found');
    });
  });
});
