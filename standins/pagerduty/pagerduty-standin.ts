/**
 * A local stand-in for PagerDuty's REST API v2 (incidents) and Events API v2, on one HTTP server. It speaks
 * the wire protocol the bot depends on (`Authorization: Token token=…`, the `From` header writes require,
 * `{"error":{"message","code","errors"}}` bodies, 429 + Retry-After, the Events API's 202/400 answers),
 * keeps incident state so status changes can be asserted, records every call, and injects faults.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultQueue } from '../shared/faults.js';
import { LoopbackServer, onBody } from '../shared/loopback-server.js';
import { sendReply, type Reply } from '../shared/reply.js';
import { waitFor } from '../shared/wait-for.js';
import { EventsApi } from './events-api.js';
import { faultReply, type PagerDutyFault } from './faults.js';
import { IncidentStore, type NewStandInIncident, type StandInIncident } from './incidents.js';
import { recordCall, type PagerDutyRecordedCall, type PagerDutyTarget } from './recorder.js';
import { RestApi, restError, type RestChange, type StandInUser } from './rest-api.js';
import { listOncalls, type StandInOncall } from './oncalls.js';
import { buildAnnotatedEvent, buildIncidentEvent } from './webhook-events.js';
import { userReference } from './references.js';
import type { PagerDutyWebhookSigner } from './webhook-signer.js';

export class PagerDutyStandIn {
  private readonly loopback: LoopbackServer;
  private recorded: PagerDutyRecordedCall[] = [];
  private readonly incidents = new IncidentStore();
  private readonly faults = new FaultQueue<PagerDutyTarget, PagerDutyFault>();
  private readonly rest: RestApi;
  private readonly eventsApi: EventsApi;
  private oncallEntries: StandInOncall[] = [];
  private userEntries: StandInUser[] = [];
  private webhookSigner: PagerDutyWebhookSigner | undefined;
  private readonly pendingWebhooks = new Set<Promise<void>>();
  /** Webhooks sent because of REST writes: event type and the bot's answer (or the error). */
  readonly webhookDeliveries: Array<{ eventType: string; incidentId: string; status: number | string }> = [];
  /** The stand-in's idea of now for GET /oncalls without `since` (a test sets it to its clock). */
  now: () => number = () => Date.now();

  private constructor(
    private readonly server: http.Server,
    token: string | undefined,
    requireFrom: boolean,
  ) {
    this.loopback = new LoopbackServer(server);
    this.rest = new RestApi({
      token,
      requireFrom,
      incidents: this.incidents,
      oncalls: (params) => listOncalls(this.oncallEntries, params, this.now()),
      users: () => this.users(),
      onChange: (change) => this.notify(change),
    });
    this.eventsApi = new EventsApi(this.incidents, (incident) => this.notify({ kind: 'triggered', incident, from: '' }));
  }

  /** `token`: the REST API key demanded (none: any non-empty `Token token=…`); `requireFrom` defaults to true. */
  static async start(opts: { token?: string; requireFrom?: boolean } = {}): Promise<PagerDutyStandIn> {
    const server = http.createServer();
    const standIn = new PagerDutyStandIn(server, opts.token, opts.requireFrom ?? true);
    server.on('request', (req, res) => standIn.onRequest(req, res));
    await standIn.loopback.listen();
    return standIn;
  }

  /** Hung requests keep sockets open forever, so close() destroys them rather than waiting. */
  close(): Promise<void> {
    return this.loopback.close();
  }

  private get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** REST API base, like https://api.pagerduty.com (no trailing slash). */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Events API base, like https://events.pagerduty.com; the same server answers `/v2/enqueue`. */
  get eventsUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Replaces who is on call (GET /oncalls). */
  setOncalls(entries: StandInOncall[]): void {
    this.oncallEntries = entries.map((e) => ({ ...e }));
  }

  /** Replaces the account's users (GET /users, assignments); users on call are users too. */
  setUsers(users: StandInUser[]): void {
    this.userEntries = users.map((u) => ({ ...u }));
  }

  private users(): StandInUser[] {
    const all = new Map(this.userEntries.map((u) => [u.id, u]));
    for (const o of this.oncallEntries) if (!all.has(o.user.id)) all.set(o.user.id, { ...o.user });
    return [...all.values()];
  }

  /**
   * From now on, each REST write (status, reassignment, priority, note) is followed by the signed Webhooks v3
   * event PagerDuty would send for it, as a subscription to every incident event does.
   */
  sendWebhooksTo(signer: PagerDutyWebhookSigner): void {
    this.webhookSigner = signer;
  }

  /** Resolves when every webhook sent so far has been answered. */
  async webhooksIdle(): Promise<void> {
    while (this.pendingWebhooks.size > 0) await Promise.all([...this.pendingWebhooks]);
  }

  private notify(change: RestChange): void {
    const signer = this.webhookSigner;
    if (!signer) return;
    const i = change.incident;
    const user = this.users().find((u) => u.email === change.from);
    // A trigger from an integration has no user behind it.
    const agent = change.kind === 'triggered' ? null : user ? { id: user.id, summary: user.name } : { id: 'PAPIUSR', summary: change.from || 'API' };
    const opts = { occurredAt: new Date(this.now()).toISOString(), agent };
    const eventType =
      change.kind === 'triggered'
        ? 'incident.triggered'
        : change.kind === 'status'
          ? `incident.${change.status}`
          : change.kind === 'reassigned' ? 'incident.reassigned' : change.kind === 'priority' ? 'incident.priority_updated' : 'incident.annotated';
    const body =
      change.kind === 'note'
        ? buildAnnotatedEvent(i.id, change.content, { ...opts, noteId: change.noteId })
        : buildIncidentEvent(
            eventType,
            {
              id: i.id,
              number: i.number,
              title: i.title,
              status: i.status,
              urgency: i.urgency,
              incident_key: i.incident_key ?? undefined,
              ...(i.priority ? { priority: i.priority } : {}),
              assignees: i.assignees.map((a) => userReference(a) as never),
            },
            opts,
          );
    const sent = signer
      .send(body)
      .then((res) => {
        this.webhookDeliveries.push({ eventType, incidentId: i.id, status: res.status });
      })
      .catch((err: unknown) => {
        this.webhookDeliveries.push({ eventType, incidentId: i.id, status: err instanceof Error ? err.message : String(err) });
      })
      .finally(() => this.pendingWebhooks.delete(sent));
    this.pendingWebhooks.add(sent);
  }

  addIncident(incident: NewStandInIncident): StandInIncident {
    return this.incidents.add(incident);
  }

  /**
   * Opens an incident as an alert reaching PagerDuty would, and sends its incident.triggered webhook when
   * webhooks are on (sendWebhooksTo): a local sandbox fires alerts this way.
   */
  trigger(incident: NewStandInIncident): StandInIncident {
    const added = this.incidents.add(incident);
    const stored = this.incidents.find(added.id);
    if (stored) this.notify({ kind: 'triggered', incident: stored, from: '' });
    return added;
  }

  /**
   * Acknowledges or resolves an incident as someone in PagerDuty's own web app does (`from`: their e-mail),
   * and sends the webhook PagerDuty would. Returns false for an unknown incident.
   */
  changeStatus(id: string, status: 'acknowledged' | 'resolved', from: string): boolean {
    const stored = this.incidents.find(id);
    if (!stored) return false;
    stored.status = status;
    stored.lastChangedBy = from;
    if (status === 'resolved') stored.assignees = [];
    this.notify({ kind: 'status', incident: stored, status, from });
    return true;
  }

  incident(id: string): StandInIncident | undefined {
    const found = this.incidents.find(id);
    return found ? { ...found } : undefined;
  }

  allIncidents(): StandInIncident[] {
    return this.incidents.all().map((i) => ({ ...i }));
  }

  /** All calls; or those of one kind ('rest' | 'events'); or those to one exact path (no query). */
  calls(filter?: string): PagerDutyRecordedCall[] {
    if (filter === undefined) return [...this.recorded];
    if (filter === 'rest' || filter === 'events' || filter === 'oncalls') return this.recorded.filter((c) => c.kind === filter);
    return this.recorded.filter((c) => c.path === filter);
  }

  /** Bodies received on the Events API, valid or not, oldest first. */
  events(): unknown[] {
    return this.recorded.filter((c) => c.kind === 'events').map((c) => c.body);
  }

  failNext(target: PagerDutyTarget, fault: PagerDutyFault, times = 1): void {
    this.faults.add(target, fault, times);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Forgets calls, faults and incidents. */
  reset(): void {
    this.recorded = [];
    this.faults.clear();
    this.incidents.clear();
  }

  /** Polls until fn yields something other than undefined/false; see waitFor in ../shared/wait-for.ts. */
  waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
    return waitFor(fn, timeoutMs);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    onBody(req, (raw) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const call = recordCall(req, url, raw);
      this.recorded.push(call);
      let reply: Reply;
      try {
        reply = this.reply(call, url);
      } catch (e) {
        reply = { status: 500, body: { error: { message: `stand-in error: ${e instanceof Error ? e.message : String(e)}` } } };
      }
      call.status = reply.status;
      if (reply.body !== undefined) call.response = reply.body;
      sendReply(res, reply);
    });
  }

  private reply(call: PagerDutyRecordedCall, url: URL): Reply {
    if (call.kind === 'unknown') return restError(404, 'Not Found', 2100);
    if (call.kind === 'oncalls') return this.rest.handle(call, url);
    const fault = this.faults.take(call.kind);
    if (fault) return faultReply(call.kind, fault);
    return call.kind === 'events' ? this.eventsApi.handle(call) : this.rest.handle(call, url);
  }
}
