import { z } from 'zod';
import { defineAction, defineView, type Action, type View } from '../core/interactions.js';
import { PERMISSIONS } from '../core/policy.js';
import { INCIDENT_ACTIONS, INCIDENT_VIEWS, menuValue, stormAckValue, type MenuOp } from './actions.js';
import type { AckResult, IncidentFacade } from './facade.js';
import { listNumbers } from './alert-message.js';
import { escapeMrkdwn, formatCount, truncate } from '../core/text.js';
import { modal, section, staticSelect, textInput, userSelect } from '../core/blocks.js';
import type { Incident } from './incident-repository.js';
import { editReplies } from './edit-replies.js';
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
  const subject = async (id: string): Promise<string> => {
    const incident = await incidents.get(id);
    return incident ? `#${incident.number}` : id;
  };
  return [
    defineAction({
      id: INCIDENT_ACTIONS.acknowledge,
      value: incidentId,
      permission: { name: PERMISSIONS.incidentAck, what: 'that button', subject },
      async handle(ctx, id) {
        const trouble = problems(await incidents.acknowledge([id], ctx.userId, ctx.responseUrl));
        if (trouble) ctx.tell(trouble);
      },
    }),
    defineAction({
      id: INCIDENT_ACTIONS.resolve,
      value: incidentId,
      permission: { name: PERMISSIONS.incidentResolve, what: 'that button', subject },
      async handle(ctx, id) {
        const trouble = problems(await incidents.resolve([id], ctx.userId, ctx.responseUrl));
        if (trouble) ctx.tell(trouble);
      },
    }),
    defineAction({
      id: INCIDENT_ACTIONS.acknowledgeAllP1,
      // A summary drawn by an older version carried the storm's id alone: it cannot say what it showed.
      value: z.union([stormAckValue.schema, z.string().regex(/^\d+$/).transform(() => null)]),
      permission: { name: PERMISSIONS.incidentAck, what: 'that button' },
      isStale: async (value) => value === null || !(await incidents.stormShown(value.storm, value.rev)),
      async handle(ctx, value) {
        if (!value) return;
        const { shown, joinedLater } = await incidents.stormP1(value.storm, value.rev);
        const ids = shown.map((i) => i.id);
        const report = (results: AckResult[]): MessageContent => ({ text: stormReport(results, joinedLater) });
        if (ids.length <= incidents.batchSize) {
          ctx.tell(report(await incidents.acknowledge(ids, ctx.userId, ctx.responseUrl)).text);
          return;
        }
        // More than one batch: recorded before the ack, done in batches (acked at the budget if it takes longer).
        const work = await incidents.acknowledgeLater({ ids, slackUser: ctx.userId, responseUrl: ctx.responseUrl, what: 'the storm summary’s Acknowledge all P1', report });
        await work();
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

/** What each option of the card's menu needs. */
const MENU_PERMISSIONS: Record<MenuOp, string> = {
  note: PERMISSIONS.incidentNote,
  reassign: PERMISSIONS.incidentReassign,
  priority: PERMISSIONS.incidentPriority,
  escalate: PERMISSIONS.incidentEscalate,
};

const PRIORITY_OPTIONS = (['P1', 'P2', 'P3', 'P4', 'P5'] as const).map((p) => ({ text: p, value: p }));

/**
 * The card's overflow menu: a note, a reassignment and a priority change open a modal (with the click's
 * trigger_id, which lives 3 s); "Escalate now" acts at once.
 */
export function incidentMenu(incidents: IncidentFacade, onCall: () => Promise<string | undefined>): { actions: Action[]; views: View[] } {
  const target = async (number: number): Promise<Incident | undefined> => {
    const incident = await incidents.findByNumber(number);
    return incident && incident.status !== 'resolved' ? incident : undefined;
  };
  const menu = defineAction({
    id: INCIDENT_ACTIONS.more,
    value: menuValue.schema,
    permission: { name: (v) => MENU_PERMISSIONS[v.op], what: 'that menu option', subject: (v) => `#${v.number}` },
    async handle(ctx, { op, number }) {
      const incident = await target(number);
      if (!incident) {
        ctx.tell(`#${number} is resolved or gone; nothing was done.`);
        return;
      }
      const metadata = incident.id;
      const about = `${incident.priority} #${incident.number} ${truncate(incident.title, 150)}`;
      switch (op) {
        case 'note':
          await ctx.openModal(
            modal({ callbackId: INCIDENT_VIEWS.note, title: 'Add a note', submit: 'Add note', metadata, blocks: [section(escapeMrkdwn(about)), textInput({ blockId: 'note', label: 'Note', multiline: true, placeholder: 'What you found, did or decided' })] }),
          );
          return;
        case 'reassign': {
          const person = await onCall();
          await ctx.openModal(
            modal({
              callbackId: INCIDENT_VIEWS.reassign,
              title: 'Reassign',
              submit: 'Reassign',
              metadata,
              blocks: [section(escapeMrkdwn(about)), userSelect({ blockId: 'assignee', label: 'Assign to', ...(person ? { initialUser: person, hint: 'Preselected: whoever is on call now.' } : {}) })],
            }),
          );
          return;
        }
        case 'priority':
          await ctx.openModal(
            modal({
              callbackId: INCIDENT_VIEWS.priority,
              title: 'Change priority',
              submit: 'Change',
              metadata,
              blocks: [section(escapeMrkdwn(about)), staticSelect({ blockId: 'priority', label: 'Priority', options: PRIORITY_OPTIONS, initial: incident.priority })],
            }),
          );
          return;
        case 'escalate':
          ctx.tell(editReplies.escalate(await incidents.escalateNow(incident.id, ctx.userId)));
          return;
      }
    },
  });
  const incidentMeta = z.string().min(1);
  /** The incident a modal is about, unless it was resolved while the modal was open. */
  const open = async (id: string): Promise<Incident | undefined> => {
    const incident = await incidents.get(id);
    return incident && incident.status !== 'resolved' ? incident : undefined;
  };
  const gone = (field: string) => ({ errors: { [field]: 'This incident has been resolved meanwhile; nothing was changed.' } });
  const views: View[] = [
    defineView({
      callbackId: INCIDENT_VIEWS.note,
      metadata: incidentMeta,
      fields: z.object({ note: z.string({ message: 'Write the note' }).trim().min(1, { message: 'Write the note' }).max(2500, { message: 'At most 2,500 characters' }) }),
      permission: { name: PERMISSIONS.incidentNote, what: 'adding a note' },
      async handle(ctx, id, { note }) {
        if (!(await incidents.get(id))) return gone('note');
        await incidents.addNote(id, ctx.userId, note);
      },
    }),
    defineView({
      callbackId: INCIDENT_VIEWS.reassign,
      metadata: incidentMeta,
      fields: z.object({ assignee: z.string({ message: 'Choose someone' }).regex(/^[UW][A-Z0-9]{2,}$/, { message: 'Choose someone' }) }),
      permission: { name: PERMISSIONS.incidentReassign, what: 'reassigning an incident' },
      async handle(ctx, id, { assignee }) {
        if (!(await open(id))) return gone('assignee');
        // Resolved between the check and the change: the change's own transaction saw it.
        if ((await incidents.reassign(id, ctx.userId, assignee)).outcome === 'resolved') return gone('assignee');
      },
    }),
    defineView({
      callbackId: INCIDENT_VIEWS.priority,
      metadata: incidentMeta,
      fields: z.object({ priority: z.enum(['P1', 'P2', 'P3', 'P4', 'P5'], { message: 'Choose a priority' }) }),
      permission: { name: PERMISSIONS.incidentPriority, what: 'changing the priority' },
      async handle(ctx, id, { priority }) {
        if (!(await open(id))) return gone('priority');
        if ((await incidents.setPriority(id, ctx.userId, priority)).outcome === 'resolved') return gone('priority');
      },
    }),
  ];
  return { actions: [menu], views };
}
