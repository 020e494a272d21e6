import type { Db } from '../db/database.js';
import type { Clock } from '../clock/clock.js';
import type { Priority } from '../config/sla-schema.js';
import { incidentLink, who } from './alert-message.js';
import type { Incident, IncidentRepository } from './incident-repository.js';
import type { Change, ChangeResult, IncidentLifecycle, SlackChange } from './lifecycle.js';
import type { IncidentIngest } from './ingest.js';
import type { IncidentEvent } from './events.js';
import { formatDuration } from '../core/text.js';

export type { ChangeResult as AckResult } from './lifecycle.js';

export interface IncidentFacadeOptions {
  db: Db;
  clock: Clock;
  repo: IncidentRepository;
  lifecycle: IncidentLifecycle;
  ingest: IncidentIngest;
  follow: (changes: readonly Change[], now: number) => void;
}

/**
 * What commands, buttons and other modules may do with incidents. Every change commits the incident, its
 * audit rows, its messages and its SLA deadlines in one transaction.
 */
export class IncidentFacade {
  constructor(private readonly opts: IncidentFacadeOptions) {}

  acknowledge(ids: readonly string[], slackUser: string, responseUrl?: string): ChangeResult[] {
    return this.changeFromSlack(ids, slackUser, responseUrl, 'acknowledged');
  }

  resolve(ids: readonly string[], slackUser: string, responseUrl?: string): ChangeResult[] {
    return this.changeFromSlack(ids, slackUser, responseUrl, 'resolved');
  }

  private changeFromSlack(ids: readonly string[], slackUser: string, responseUrl: string | undefined, to: SlackChange): ChangeResult[] {
    const { db, clock, lifecycle, follow } = this.opts;
    return db.transaction(() => {
      const now = clock.nowMs();
      const { results, changes } = lifecycle.changeFromSlack(ids, slackUser, responseUrl, to, now);
      follow(changes, now);
      return results;
    })();
  }

  /** Whether a storm summary drawn when `rev` incidents had joined the storm describes this storm. */
  stormShown(stormId: number, rev: number): boolean {
    return this.opts.repo.getStorm(stormId) !== undefined && rev <= this.opts.repo.stormSize(stormId);
  }

  /**
   * Acknowledges the unacknowledged P1 incidents among the first `rev` members of a storm: what its summary
   * showed when drawn. P1 incidents that joined later are left alone and counted, so the clicker hears of them.
   */
  acknowledgeStormP1(stormId: number, rev: number, slackUser: string, responseUrl?: string): { results: ChangeResult[]; joinedLater: number } {
    const { repo } = this.opts;
    const shown = repo.stormTriggered(stormId, 'P1', 0, rev);
    const joinedLater = repo.stormTriggered(stormId, 'P1', rev, Number.MAX_SAFE_INTEGER).length;
    return { results: this.acknowledge(shown.map((i) => i.id), slackUser, responseUrl), joinedLater };
  }

  /** PagerDuty accepted (or finally refused) a change made in Slack: the alert says so. */
  pagerDutySynced(incidentId: string, ok: boolean): void {
    const { db, clock, lifecycle, follow } = this.opts;
    db.transaction(() => {
      const now = clock.nowMs();
      follow(lifecycle.pagerDutySynced(incidentId, ok, now), now);
    })();
  }

  /** Commits a verified PagerDuty event before the webhook is answered. */
  accept(event: IncidentEvent): Promise<'accepted' | 'duplicate'> {
    return this.opts.ingest.accept(event);
  }

  open(priority?: Priority): Incident[] {
    return this.opts.repo.listOpen(priority);
  }

  get(id: string): Incident | undefined {
    return this.opts.repo.get(id);
  }

  findByNumber(number: number): Incident | undefined {
    return this.opts.repo.getByNumber(number);
  }

  acksOf(id: string): ReturnType<IncidentRepository['acksOf']> {
    return this.opts.repo.acksOf(id);
  }

  countRecent(since: number): ReturnType<IncidentRepository['countRecent']> {
    return this.opts.repo.countRecent(since);
  }

  /** Webhook events accepted but not yet applied (normally 0; grows briefly in a flood). */
  inboxPending(): number {
    return this.opts.ingest.inbox.pendingCount();
  }

  /** Forgets applied webhook event ids older than the cut-off; unapplied ones stay. */
  pruneInbox(olderThan: number): number {
    return this.opts.ingest.inbox.prune(olderThan);
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
