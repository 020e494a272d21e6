import type { Db } from '../db/database.js';
import type { Clock } from '../clock/clock.js';
import type { Outbox } from '../outbox/outbox.js';
import { PAGERDUTY_BULK_LIMIT, type MessageContent } from '../outbox/types.js';
import { lanes, messageKeys, type MessageKey } from '../core/keys.js';
import type { Incident, IncidentRepository } from './incident-repository.js';
import { renderAlert } from './alert-message.js';
import { renderStorm, STORM_SUMMARY_LIMITS } from './storm-message.js';
import type { Change } from './lifecycle.js';

/** Incidents listed by number in one grouped message, at most. */
const GROUP_LISTED = 300;

export interface AlertPublisherOptions {
  db: Db;
  repo: IncidentRepository;
  clock: Clock;
  outbox: Outbox;
  alertsChannel: string | undefined;
  stormThreshold: number;
  /** The Slack user on call now, shown on unacknowledged alerts. */
  onCall?: () => string | undefined;
  /** The config's `links:` as one mrkdwn line, shown on open alerts. */
  links?: string;
  /** Deployments of the last 24 h (SOP-MON-001's initial assessment), as a line for open alert cards. */
  recentChanges?: () => string;
}

/**
 * Mirrors incidents into Slack: turns lifecycle changes into outbox messages (alerts, thread notes, updates,
 * PagerDuty status changes), and folds alerts into one storm summary while the alerts channel is backed up.
 * Called inside the transaction of the change, so a change and its messages commit together.
 */
export class AlertPublisher {
  constructor(private readonly opts: AlertPublisherOptions) {}

  publish(changes: readonly Change[], now: number): void {
    const toPagerDuty: Array<Extract<Change, { kind: 'to_pagerduty' }>> = [];
    for (const change of changes) {
      switch (change.kind) {
        case 'opened':
          this.announce(change.incidentId, now);
          break;
        case 'changed':
          this.refresh(change.incidentId);
          break;
        case 'note': {
          const incident = this.opts.repo.get(change.incidentId);
          if (incident) this.threadNote(incident, change.text, change.urgent, false, change.key);
          break;
        }
        case 'pd_change': {
          const incident = this.opts.repo.get(change.incidentId);
          if (!incident) break;
          // The line was posted only where the incident has a channel.
          const line = change.line && incident.alert_channel ? { ...change.line, channel: incident.alert_channel } : undefined;
          this.opts.outbox.enqueueSync({
            kind: 'pd_change',
            payload: { incidentId: incident.id, number: incident.number, change: change.change, slackUser: change.slackUser, ...(line ? { line } : {}) },
          });
          break;
        }
        case 'to_pagerduty':
          toPagerDuty.push(change);
          break;
      }
    }
    this.tellPagerDuty(toPagerDuty);
  }

  /**
   * One call per incident, or, for many incidents changed by one person at once, PagerDuty's bulk update
   * (250 to a call): a bulk acknowledgement of thousands would otherwise take thousands of rate-limited calls.
   */
  private tellPagerDuty(changes: ReadonlyArray<Extract<Change, { kind: 'to_pagerduty' }>>): void {
    const groups = new Map<string, Array<Extract<Change, { kind: 'to_pagerduty' }>>>();
    for (const change of changes) {
      if (change.alone) {
        this.tellPagerDutyAlone(change);
        continue;
      }
      const key = JSON.stringify([change.status, change.slackUser, change.responseUrl ?? null]);
      const group = groups.get(key);
      if (group) group.push(change);
      else groups.set(key, [change]);
    }
    for (const group of groups.values()) {
      const [first] = group;
      if (!first) continue;
      if (group.length === 1) {
        this.tellPagerDutyAlone(first);
        continue;
      }
      for (let i = 0; i < group.length; i += PAGERDUTY_BULK_LIMIT) {
        this.opts.outbox.enqueueSync({
          kind: 'pd_status_bulk',
          payload: {
            incidentIds: group.slice(i, i + PAGERDUTY_BULK_LIMIT).map((c) => c.incidentId),
            status: first.status,
            slackUser: first.slackUser,
            // One row tells the user about trouble: Slack takes only a few messages per response_url.
            ...(i === 0 && first.responseUrl ? { responseUrl: first.responseUrl } : {}),
          },
        });
      }
    }
  }

  private tellPagerDutyAlone(change: Extract<Change, { kind: 'to_pagerduty' }>): void {
    const incident = this.opts.repo.get(change.incidentId);
    if (!incident) return;
    this.opts.outbox.enqueueSync({
      kind: 'pd_status',
      payload: {
        incidentId: change.incidentId,
        number: incident.number,
        status: change.status,
        slackUser: change.slackUser,
        ...(change.responseUrl ? { responseUrl: change.responseUrl } : {}),
      },
    });
  }

  /**
   * A line in the alert's thread, or in the channel when the alert has no message yet. `urgent` (reminders,
   * escalations, a reopened incident) lets it overtake everything else queued in the channel.
   */
  /** `broadcast`: also shown in the channel, so the people it mentions are notified. */
  threadNote(incident: Incident, text: string, urgent = false, broadcast = false, messageKey?: MessageKey): void {
    const channel = incident.alert_channel;
    if (!channel) return;
    this.opts.outbox.enqueueSync({
      ...(messageKey ? { messageKey } : {}),
      kind: 'post',
      payload: incident.alert_posted
        ? { channel, text, threadKey: messageKeys.incident(incident.id), ...(broadcast ? { broadcast } : {}) }
        : { channel, text: `${incident.priority} #${incident.number}: ${text}` },
      ...(urgent ? { urgent } : {}),
    });
  }

