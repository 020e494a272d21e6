import type { Transaction } from 'kysely';
import type { DataLayer, Executor, Schema } from '../db/data-layer.js';
import type { Clock } from '../clock/clock.js';
import type { Priority } from '../config/sla-schema.js';
import { incidentLink, listNumbers, who } from './alert-message.js';
import type { Incident, IncidentRepository } from './incident-repository.js';
import { LOCAL_INCIDENT_PREFIX, type Change, type ChangeResult, type IncidentLifecycle, type SlackChange } from './lifecycle.js';
import type { IncidentIngest } from './ingest.js';
import type { IncidentEvent } from './events.js';
import { formatCount, formatDuration } from '../core/text.js';
import type { MessageContent } from '../outbox/types.js';
import { BULK_BATCH, type BulkChanges } from './bulk-change.js';
import type { SlaEscalation } from './sla-escalation.js';
import type { Outbox } from '../outbox/outbox.js';
import type { AuditLog } from '../audit/audit-log.js';
import { declaredKey } from './lifecycle.js';

export type { ChangeResult as AckResult } from './lifecycle.js';

export interface IncidentFacadeOptions {
  data: DataLayer;
  clock: Clock;
  repo: IncidentRepository;
  lifecycle: IncidentLifecycle;
  ingest: IncidentIngest;
  /** Acts on the changes in the transaction `tx` that made them (alerts, SLA deadlines). */
  follow: (tx: Executor, changes: readonly Change[], now: number) => Promise<void>;
  bulk: BulkChanges;
  sla: SlaEscalation;
  outbox: Outbox;
  audit: AuditLog;
  /** Events API integration key (YAML service.pagerDutyRoutingKey): declarations go to PagerDuty through it. */
  routingKey: string | null;
}

/** What became of a change asked for from Slack. */
export type SlackEdit = { outcome: 'done'; incident: Incident } | { outcome: 'resolved'; incident: Incident } | { outcome: 'unchanged'; incident: Incident };

/** Where a declared incident was opened. */
export type Declared = { via: 'pagerduty'; dedupKey: string } | { via: 'local'; incident: Incident };

/** The Events API severity that carries a declared priority's intent (PagerDuty maps it to urgency). */
const SEVERITY: Record<Priority, 'critical' | 'error' | 'warning' | 'info'> = { P1: 'critical', P2: 'error', P3: 'warning', P4: 'info', P5: 'info' };

/** The PagerDuty incidents the storm summary's "Acknowledge all P1" acts on, and what it leaves alone. */
export interface StormTargets {
  /** Unacknowledged P1 incidents among those the summary showed. */
  shown: Incident[];
  /** Unacknowledged P1 incidents that joined the storm after the summary was drawn. */
  joinedLater: number;
}

/**
 * What commands, buttons and other modules may do with incidents. Every change commits the incident, its
 * audit rows, its messages and its SLA deadlines in one transaction. Reads run as statements of their own:
 * never call them inside a transaction without passing it (where they take one), since on SQLite a
 * statement of its own waits for the connection that transaction holds, forever.
 */
export class IncidentFacade {
  constructor(private readonly opts: IncidentFacadeOptions) {}

  /**
   * Opens an incident of Waygate's own (no PagerDuty routing key to raise one there): the same card,
   * buttons, SLA and escalation as a PagerDuty incident. One per `key` while it is open. Runs in the
   * caller's transaction `ex` (in one of its own when `ex` is not a transaction).
   */
  async openLocal(ex: Executor, opts: { key: string; title: string; service: string; priority: Priority; at: number }): Promise<Incident> {
    const { repo, data } = this.opts;
    return data.within(ex, async (tx) => {
      const open = await repo.openLocal(tx, opts.key);
      if (open) return open;
      const id = `${LOCAL_INCIDENT_PREFIX}${opts.key}:${opts.at}`;
      await this.applyLocal(tx, {
        eventId: `${id}:triggered`,
        type: 'incident.triggered',
        occurredAt: opts.at,
        agentName: 'Waygate',
        incidentId: id,
        incident: {
          id,
          number: await repo.nextLocalNumber(tx),
          title: opts.title,
          status: 'triggered',
          priorityName: opts.priority,
          urgency: 'high',
          service: opts.service,
          htmlUrl: null,
          assignees: [],
          createdAt: opts.at,
          incidentKey: opts.key,
        },
      });
      return (await repo.get(tx, id))!;
    });
  }

