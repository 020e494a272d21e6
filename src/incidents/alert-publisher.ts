import type { DataLayer, Executor } from '../db/data-layer.js';
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
  data: DataLayer;
  repo: IncidentRepository;
  clock: Clock;
  outbox: Outbox;
  alertsChannel: string | undefined;
  stormThreshold: number;
  /** The Slack user on call now, shown on unacknowledged alerts. */
  onCall?: (ex: Executor) => Promise<string | undefined>;
  /** The config's `links:` as one mrkdwn line, shown on open alerts. */
  links?: string;
  /** Deployments of the last 24 h (SOP-MON-001's initial assessment), as a line for open alert cards. */
  recentChanges?: (ex: Executor) => Promise<string>;
}

/**
 * Mirrors incidents into Slack: turns lifecycle changes into outbox messages (alerts, thread notes, updates,
 * PagerDuty status changes), and folds alerts into one storm summary while the alerts channel is backed up.
 * Called inside the transaction of the change, so a change and its messages commit together.
 */
export class AlertPublisher {
  constructor(private readonly opts: AlertPublisherOptions) {}

  async publish(tx: Executor, changes: readonly Change[], now: number): Promise<void> {
    const toPagerDuty: Array<Extract<Change, { kind: 'to_pagerduty' }>> = [];
    // Changes that only redraw (a bulk acknowledgement's hundreds) read their incidents in one go; anything
    // else may change an incident on the way (announcing one posts it), so each reads it when its turn comes.
    const redrawOnly = changes.every((c) => c.kind === 'changed' || c.kind === 'to_pagerduty');
    const read = redrawOnly ? await this.opts.repo.getMany(tx, changes.filter((c) => c.kind === 'changed').map((c) => c.incidentId)) : undefined;
    for (const change of changes) {
      switch (change.kind) {
        case 'opened':
          await this.announce(tx, change.incidentId, now);
          break;
        case 'changed':
          await this.refresh(tx, read ? read.get(change.incidentId) : await this.opts.repo.get(tx, change.incidentId));
          break;
        case 'note': {
          const incident = await this.opts.repo.get(tx, change.incidentId);
          if (incident) await this.threadNote(tx, incident, change.text, change.urgent, false, change.key);
          break;
        }
        case 'pd_change': {
          const incident = await this.opts.repo.get(tx, change.incidentId);
          if (!incident) break;
          // The line was posted only where the incident has a channel.
          const line = change.line && incident.alert_channel ? { ...change.line, channel: incident.alert_channel } : undefined;
          await this.opts.outbox.enqueue(tx, {
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
    await this.tellPagerDuty(tx, toPagerDuty);
  }

  /**
   * One call per incident, or, for many incidents changed by one person at once, PagerDuty's bulk update
   * (250 to a call): a bulk acknowledgement of thousands would otherwise take thousands of rate-limited calls.
   */
  private async tellPagerDuty(tx: Executor, changes: ReadonlyArray<Extract<Change, { kind: 'to_pagerduty' }>>): Promise<void> {
    const groups = new Map<string, Array<Extract<Change, { kind: 'to_pagerduty' }>>>();
    for (const change of changes) {
      if (change.alone) {
        await this.tellPagerDutyAlone(tx, change);
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
        await this.tellPagerDutyAlone(tx, first);
        continue;
      }
      for (let i = 0; i < group.length; i += PAGERDUTY_BULK_LIMIT) {
        await this.opts.outbox.enqueue(tx, {
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

  private async tellPagerDutyAlone(tx: Executor, change: Extract<Change, { kind: 'to_pagerduty' }>): Promise<void> {
    const incident = await this.opts.repo.get(tx, change.incidentId);
    if (!incident) return;
    await this.opts.outbox.enqueue(tx, {
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
  async threadNote(tx: Executor, incident: Incident, text: string, urgent = false, broadcast = false, messageKey?: MessageKey): Promise<void> {
    const channel = incident.alert_channel;
    if (!channel) return;
    await this.opts.outbox.enqueue(tx, {
      ...(messageKey ? { messageKey } : {}),
      kind: 'post',
      payload: incident.alert_posted
        ? { channel, text, threadKey: messageKeys.incident(incident.id), ...(broadcast ? { broadcast } : {}) }
        : { channel, text: `${incident.priority} #${incident.number}: ${text}` },
      ...(urgent ? { urgent } : {}),
    });
  }

  async postTo(tx: Executor, channel: string, text: string, urgent = false): Promise<void> {
    await this.opts.outbox.enqueue(tx, { kind: 'post', payload: { channel, text }, ...(urgent ? { urgent } : {}) });
  }

  /** A message in the alerts channel. */
  async post(tx: Executor, text: string, fallbackChannel?: string | null, urgent = false): Promise<void> {
    const channel = this.opts.alertsChannel ?? fallbackChannel;
    if (channel) await this.postTo(tx, channel, text, urgent);
  }

  /**
   * One message for many incidents at once (a storm's reminders or breaches), listing them by priority and
   * number, instead of one message each that would queue behind Slack's pace for minutes.
   */
  async groupNote(tx: Executor, headline: string, incidents: readonly Incident[], urgent = false): Promise<void> {
    const listed = incidents.slice(0, GROUP_LISTED).map((i) => `${i.priority} #${i.number}`).join(', ');
    const more = incidents.length > GROUP_LISTED ? ` and ${incidents.length - GROUP_LISTED} more` : '';
    await this.post(tx, `${headline}\n${listed}${more}`, incidents[0]?.alert_channel, urgent);
  }

  /**
   * Posts the alert, or folds it into a storm summary when alerts are backed up. Only urgent rows count:
   * card refreshes and other messages queued in the channel let a new alert pass.
   */
  private async announce(tx: Executor, incidentId: string, now: number): Promise<void> {
    const { alertsChannel: channel, repo, outbox, stormThreshold } = this.opts;
    if (!channel) return;
    await this.stormTurn(tx);
    let storm = await repo.activeStorm(tx, channel);
    if (!storm && (await outbox.urgentPendingInLane(lanes.channel(channel), stormThreshold, tx)) < stormThreshold) {
      await this.postAlert(tx, incidentId);
      return;
    }
    const starting = !storm;
    storm ??= await repo.startStorm(tx, channel, now);
    await repo.joinStorm(tx, incidentId, storm.id);
    if (starting) {
      const content = renderStorm(storm, await repo.stormSummary(tx, storm.id, STORM_SUMMARY_LIMITS));
      await outbox.enqueue(tx, { kind: 'post', payload: { channel, ...content }, messageKey: messageKeys.storm(storm.id), urgent: true });
    } else {
      await this.updateStorm(tx, channel, storm.id);
    }
  }

  private async postAlert(tx: Executor, incidentId: string): Promise<void> {
    const channel = this.opts.alertsChannel;
    if (!channel) return;
    await this.opts.repo.update(tx, incidentId, { alert_posted: 1, alert_channel: channel });
    const incident = await this.opts.repo.get(tx, incidentId);
    if (!incident) return;
    await this.opts.outbox.enqueue(tx, { kind: 'post', payload: { channel, ...(await this.render(tx, incident)) }, messageKey: messageKeys.incident(incidentId), urgent: true });
  }

  /**
   * During a storm, called whenever the alerts channel has nothing queued: posts the next incident that
   * only the summary shows, or closes the storm when none is left.
   */
  async drainStorm(): Promise<void> {
    const { alertsChannel: channel, repo, outbox, data, clock } = this.opts;
    if (!channel || (await outbox.pendingInLane(lanes.channel(channel))) > 0) return;
    await data.transaction(async (tx) => {
      // Looked at again once it is this drain's turn: another may have posted meanwhile.
      await this.stormTurn(tx);
      if ((await outbox.pendingInLane(lanes.channel(channel), tx)) > 0) return;
      const storm = await repo.activeStorm(tx, channel);
      if (!storm) return;
      const next = await repo.nextUnposted(tx, storm.id);
      if (next) {
        await this.postAlert(tx, next.id);
        return;
      }
      await repo.endStorm(tx, storm.id, clock.nowMs());
      const ended = { ...storm, ended_at: clock.nowMs() };
      await outbox.enqueue(tx, {
        kind: 'update',
        payload: { channel, messageKey: messageKeys.storm(storm.id), ...renderStorm(ended, await repo.stormSummary(tx, storm.id, STORM_SUMMARY_LIMITS)) },
      });
    });
  }

  /**
   * Alerts joining a storm, and the drain posting its next one or ending it, take turns until their transactions
   * end: the writers' turn, as both queue messages anyway (a lock of their own, taken after a transaction had
   * queued some, could deadlock with it). SQLite has one writer; on PostgreSQL a drain could otherwise end the
   * storm while an incident joins it (that incident's alert would never be posted), or two drains post the
   * same alert.
   */
  private async stormTurn(ex: Executor): Promise<void> {
    await this.opts.data.writerTurn(ex);
  }

  /** Whether an outbox lane is the alerts channel's (its deliveries may let a storm drain). */
  isAlertsLane(lane: string): boolean {
    return this.opts.alertsChannel !== undefined && lane === lanes.channel(this.opts.alertsChannel);
  }

  /** An incident's card, with who is on call and the recent production changes as they stand in `tx`. */
  private async render(tx: Executor, incident: Incident): Promise<MessageContent> {
    return renderAlert(incident, await this.opts.onCall?.(tx), this.opts.links, await this.opts.recentChanges?.(tx));
  }

  /** Re-renders an incident's alert (and its storm summary) after a change. */
  private async refresh(tx: Executor, incident: Incident | undefined): Promise<void> {
    if (!incident?.alert_channel) return;
    const incidentId = incident.id;
    if (incident.alert_posted) {
      await this.opts.outbox.enqueue(tx, {
        kind: 'update',
        payload: { channel: incident.alert_channel, messageKey: messageKeys.incident(incidentId), ...(await this.render(tx, incident)) },
      });
    }
    if (incident.storm_id !== null) {
      const storm = await this.opts.repo.activeStorm(tx, incident.alert_channel);
      if (storm?.id === incident.storm_id) await this.updateStorm(tx, incident.alert_channel, storm.id);
    }
  }

  /**
   * Storm summaries change with every alert in a storm: queue one deferred update (rendered when sent, at
   * most once per pacing interval) instead of rendering hundreds of incidents per webhook.
   */
  private async updateStorm(tx: Executor, channel: string, stormId: number): Promise<void> {
    const key = messageKeys.storm(stormId);
    await this.opts.outbox.enqueueDeferredUpdate(tx, { channel, messageKey: key, renderKey: key });
  }

  /** Renders a deferred storm update when it is sent; null for keys that name no storm. */
  async renderStorm(renderKey: MessageKey): Promise<MessageContent | null> {
    const match = /^storm:(\d+)$/.exec(renderKey);
    if (!match) return null;
    const { repo, data } = this.opts;
    // One transaction: the storm and its summary as they were at one moment.
    return data.transaction(async (tx) => {
      const storm = await repo.getStorm(tx, Number(match[1]));
      return storm ? renderStorm(storm, await repo.stormSummary(tx, storm.id, STORM_SUMMARY_LIMITS)) : null;
    });
  }
}