  postTo(channel: string, text: string, urgent = false): void {
    this.opts.outbox.enqueueSync({ kind: 'post', payload: { channel, text }, ...(urgent ? { urgent } : {}) });
  }

  /** A message in the alerts channel. */
  post(text: string, fallbackChannel?: string | null, urgent = false): void {
    const channel = this.opts.alertsChannel ?? fallbackChannel;
    if (channel) this.postTo(channel, text, urgent);
  }

  /**
   * One message for many incidents at once (a storm's reminders or breaches), listing them by priority and
   * number, instead of one message each that would queue behind Slack's pace for minutes.
   */
  groupNote(headline: string, incidents: readonly Incident[], urgent = false): void {
    const listed = incidents.slice(0, GROUP_LISTED).map((i) => `${i.priority} #${i.number}`).join(', ');
    const more = incidents.length > GROUP_LISTED ? ` and ${incidents.length - GROUP_LISTED} more` : '';
    this.post(`${headline}\n${listed}${more}`, incidents[0]?.alert_channel, urgent);
  }

  /**
   * Posts the alert, or folds it into a storm summary when alerts are backed up. Only urgent rows count:
   * card refreshes and other messages queued in the channel let a new alert pass.
   */
  private announce(incidentId: string, now: number): void {
    const { alertsChannel: channel, repo, outbox, stormThreshold } = this.opts;
    if (!channel) return;
    let storm = repo.activeStorm(channel);
    if (!storm && outbox.urgentPendingInLane(lanes.channel(channel), stormThreshold) < stormThreshold) {
      this.postAlert(incidentId);
      return;
    }
    const starting = !storm;
    storm ??= repo.startStorm(channel, now);
    repo.joinStorm(incidentId, storm.id);
    if (starting) {
      const content = renderStorm(storm, repo.stormSummary(storm.id, STORM_SUMMARY_LIMITS));
      outbox.enqueueSync({ kind: 'post', payload: { channel, ...content }, messageKey: messageKeys.storm(storm.id), urgent: true });
    } else {
      this.updateStorm(channel, storm.id);
    }
  }

  private postAlert(incidentId: string): void {
    const channel = this.opts.alertsChannel;
    if (!channel) return;
    this.opts.repo.update(incidentId, { alert_posted: 1, alert_channel: channel });
    const incident = this.opts.repo.get(incidentId);
    if (!incident) return;
    this.opts.outbox.enqueueSync({ kind: 'post', payload: { channel, ...renderAlert(incident, this.opts.onCall?.(), this.opts.links, this.opts.recentChanges?.()) }, messageKey: messageKeys.incident(incidentId), urgent: true });
  }

  /**
   * During a storm, called whenever the alerts channel has nothing queued: posts the next incident that
   * only the summary shows, or closes the storm when none is left.
   */
  drainStorm(): void {
    const { alertsChannel: channel, repo, outbox, db, clock } = this.opts;
    if (!channel || outbox.pendingInLane(lanes.channel(channel)) > 0) return;
    db.transaction(() => {
      const storm = repo.activeStorm(channel);
      if (!storm) return;
      const next = repo.nextUnposted(storm.id);
      if (next) {
        this.postAlert(next.id);
        return;
      }
      repo.endStorm(storm.id, clock.nowMs());
      const ended = { ...storm, ended_at: clock.nowMs() };
      outbox.enqueueSync({
        kind: 'update',
        payload: { channel, messageKey: messageKeys.storm(storm.id), ...renderStorm(ended, repo.stormSummary(storm.id, STORM_SUMMARY_LIMITS)) },
      });
    })();
  }

  /** Whether an outbox lane is the alerts channel's (its deliveries may let a storm drain). */
  isAlertsLane(lane: string): boolean {
    return this.opts.alertsChannel !== undefined && lane === lanes.channel(this.opts.alertsChannel);
  }

  /** Re-renders an incident's alert (and its storm summary) after a change. */
  private refresh(incidentId: string): void {
    const incident = this.opts.repo.get(incidentId);
    if (!incident?.alert_channel) return;
    if (incident.alert_posted) {
      this.opts.outbox.enqueueSync({
        kind: 'update',
        payload: { channel: incident.alert_channel, messageKey: messageKeys.incident(incidentId), ...renderAlert(incident, this.opts.onCall?.(), this.opts.links, this.opts.recentChanges?.()) },
      });
    }
    if (incident.storm_id !== null) {
      const storm = this.opts.repo.activeStorm(incident.alert_channel);
      if (storm?.id === incident.storm_id) this.updateStorm(incident.alert_channel, storm.id);
    }
  }

  /**
   * Storm summaries change with every alert in a storm: queue one deferred update (rendered when sent, at
   * most once per pacing interval) instead of rendering hundreds of incidents per webhook.
   */
  private updateStorm(channel: string, stormId: number): void {
    const key = messageKeys.storm(stormId);
    this.opts.outbox.enqueueDeferredUpdateSync({ channel, messageKey: key, renderKey: key });
  }

  /** Renders a deferred storm update; null for keys that name no storm. */
  renderStorm(renderKey: MessageKey): MessageContent | null {
    const match = /^storm:(\d+)$/.exec(renderKey);
    if (!match) return null;
    const storm = this.opts.repo.getStorm(Number(match[1]));
    return storm ? renderStorm(storm, this.opts.repo.stormSummary(storm.id, STORM_SUMMARY_LIMITS)) : null;
  }
}