  /**
   * Resolves the open incident of Waygate's own under `key` (the service recovered); false when none is open.
   * Runs in the caller's transaction `ex` (in one of its own when `ex` is not a transaction).
   */
  async resolveLocal(ex: Executor, key: string, at: number, by: string): Promise<boolean> {
    const { repo, data } = this.opts;
    return data.within(ex, async (tx) => {
      const open = await repo.openLocal(tx, key);
      if (!open) return false;
      await this.applyLocal(tx, {
        eventId: `${open.id}:resolved:${at}`,
        type: 'incident.resolved',
        occurredAt: at,
        agentName: by,
        incidentId: open.id,
        incident: { id: open.id, number: open.number, title: open.title, status: 'resolved', priorityName: open.pd_priority, urgency: open.urgency, service: open.service, htmlUrl: null, assignees: [], createdAt: open.created_at, incidentKey: key },
      });
      return true;
    });
  }

  private async applyLocal(tx: Executor, event: IncidentEvent): Promise<void> {
    const now = this.opts.clock.nowMs();
    const { changes } = await this.opts.lifecycle.applyEvent(tx, event, now);
    await this.opts.follow(tx, changes, now);
  }

  /**
   * Declares an incident from Slack (`/waygate trigger`): through the Events API when a routing key is
   * configured (PagerDuty opens it, and its webhook brings the card), otherwise as an incident of Waygate's own.
   */
  async declare(opts: { priority: Priority; title: string; slackUser: string }): Promise<Declared> {
    const { data, clock, repo, audit, outbox, routingKey } = this.opts;
    const now = clock.nowMs();
    if (routingKey) {
      const dedupKey = declaredKey();
      await data.transaction(async (tx) => {
        await repo.declare(tx, { dedup_key: dedupKey, slack_user: opts.slackUser, priority: opts.priority, title: opts.title, created_at: now });
        await audit.record(tx, { actor: opts.slackUser, action: 'incident.declared', subject: opts.priority, details: { title: opts.title, dedupKey, via: 'pagerduty' } });
        await outbox.enqueue(tx, {
          kind: 'pd_event',
          payload: {
            routing_key: routingKey,
            event_action: 'trigger',
            dedup_key: dedupKey,
            payload: {
              summary: opts.title,
              source: 'Waygate (declared in Slack)',
              severity: SEVERITY[opts.priority],
              timestamp: new Date(now).toISOString(),
              custom_details: { priority: opts.priority, declared_by_slack_user: opts.slackUser },
            },
          },
        });
      });
      return { via: 'pagerduty', dedupKey };
    }
    return data.transaction(async (tx): Promise<Declared> => {
      const key = declaredKey();
      const incident = await this.openLocal(tx, { key, title: opts.title, service: 'declared in Slack', priority: opts.priority, at: now });
      await audit.record(tx, { actor: opts.slackUser, action: 'incident.declared', subject: `#${incident.number}`, details: { id: incident.id, title: opts.title, via: 'local' } });
      await this.opts.follow(tx, [{ kind: 'note', incidentId: incident.id, text: `📣 Declared from Slack by <@${opts.slackUser}>.` }], now);
      return { via: 'local', incident };
    });
  }

  /** Whether changes made here to this incident go to PagerDuty too (it is PagerDuty's, and a token is set). */
  syncsToPagerDuty(incident: Incident): boolean {
    return this.opts.lifecycle.synced(incident);
  }

  /** Adds a note (thread, and PagerDuty's log when it is PagerDuty's). */
  addNote(id: string, slackUser: string, content: string): Promise<SlackEdit> {
    return this.edit(id, async (tx, incident, now) => ({ changes: await this.opts.lifecycle.noteFromSlack(tx, incident, slackUser, content, now) }), { allowResolved: true });
  }

  /** Assigns it to a Slack user (in PagerDuty, the user with that user's e-mail). */
  reassign(id: string, slackUser: string, assignee: string): Promise<SlackEdit> {
    return this.edit(id, async (tx, incident, now) => {
      if (incident.assigned_slack === assignee) return null;
      const changes = await this.opts.lifecycle.reassignFromSlack(tx, incident, slackUser, assignee, now);
      if (assignee !== slackUser) {
        const state = incident.status === 'triggered' ? ' It is not acknowledged yet.' : '';
        await this.opts.outbox.enqueue(tx, {
          kind: 'post',
          payload: { channel: assignee, text: `👤 <@${slackUser}> assigned ${incident.priority} ${incidentLink(incident)} to you.${state} Its thread is in the alerts channel; \`/waygate ack ${incident.number}\` acknowledges it.` },
          urgent: true,
        });
      }
      return { changes };
    });
  }

  /** Changes its priority; an unacknowledged incident's SLA is re-computed for the new one. */
  setPriority(id: string, slackUser: string, priority: Priority): Promise<SlackEdit> {
    return this.edit(id, async (tx, incident, now) =>
      incident.priority === priority ? null : { changes: await this.opts.lifecycle.priorityFromSlack(tx, incident, slackUser, priority, now) },
    );
  }

