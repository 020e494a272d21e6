import type { MessageContent } from '../outbox/types.js';
import { slackDate } from '../slack/format.js';
import type { Incident, Storm } from './incident-repository.js';
import { INCIDENT_ACTIONS, stormAckValue } from './actions.js';
import { escapeMrkdwn, truncate } from '../core/text.js';
import { actions, button, context, section, type Block } from '../core/blocks.js';

const NEWEST_TITLES = 5;
/** Numbers per section; 3000 characters fit several hundred "#12345" entries. */
const NUMBERS_PER_SECTION = 350;
const MAX_NUMBER_SECTIONS = 40;

/**
 * The storm summary: shown when alerts arrive faster than Slack lets us post them, so that every incident is
 * visible within seconds. Incidents still waiting for their own message are listed by number.
 */
export function renderStorm(storm: Storm, incidents: readonly Incident[]): MessageContent {
  const byPriority = new Map<string, number>();
  for (const i of incidents) byPriority.set(i.priority, (byPriority.get(i.priority) ?? 0) + 1);
  const counts = [...byPriority.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([p, n]) => `*${p}* ${n}`)
    .join(' · ');
  const open = incidents.filter((i) => i.status !== 'resolved');
  const unacknowledgedP1 = incidents.filter((i) => i.status === 'triggered' && i.priority === 'P1').length;
  const waiting = incidents.filter((i) => i.alert_posted === 0);
  const over = storm.ended_at !== null;
  const headline = over
    ? `🌩️ *Alert storm over:* ${incidents.length} incidents since ${slackDate(new Date(storm.started_at))}; each now has its own message.`
    : `🌩️ *Alert storm:* ${incidents.length} incidents since ${slackDate(new Date(storm.started_at))} (${open.length} open). Posting them one by one as Slack allows.`;
  const newest = [...incidents]
    .sort((a, b) => b.created_at - a.created_at || b.number - a.number)
    .slice(0, NEWEST_TITLES)
    .map((i) => `• ${i.priority} #${i.number} ${escapeMrkdwn(truncate(i.title, 120))}`)
    .join('\n');
  const blocks: Block[] = [section(`${headline}\n${counts}`)];
  if (newest) blocks.push(section(`*Newest:*\n${newest}`));
  if (!over && waiting.length > 0) {
    const numbers = waiting.map((i) => `#${i.number}`);
    blocks.push(context(`Not yet posted individually (${waiting.length}):`));
    for (let s = 0; s < MAX_NUMBER_SECTIONS && s * NUMBERS_PER_SECTION < numbers.length; s++) {
      blocks.push(section(numbers.slice(s * NUMBERS_PER_SECTION, (s + 1) * NUMBERS_PER_SECTION).join(' ')));
    }
  }
  if (!over && unacknowledgedP1 > 0) {
    blocks.push(
      actions(`storm:${storm.id}`, [
        button({
          actionId: INCIDENT_ACTIONS.acknowledgeAllP1,
          text: `Acknowledge all P1 (${unacknowledgedP1})`,
          style: 'primary',
          value: stormAckValue.encode({ storm: storm.id, rev: incidents.reduce((max, i) => Math.max(max, i.storm_seq ?? 0), 0) }),
        }),
      ]),
    );
  }
  return { text: `Alert storm: ${incidents.length} incidents (${open.length} open)`, blocks };
}
