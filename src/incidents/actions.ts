import { z } from 'zod';
import { jsonValue } from '../core/interactions.js';

/** Action ids of the incident buttons: one place, so handlers and Block Kit builders cannot drift apart. */
export const INCIDENT_ACTIONS = {
  acknowledge: 'incident.acknowledge',
  resolve: 'incident.resolve',
  openInPagerDuty: 'incident.open_in_pagerduty',
  acknowledgeAllP1: 'incident.acknowledge_all_p1',
  /** The card's overflow menu: note, reassign, priority, escalate. */
  more: 'incident.more',
} as const;

/** Callback ids of the modals the card's menu opens. */
export const INCIDENT_VIEWS = {
  note: 'incident.note',
  reassign: 'incident.reassign',
  priority: 'incident.priority',
} as const;

/** What the card's menu offers; its option values are `<op>:<incident number>` (Slack allows 75 characters). */
export const MENU_OPS = ['note', 'reassign', 'priority', 'escalate'] as const;
export type MenuOp = (typeof MENU_OPS)[number];

export const menuValue = {
  schema: z.string().transform((raw, ctx) => {
    const [op, number] = raw.split(':');
    if (!MENU_OPS.includes(op as MenuOp) || !/^\d{1,9}$/.test(number ?? '')) {
      ctx.addIssue({ code: 'custom', message: 'not an incident menu value' });
      return z.NEVER;
    }
    return { op: op as MenuOp, number: Number(number) };
  }),
  encode: (op: MenuOp, number: number): string => `${op}:${number}`,
};

export type IncidentActionId = (typeof INCIDENT_ACTIONS)[keyof typeof INCIDENT_ACTIONS];

/**
 * The value of a storm summary's "Acknowledge all P1": the storm and how many incidents had joined it when
 * the summary was drawn, so the click acts on exactly the incidents that summary showed.
 */
export const stormAckValue = jsonValue(z.object({ storm: z.number().int().positive(), rev: z.number().int().nonnegative() }));