  /** Calls the next escalation step's audiences now. */
  escalateNow(id: string, slackUser: string): Promise<SlackEdit> {
    return this.edit(id, async (tx, incident, now) => {
      await this.opts.sla.escalateNow(tx, incident, slackUser, now);
      return { changes: [] };
    });
  }

  /** One change from Slack in one transaction; `change` returns null when there is nothing to change. */
  private async edit(
    id: string,
    change: (tx: Transaction<Schema>, incident: Incident, now: number) => Promise<{ changes: Change[] } | null>,
    opts: { allowResolved?: boolean } = {},
  ): Promise<SlackEdit> {
    const { data, clock, repo, follow } = this.opts;
    return data.transaction(async (tx): Promise<SlackEdit> => {
      const incident = await repo.get(tx, id);
      if (!incident) throw new Error(`no incident ${id}`);
      if (incident.status === 'resolved' && !opts.allowResolved) return { outcome: 'resolved', incident };
      const now = clock.nowMs();
      const done = await change(tx, incident, now);
      if (!done) return { outcome: 'unchanged', incident };
      await follow(tx, done.changes, now);
      return { outcome: 'done', incident: (await repo.get(tx, id)) ?? incident };
    });
  }

  acknowledge(ids: readonly string[], slackUser: string, responseUrl?: string): Promise<ChangeResult[]> {
    return this.changeFromSlack(ids, slackUser, responseUrl, 'acknowledged');
  }

  resolve(ids: readonly string[], slackUser: string, responseUrl?: string): Promise<ChangeResult[]> {
    return this.changeFromSlack(ids, slackUser, responseUrl, 'resolved');
  }

  /**
   * Records an acknowledgement of more incidents than one transaction should hold (call it before the ack)
   * and returns the work: batches of BULK_BATCH, each its own transaction, yielding to the event loop in
   * between, then `report` to the response_url. Up to BULK_BATCH incidents, use acknowledge().
   */
  acknowledgeLater(request: {
    ids: readonly string[];
    slackUser: string;
    responseUrl: string;
    what: string;
    report: (results: ChangeResult[]) => MessageContent;
  }): Promise<() => Promise<void>> {
    return this.opts.bulk.queue(request);
  }

  /** How many incidents one transaction changes; more go through acknowledgeLater(). */
  get batchSize(): number {
    return BULK_BATCH;
  }

  private async changeFromSlack(ids: readonly string[], slackUser: string, responseUrl: string | undefined, to: SlackChange): Promise<ChangeResult[]> {
    const { data, clock, lifecycle, follow } = this.opts;
    return data.transaction(async (tx) => {
      const now = clock.nowMs();
      const { results, changes } = await lifecycle.changeFromSlack(tx, ids, slackUser, responseUrl, to, now);
      await follow(tx, changes, now);
      return results;
    });
  }

  /** Whether a storm summary drawn when `rev` incidents had joined the storm describes this storm. */
  async stormShown(stormId: number, rev: number): Promise<boolean> {
    const { repo, data } = this.opts;
    return (await repo.getStorm(data.db, stormId)) !== undefined && rev <= (await repo.stormSize(data.db, stormId));
  }

  /**
   * The unacknowledged P1 incidents among the first `rev` members of a storm (what its summary showed when
   * drawn), and how many joined later: those are left alone, and the clicker hears of them.
   */
  async stormP1(stormId: number, rev: number): Promise<StormTargets> {
    const { repo, data } = this.opts;
    // One transaction: both reads see the storm as it was at one moment.
    return data.transaction(async (tx) => ({
      shown: await repo.stormTriggered(tx, stormId, 'P1', 0, rev),
      joinedLater: (await repo.stormTriggered(tx, stormId, 'P1', rev, Number.MAX_SAFE_INTEGER)).length,
    }));
  }

  /** PagerDuty accepted (or finally refused) a change made in Slack: the alert says so. */
  async pagerDutySynced(incidentId: string, ok: boolean): Promise<void> {
    const { data, clock, lifecycle, follow } = this.opts;
    await data.transaction(async (tx) => {
      const now = clock.nowMs();
      await follow(tx, await lifecycle.pagerDutySynced(tx, incidentId, ok, now), now);
    });
  }

  /** PagerDuty took a change made in Slack for many incidents at once. */
  async pagerDutySyncedMany(ids: readonly string[], status: SlackChange): Promise<void> {
    const { data, clock, lifecycle, follow } = this.opts;
    await data.transaction(async (tx) => {
      const now = clock.nowMs();
      await follow(tx, await lifecycle.pagerDutySyncedMany(tx, ids, status, now), now);
    });
  }

