import type { MessageContent } from '../outbox/types.js';
import { slackDate } from '../slack/format.js';
import type { Storm, StormSummary } from './incident-repository.js';
import { INCIDENT_ACTIONS, stormAckValue } from './actions.js';
import { escapeMrkdwn, truncate } from '../core/text.js';
import { actions, button, context, section, type Block } from '../core/blocks.js';

/** How much of a storm the summary shows: ask the repository's stormSummary() for this much. */
export const STORM_SUMMARY_LIMITS = {
  newest: 5,
  /** Numbers per section times sections: 3000 characters fit several hundred "#12345" entries each. */
  waitingLimit: 350 * 40,
} as const;
const NUMBERS_PER_SECTION = 350;

/**
 * The storm summary: shown when alerts arrive faster than Slack lets us post them, so that every incident is
 * visible within seconds. Incidents still waiting for their own message are listed by number.
 */
export function renderStorm(storm: Storm, summary: StormSummary): MessageContent {
  const counts = summary.byPriority.map(({ priority, count }) => `*${priority}* ${count}`).join(' · ');
  const over = storm.ended_at !== null;
  const headline = over
    ? `🌩️ *Alert storm over:* ${summary.total} incidents since ${slackDate(new Date(storm.started_at))}; each now has its own message.`
    : `🌩️ *Alert storm:* ${summary.total} incidents since ${slackDate(new Date(storm.started_at))} (${summary.open} open). Posting them one by one as Slack allows.`;
  const newest = summary.newest.map((i) => `• ${i.priority} #${i.number} ${escapeMrkdwn(truncate(i.title, 120))}`).join('\n');
  const blocks: Block[] = [section(`${headline}\n${counts}`)];
  if (newest) blocks.push(section(`*Newest:*\n${newest}`));
  if (!over && summary.waitingCount > 0) {
    const numbers = summary.waiting.map((n) => `#${n}`);
    blocks.push(context(`Not yet posted individually (${summary.waitingCount}):`));
    for (let at = 0; at < numbers.length; at += NUMBERS_PER_SECTION) blocks.push(section(numbers.slice(at, at + NUMBERS_PER_SECTION).join(' ')));
  }
  if (!over && summary.unacknowledgedP1 > 0) {
    blocks.push(
      actions(`storm:${storm.id}`, [
        button({
          actionId: INCIDENT_ACTIONS.acknowledgeAllP1,
          text: `Acknowledge all P1 (${summary.unacknowledgedP1})`,
          style: 'primary',
          value: stormAckValue.encode({ storm: storm.id, rev: summary.rev }),
        }),
      ]),
    );
  }
  return { text: `Alert storm: ${summary.total} incidents (${summary.open} open)`, blocks };
}
