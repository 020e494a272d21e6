import type { Core } from '../core/core.js';
import type { WaygateModule } from '../core/module.js';
import type { Transaction } from 'kysely';
import type { DueDeadline } from '../core/deadlines.js';
import type { Executor, Schema } from '../db/data-layer.js';
import type { IncidentFacade } from '../incidents/facade.js';
import { incidentLink } from '../incidents/alert-message.js';
import { slackDate } from '../slack/format.js';
import { formatDuration } from '../core/text.js';
import type { OncallService } from './oncall-service.js';

/** The deadline owner of rotation handoffs. */
export const HANDOFF_DEADLINES = 'oncall-handoff';
/** Open incidents listed in the incoming person's message, at most. */
const LISTED = 10;

const turnKey = (index: number): string => `turn:${index}`;

/**
 * Rotation handoffs on the durable deadlines: at each one the incoming person gets a direct message with
 * what is open, and the ops channel a one-line notice. Each handoff is one deadline, so a restart neither
 * repeats nor skips it; handoffs missed while the bot was down are not announced late, only the turn under
 * way when it comes back.
 */
export function oncallModule(core: Core, oncall: OncallService, incidents: IncidentFacade): WaygateModule {
  const { deadlines, outbox, audit, config } = core;
  const rotation = oncall.rotation;
  const opsChannel = config.file.channels.ops;

  const scheduleAfter = async (ex: Executor, index: number): Promise<void> => {
    if (rotation) await deadlines.schedule(ex, HANDOFF_DEADLINES, turnKey(index + 1), rotation.handoffAt(index + 1));
  };

  /** Inside the transaction `tx` that marks the handoff's deadline fired. */
  const handOff = async (due: DueDeadline, now: number, tx: Transaction<Schema>): Promise<void> => {
    if (!rotation) return;
    const index = Number(due.key.slice('turn:'.length));
    const current = rotation.shiftAt(now);
    if (current.index !== index) {
      await scheduleAfter(tx, current.index); // a turn that already ended while the bot was down: nothing to announce
      return;
    }
    const incoming = rotation.shift(index);
    const outgoing = rotation.shift(index - 1);
    const until = slackDate(new Date(incoming.endsAt));
    const open = await incidents.open(undefined, tx);
    const listed = open.slice(0, LISTED).map((i) => `• *${i.priority}* ${incidentLink(i)} · open ${formatDuration(now - i.created_at)}`);
    const more = open.length > LISTED ? `\n…and ${open.length - LISTED} more: \`/waygate incidents\`` : '';
    const covering = await oncall.at(now, tx);
    const coverNote = covering?.source === 'override' && covering.userId !== incoming.userId ? `\n<@${covering.userId}> is covering for you until ${slackDate(new Date(covering.until))}.` : '';
    await outbox.enqueue(tx, {
      kind: 'post',
      payload: {
        channel: incoming.userId,
        text:
          `🔁 You are on call from now until ${until}.${coverNote}\n` +
          (open.length === 0 ? 'Nothing is open. 🎉' : `${open.length} open incident(s):\n${listed.join('\n')}${more}`),
      },
    });
    if (opsChannel) {
      await outbox.enqueue(tx, { kind: 'post', payload: { channel: opsChannel, text: `🔁 On-call handoff: <@${incoming.userId}> takes over from <@${outgoing.userId}> until ${until}.` } });
    }
    await audit.record(tx, { actor: 'waygate', action: 'oncall.handoff', subject: incoming.userId, details: { from: outgoing.userId, until: new Date(incoming.endsAt).toISOString() } });
    await scheduleAfter(tx, index);
  };

  deadlines.on(HANDOFF_DEADLINES, async (due, now, tx) => {
    for (const d of due) await handOff(d, now, tx);
  });

  return {
    name: 'oncall',
    permissions: { 'oncall.override': ['lead', 'oncall'] },
    start: async () => {
      if (rotation) await scheduleAfter(core.data.db, rotation.shiftAt(core.clock.nowMs()).index);
      // Not awaited: PagerDuty being slow must not hold up start-up; until the first read, the rotation or role answers.
      void oncall.pagerDuty?.start();
    },
    stop: () => oncall.pagerDuty?.stop(),
    health: async () => {
      const pd = oncall.pagerDuty?.status();
      const current = await oncall.at();
      return {
        oncall: {
          value: {
            now: current ? { user: current.userId, source: current.source, until: new Date(current.until).toISOString() } : null,
            ...(pd ? { pagerDuty: { readAt: pd.readAt === null ? null : new Date(pd.readAt).toISOString(), lastError: pd.lastError } } : {}),
          },
        },
      };
    },
  };
}