  /** PagerDuty refused a change for many incidents at once: sends it again one incident at a time; returns how many. */
  async pagerDutyRetryOneByOne(ids: readonly string[], status: SlackChange, slackUser: string): Promise<number> {
    const { data, clock, lifecycle, follow } = this.opts;
    return data.transaction(async (tx) => {
      const changes = await lifecycle.pagerDutyBulkRefused(tx, ids, status, slackUser);
      await follow(tx, changes, clock.nowMs());
      return changes.length;
    });
  }

  /** Commits a verified PagerDuty event before the webhook is answered. */
  accept(event: IncidentEvent): Promise<'accepted' | 'duplicate'> {
    return this.opts.ingest.accept(event);
  }

  /** Open incidents, most urgent first; `ex`: the caller's transaction, if it is in one. */
  open(priority?: Priority, ex: Executor = this.opts.data.db): Promise<Incident[]> {
    return this.opts.repo.listOpen(ex, priority);
  }

  /** The unacknowledged incidents of a priority (id and number only), oldest first. */
  unacknowledged(priority: Priority): Promise<Array<Pick<Incident, 'id' | 'number'>>> {
    return this.opts.repo.unacknowledged(this.opts.data.db, priority);
  }

  get(id: string): Promise<Incident | undefined> {
    return this.opts.repo.get(this.opts.data.db, id);
  }

  findByNumber(number: number): Promise<Incident | undefined> {
    return this.opts.repo.getByNumber(this.opts.data.db, number);
  }

  acksOf(id: string): ReturnType<IncidentRepository['acksOf']> {
    return this.opts.repo.acksOf(this.opts.data.db, id);
  }

  /** Incidents opened in [since, until), oldest first; `ex`: the caller's transaction, if it is in one. */
  openedBetween(since: number, until: number, ex: Executor = this.opts.data.db): Promise<Incident[]> {
    return this.opts.repo.openedBetween(ex, since, until);
  }

  countRecent(since: number): ReturnType<IncidentRepository['countRecent']> {
    return this.opts.repo.countRecent(this.opts.data.db, since);
  }

  /** Per priority, of the incidents opened in [since, until): counts, MTTA, MTTR and SLA breaches. */
  responseFigures(since: number, until: number): ReturnType<IncidentRepository['responseFigures']> {
    return this.opts.repo.responseFigures(this.opts.data.db, since, until);
  }

  /** Webhook events accepted but not yet applied (normally 0; grows briefly in a flood); synchronous, for /health. */
  inboxPending(): Promise<number> {
    return this.opts.ingest.inbox.pendingCount(this.opts.data.db);
  }

  /** Forgets records of changes sent to PagerDuty (echoes, declarations) that it never answered, in the caller's transaction. */
  pruneSlackChanges(ex: Executor, olderThan: number): Promise<number> {
    return this.opts.repo.pruneSlackChanges(ex, olderThan);
  }

  /** Forgets applied webhook event ids older than the cut-off, in the caller's transaction; unapplied ones stay. */
  pruneInbox(ex: Executor, olderThan: number): Promise<number> {
    return this.opts.ingest.inbox.prune(ex, olderThan);
  }

  /**
   * A bounded account of many acknowledgements, whatever their number: how many, the first ten by number,
   * and how many were left as they were.
   */
  describeAcks(results: readonly ChangeResult[], what: string): string[] {
    const done = results.flatMap((r) => (r.outcome === 'acknowledged' ? [r.incident] : []));
    const skipped = results.length - done.length;
    const lines = [done.length === 0 ? `Nothing was acknowledged.` : `✅ Acknowledged ${formatCount(done.length)} ${what}: ${listNumbers(done)}.`];
    if (skipped > 0) lines.push(`${formatCount(skipped)} ${skipped === 1 ? 'was' : 'were'} acknowledged or resolved by someone else first, and left as ${skipped === 1 ? 'it was' : 'they were'}.`);
    return lines;
  }

  describeAck(result: ChangeResult): string {
    switch (result.outcome) {
      case 'not_found':
        return `No incident ${result.id}.`;
      case 'already_acknowledged':
        return `${incidentLink(result.incident)} was already acknowledged by ${who(result.incident.acknowledged_by, result.incident.acknowledged_source)}.`;
      case 'already_resolved':
        return `${incidentLink(result.incident)} is already resolved.`;
      case 'acknowledged': {
        const i = result.incident;
        const took = formatDuration((i.acknowledged_at ?? 0) - i.created_at);
        const sla = i.sla_state === 'met' ? 'within SLA' : 'outside SLA';
        return `✅ Acknowledged ${i.priority} ${incidentLink(i)} after ${took} (${sla}).`;
      }
      case 'resolved':
        return `☑️ Resolved ${result.incident.priority} ${incidentLink(result.incident)}.`;
    }
  }
}
