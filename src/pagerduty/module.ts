import type { Core } from '../core/core.js';
import type { WaygateModule } from '../core/module.js';
import { DeliveryError, type PagerDutyBulkStatusPayload, type PagerDutyChangePayload, type PagerDutyStatusPayload, type OutboxItem } from '../outbox/types.js';
import type { IncidentFacade } from '../incidents/facade.js';
import { PagerDutyClient } from './client.js';
import { FromEmailResolver } from './from-email.js';
import { pagerDutyWebhookRoute } from './webhook-route.js';
import { escapeMrkdwn } from '../core/text.js';

/**
 * PagerDuty in and out: the signed webhook (events handed to the incidents facade before the 2xx), and
 * delivery of the outbox's PagerDuty rows (status changes made in Slack, Events API alerts), with what
 * their success or failure means for the people involved.
 */
export function pagerDutyModule(core: Core, incidents: IncidentFacade): WaygateModule {
  const { config, logger, metrics, outbox, app, clock } = core;
  const { env, file } = config;
  const client = env.PAGERDUTY_API_TOKEN
    ? new PagerDutyClient({
        token: env.PAGERDUTY_API_TOKEN,
        apiUrl: env.PAGERDUTY_API_URL,
        eventsUrl: env.PAGERDUTY_EVENTS_URL,
        ...(env.PAGERDUTY_FROM_EMAIL ? { defaultFrom: env.PAGERDUTY_FROM_EMAIL } : {}),
      })
    : undefined;
  // The Events API needs no REST token (each event carries its routing key), so it works without one.
  const events = client ?? new PagerDutyClient({ token: '', apiUrl: env.PAGERDUTY_API_URL, eventsUrl: env.PAGERDUTY_EVENTS_URL });
  const fromEmail = new FromEmailResolver(async (user) => (await app.client.users.info({ user })).user?.profile?.email, env.PAGERDUTY_FROM_EMAIL, clock);

  /**
   * Delivery hooks are synchronous: the work they start runs on its own, and a failure is logged. It is tracked
   * with the work started after an ack, so shutdown (and a test settling) waits for what it records.
   */
  const onItsOwn = (work: Promise<unknown>): void => {
    void core.inflight.track(work.catch((err: unknown) => logger.error({ err }, 'recording what PagerDuty made of a change failed')));
  };
  /** Queues a message from a delivery hook, in a transaction of its own. */
  const queue = (item: OutboxItem): void => onItsOwn(core.data.transaction((tx) => outbox.enqueue(tx, item)));
  /** Tells the Slack user who made a change when PagerDuty did not take it (once per change, not per retry). */
  const trouble = (payload: { responseUrl?: string }, text: string): void => {
    if (payload.responseUrl) queue({ kind: 'respond', payload: { responseUrl: payload.responseUrl, text } });
  };
  /** Sends a note, assignment or priority made in Slack. */
  const sendChange = async (c: PagerDutyClient, p: PagerDutyChangePayload): Promise<void> => {
    const from = await fromEmail.emailFor(p.slackUser);
    switch (p.change.kind) {
      case 'note':
        await c.addNote(p.incidentId, p.change.content, from);
        return;
      case 'reassign': {
        // The assignee's own e-mail, never the fallback From: that would assign the bot's account.
        let email: string | undefined;
        try {
          email = (await app.client.users.info({ user: p.change.slackAssignee })).user?.profile?.email;
        } catch (err) {
          throw new DeliveryError({ kind: 'retryable', detail: `could not read the e-mail of ${p.change.slackAssignee}: ${(err as Error).message}` });
        }
        if (!email) throw new DeliveryError({ kind: 'permanent', detail: `Slack has no e-mail for the assignee (${p.change.slackAssignee}) to find them in PagerDuty` });
        const assigneeId = await c.userIdByEmail(email);
        if (!assigneeId) throw new DeliveryError({ kind: 'permanent', detail: `no PagerDuty user has the e-mail of the assignee (${p.change.slackAssignee})` });
        await c.updateIncident(p.incidentId, { assigneeId }, from);
        return;
      }
      case 'priority': {
        const priorityId = await c.priorityIdByName(p.change.priority);
        if (!priorityId) throw new DeliveryError({ kind: 'permanent', detail: `the PagerDuty account has no priority named ${p.change.priority}` });
        await c.updateIncident(p.incidentId, { priorityId }, from);
        return;
      }
    }
  };
  /** The thread line that announced a change now says what PagerDuty made of it. */
  const settleLine = (p: PagerDutyChangePayload, outcome: string): void => {
    if (p.line) queue({ kind: 'update', payload: { channel: p.line.channel, messageKey: p.line.messageKey, text: `${p.line.text} · ${outcome}` } });
  };

  const changeOf = (status: 'acknowledged' | 'resolved'): string => (status === 'acknowledged' ? 'acknowledgement' : 'resolution');

  return {
    name: 'pagerduty',
    routes: [
      pagerDutyWebhookRoute({
        secrets: config.webhookSecrets,
        accept: (event) => incidents.accept(event),
        logger,
        onResult: (result) => metrics.webhooks.inc({ result }),
      }),
    ],
    senders: {
      pagerDutyEvents: async (event) => {
        await events.enqueueEvent(event);
      },
      ...(client
        ? {
            pagerDuty: async (p: PagerDutyStatusPayload) => client.setIncidentStatus(p.incidentId, p.status, await fromEmail.emailFor(p.slackUser)),
            pagerDutyBulk: async (p: PagerDutyBulkStatusPayload) => client.setIncidentsStatus(p.incidentIds, p.status, await fromEmail.emailFor(p.slackUser)),
            pagerDutyChange: (p: PagerDutyChangePayload) => sendChange(client, p),
          }
        : {}),
    },
    delivery: {
      pd_status: {
        delivered: (row) => onItsOwn(incidents.pagerDutySynced((JSON.parse(row.payload) as PagerDutyStatusPayload).incidentId, true)),
        failed: (row, failure, final) => {
          metrics.pagerDutyApiErrors.inc({ kind: failure.kind });
          // PagerDuty's error text may quote what it was sent; it must not turn into mentions or links.
          const detail = escapeMrkdwn(failure.detail);
          const payload = JSON.parse(row.payload) as PagerDutyStatusPayload;
          const what = changeOf(payload.status);
          if (final) {
            onItsOwn(
              (async () => {
                if (payload.status === 'acknowledged' && (await incidents.get(payload.incidentId))?.status === 'resolved') {
                  // PagerDuty resolved it first (its webhook came in meanwhile): nothing is left to do.
                  trouble(payload, `#${payload.number} was resolved in PagerDuty before the acknowledgement reached it; it shows as resolved here too.`);
                  return;
                }
                await incidents.pagerDutySynced(payload.incidentId, false);
                trouble(payload, `⚠️ PagerDuty refused the ${what} of #${payload.number}: ${detail}. It stands in Slack; please check the incident in PagerDuty.`);
              })(),
            );
          } else if (row.attempts === 0 && failure.kind === 'retryable') {
            trouble(payload, `PagerDuty did not take the ${what} of #${payload.number} yet (${detail}). It stands here, and I'll keep retrying until PagerDuty has it.`);
          }
        },
      },
      pd_status_bulk: {
        delivered: (row) => {
          const payload = JSON.parse(row.payload) as PagerDutyBulkStatusPayload;
          onItsOwn(incidents.pagerDutySyncedMany(payload.incidentIds, payload.status));
        },
        failed: (row, failure, final) => {
          metrics.pagerDutyApiErrors.inc({ kind: failure.kind });
          const payload = JSON.parse(row.payload) as PagerDutyBulkStatusPayload;
          const what = `${changeOf(payload.status)} of ${payload.incidentIds.length} incidents`;
          if (final) {
            // PagerDuty takes a bulk update whole or not at all: one incident that moved on there (resolved
            // meanwhile) would fail the rest. One at a time, each stands or falls on its own.
            onItsOwn(
              incidents.pagerDutyRetryOneByOne(payload.incidentIds, payload.status, payload.slackUser).then((again) => {
                trouble(payload, `⚠️ PagerDuty refused the ${what} sent together: ${failure.detail}. Sending ${again} of them again one at a time; each alert shows whether PagerDuty took it.`);
              }),
            );
          } else if (row.attempts === 0 && failure.kind === 'retryable') {
            trouble(payload, `PagerDuty did not take the ${what} yet (${failure.detail}). It stands here, and I'll keep retrying until PagerDuty has it.`);
          }
        },
      },
      pd_change: {
        delivered: (row) => settleLine(JSON.parse(row.payload) as PagerDutyChangePayload, '✓ _in PagerDuty_'),
        failed: (row, failure, final) => {
          metrics.pagerDutyApiErrors.inc({ kind: failure.kind });
          if (!final) return;
          const payload = JSON.parse(row.payload) as PagerDutyChangePayload;
          // PagerDuty's error text may quote what it was sent: it must not turn into mentions or links.
          const detail = escapeMrkdwn(failure.detail);
          settleLine(payload, `⚠️ PagerDuty did not take it (${detail}); it stands here, please check the incident in PagerDuty.`);
        },
      },
      pd_event: {
        failed: (_row, failure, final) => {
          metrics.pagerDutyApiErrors.inc({ kind: failure.kind });
          // A page that PagerDuty refused (say, a wrong routing key) must not vanish quietly.
          if (final && file.channels.ops) {
            queue({
              kind: 'post',
              payload: { channel: file.channels.ops, text: `⚠️ PagerDuty refused an Events API event (${escapeMrkdwn(failure.detail)}); check \`service.pagerDutyRoutingKey\`.` },
            });
          }
        },
      },
    },
    health: async () => {
      const api = Boolean(env.PAGERDUTY_API_TOKEN);
      const webhooks = config.webhookSecrets.length > 0;
      return {
        pagerduty: {
          value: {
            status: api && webhooks ? 'configured' : api || webhooks ? 'partly configured' : 'not configured',
            api,
            webhooks,
            inboxPending: await incidents.inboxPending(),
          },
        },
      };
    },
  };
}
