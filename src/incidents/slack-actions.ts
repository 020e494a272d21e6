import { z } from 'zod';
import { defineAction, type Action } from '../core/interactions.js';
import { PERMISSIONS } from '../core/policy.js';
import { INCIDENT_ACTIONS, stormAckValue } from './actions.js';
import type { AckResult, IncidentFacade } from './facade.js';
import { listNumbers } from './alert-message.js';
import { formatCount } from '../core/text.js';
import type { MessageContent } from '../outbox/types.js';

const incidentId = z.string().regex(/^[A-Z0-9]{2,64}$/, { message: 'expected a PagerDuty incident id' });

/**
 * The incident buttons. The interaction layer has acked, decoded the value and checked the permission;
 * the alert message updates itself on success, so the clicker hears only about what did not happen.
 */
export function incidentActions(incidents: IncidentFacade): Action[] {
  const problems = (results: AckResult[]): string | null => {
    const bad = results.filter((r) => r.outcome !== 'acknowledged' && r.outcome !== 'resolved');
    return bad.length > 0 ? bad.map((r) => incidents.describeAck(r)).join('\n') : null;
  };
  const subject = (id: string): string => {
    const incident = incidents.get(id);
    return incident ? `#${incident.number}` : id;
  };
  return [
    defineAction({
      id: INCIDENT_ACTIONS.acknowledge,
      value: incidentId,
      permission: { name: PERMISSIONS.incidentAck, what: 'that button', subject },
      handle(ctx, id) {
        const trouble = problems(incidents.acknowledge([id], ctx.userId, ctx.responseUrl));
        if (trouble) ctx.tell(trouble);
      },
    }),
    defineAction({
      id: INCIDENT_ACTIONS.resolve,
      value: incidentId,
      permission: { name: PERMISSIONS.incidentResolve, what: 'that button', subject },
      handle(ctx, id) {
        const trouble = problems(incidents.resolve([id], ctx.userId, ctx.responseUrl));
        if (trouble) ctx.tell(trouble);
      },
    }),
    defineAction({
      id: INCIDENT_ACTIONS.acknowledgeAllP1,
      // A summary drawn by an older version carried the storm's id alone: it cannot say what it showed.
      value: z.union([stormAckValue.schema, z.string().regex(/^\d+$/).transform(() => null)]),
      permission: { name: PERMISSIONS.incidentAck, what: 'that button' },
      isStale: (value) => value === null || !incidents.stormShown(value.storm, value.rev),
      async handle(ctx, value) {
        if (!value) return;
        const { shown, joinedLater } = incidents.stormP1(value.storm, value.rev);
        const ids = shown.map((i) => i.id);
        const report = (results: AckResult[]): MessageContent => ({ text: stormReport(results, joinedLater) });
        if (ids.length <= incidents.batchSize) {
          ctx.tell(report(incidents.acknowledge(ids, ctx.userId, ctx.responseUrl)).text);
          return;
        }
        // More than one batch: recorded before the ack, done in batches (acked at the budget if it takes longer).
        await incidents.acknowledgeLater({ ids, slackUser: ctx.userId, responseUrl: ctx.responseUrl, what: 'the storm summary’s Acknowledge all P1', report })();
      },
    }),
    // A link button still sends an interaction; the ack (already sent) is all Slack needs.
    defineAction({ id: INCIDENT_ACTIONS.openInPagerDuty, value: z.string(), handle: () => undefined }),
  ];
}

/** What the storm's Acknowledge all P1 did, in a few lines whatever the number of incidents. */
function stormReport(results: readonly AckResult[], joinedLater: number): string {
  const done = results.flatMap((r) => (r.outcome === 'acknowledged' ? [r.incident] : []));
  const skipped = results.length - done.length;
  const lines = [
    done.length === 0
      ? 'The P1 incidents this storm summary showed are all acknowledged or resolved already; nothing was done.'
      : `Acknowledged ${done.length === 1 ? 'the P1 incident' : `the ${formatCount(done.length)} P1 incidents`} this storm summary showed: ${listNumbers(done)}.`,
  ];
  if (skipped > 0) lines.push(`${formatCount(skipped)} of those it showed ${skipped === 1 ? 'was' : 'were'} acknowledged or resolved by someone else meanwhile.`);
  if (joinedLater > 0) {
    lines.push(
      joinedLater === 1
        ? '1 P1 incident joined the storm after the summary was drawn and was left alone; the updated summary has a button for it.'
        : `${formatCount(joinedLater)} P1 incidents joined the storm after the summary was drawn and were left alone; the updated summary has a button for them.`,
    );
  }
  return lines.join('\n');
}
