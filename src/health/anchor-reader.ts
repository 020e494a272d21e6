import type { WebClient } from '@slack/web-api';
import { parseAnchor, type AuditAnchor } from '../audit/anchor.js';

/** What reading the digest channel found: the newest anchor the bot itself posted there. */
export type PreviousAnchor =
  | { state: 'found'; anchor: AuditAnchor; ts: string }
  /** No message of the bot's in the pages read carries one (the first digest, or a new channel). */
  | { state: 'none' }
  /** Slack did not answer with the history (missing scope, not in the channel, rate limited…). */
  | { state: 'unreadable'; error: string };

/** A page as Slack allows it, and how far back to look: daily digests leave an anchor in every day's messages. */
const PAGE_SIZE = 200;
const MAX_PAGES = 10;

type HistoryMessage = { text?: string; user?: string; bot_id?: string; blocks?: unknown };

function slackError(err: unknown): string {
  const data = (err as { data?: { error?: unknown } }).data;
  if (typeof data?.error === 'string') return data.error;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Reads the digest channel back with conversations.history, newest first, and returns the anchor of the newest
 * message the bot posted. Only the bot's own messages count (its user or bot id from auth.test): anyone in the
 * channel can post text that looks like an anchor.
 */
export function anchorReader(client: Pick<WebClient, 'auth' | 'conversations'>): (channel: string) => Promise<PreviousAnchor> {
  let self: Promise<{ userId?: string; botId?: string }> | undefined;
  const whoAmI = () => {
    self ??= client.auth.test().then(
      (r) => ({ ...(r.user_id ? { userId: r.user_id } : {}), ...(r.bot_id ? { botId: r.bot_id } : {}) }),
      (err: unknown) => {
        self = undefined;
        throw err;
      },
    );
    return self;
  };
  return async (channel) => {
    try {
      const { userId, botId } = await whoAmI();
      const mine = (m: HistoryMessage) => (botId !== undefined && m.bot_id === botId) || (userId !== undefined && m.user === userId);
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const res = await client.conversations.history({ channel, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) });
        for (const m of (res.messages ?? []) as Array<HistoryMessage & { ts?: string }>) {
          if (!mine(m)) continue;
          const anchor = parseAnchor(`${m.text ?? ''}\n${JSON.stringify(m.blocks ?? [])}`);
          if (anchor) return { state: 'found', anchor, ts: m.ts ?? '' };
        }
        cursor = res.response_metadata?.next_cursor || undefined;
        if (!res.has_more || !cursor) break;
      }
      return { state: 'none' };
    } catch (err) {
      return { state: 'unreadable', error: slackError(err) };
    }
  };
}
