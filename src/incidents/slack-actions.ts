import { z } from 'zod';
import { defineAction, type Action } from '../core/interactions.js';
import { PERMISSIONS } from '../core/policy.js';
import { INCIDENT_ACTIONS } from './actions.js';
import type { AckResult, IncidentFacade } from './facade.js';

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
      value: z.string(),
      permission: { name: PERMISSIONS.incidentAck, what: 'that button' },
      handle(ctx) {
        const targets = incidents.open('P1').filter((i) => i.status === 'triggered');
        if (targets.length === 0) {
          ctx.tell('No open, unacknowledged P1 incidents.');
          return;
        }
        const results = incidents.acknowledge(
          targets.map((i) => i.id),
          ctx.userId,
          ctx.responseUrl,
        );
        const done = results.filter((r) => r.outcome === 'acknowledged').length;
        const trouble = problems(results);
        ctx.tell(`Acknowledged ${done} P1 incident(s).${trouble ? `\n${trouble}` : ''}`);
      },
    }),
    // A link button still sends an interaction; the ack (already sent) is all Slack needs.
    defineAction({ id: INCIDENT_ACTIONS.openInPagerDuty, value: z.string(), handle: () => undefined }),
  ];
}
