import { validateMessage } from './block-kit.js';
import { nonEmpty, stringOr, type ApiResult, type Params } from './params.js';

export interface StoredMessage {
  ts: string;
  text: string;
  blocks: unknown;
  thread_ts?: string;
  /** A thread reply also shown in the channel. */
  reply_broadcast?: boolean;
  updates: number;
  /** Set only on a message a person posted (userMessage()); the bot's own carry no field. */
  user?: string;
}

/** Slack's default page of conversations.history, and the most one page may hold. */
const HISTORY_DEFAULT_LIMIT = 100;
const HISTORY_MAX_LIMIT = 999;

/** The channels' message history behind chat.postMessage, chat.update and chat.postEphemeral. */
export class MessageStore {
  private readonly channels = new Map<string, StoredMessage[]>();
  // Counter-based ts keeps runs deterministic while staying unique and increasing, like Slack's.
  private tsCounter = 0;

  constructor(private readonly botUserId: string) {}

  messages(channel: string): StoredMessage[] {
    return (this.channels.get(channel) ?? []).map((m) => ({ ...m }));
  }

  /** Forgets every message; timestamps keep increasing, so none is ever reused. */
  clear(): void {
    this.channels.clear();
  }

  /** A message a person posted in the channel (not through the bot's token), as a test sets the scene. */
  userMessage(channel: string, user: string, text: string): StoredMessage {
    const msg: StoredMessage = { ts: this.nextTs(), text, blocks: undefined, updates: 0, user };
    const list = this.channels.get(channel) ?? [];
    list.push(msg);
    this.channels.set(channel, list);
    return { ...msg };
  }

  /**
   * conversations.history as Slack answers it: the channel's messages newest first, thread replies left out
   * unless broadcast, `oldest`/`latest` exclusive unless `inclusive`, pages of `limit` (default 100) with an
   * opaque cursor. A channel nothing was ever posted in is `channel_not_found`.
   */
  history(p: Params): ApiResult {
    const channel = nonEmpty(p.channel);
    const list = channel === undefined ? undefined : this.channels.get(channel);
    if (!list) return { ok: false, error: 'channel_not_found' };
    const limitParam = p.limit === undefined || p.limit === '' ? HISTORY_DEFAULT_LIMIT : Number(p.limit);
    if (!Number.isInteger(limitParam) || limitParam < 0) return { ok: false, error: 'invalid_limit' };
    // Slack treats 0 as its default, and caps larger pages.
    const limit = limitParam === 0 ? HISTORY_DEFAULT_LIMIT : Math.min(limitParam, HISTORY_MAX_LIMIT);
    const inclusive = p.inclusive === true || p.inclusive === 'true' || p.inclusive === '1';
    const oldest = nonEmpty(typeof p.oldest === 'number' ? String(p.oldest) : p.oldest);
    const latest = nonEmpty(typeof p.latest === 'number' ? String(p.latest) : p.latest);
    let before: number | undefined;
    const cursor = nonEmpty(p.cursor);
    if (cursor !== undefined) {
      const decoded = /^before:(\d+\.\d{6})$/.exec(Buffer.from(cursor, 'base64').toString('utf8'))?.[1];
      if (decoded === undefined) return { ok: false, error: 'invalid_cursor' };
      before = Number(decoded);
    }
    const visible = list
      .filter((m) => m.thread_ts === undefined || m.thread_ts === m.ts || m.reply_broadcast === true)
      .filter((m) => {
        const ts = Number(m.ts);
        if (oldest !== undefined && (inclusive ? ts < Number(oldest) : ts <= Number(oldest))) return false;
        if (latest !== undefined && (inclusive ? ts > Number(latest) : ts >= Number(latest))) return false;
        return before === undefined || ts < before;
      })
      .reverse();
    const page = visible.slice(0, limit);
    const hasMore = visible.length > page.length;
    const last = page.at(-1);
    const nextCursor = hasMore && last ? Buffer.from(`before:${last.ts}`, 'utf8').toString('base64') : '';
    return {
      ok: true,
      messages: page.map((m) => this.messageView(m)),
      has_more: hasMore,
      pin_count: 0,
      response_metadata: { next_cursor: nextCursor },
    };
  }

  postMessage(p: Params): ApiResult {
    const channel = nonEmpty(p.channel);
    if (!channel) return { ok: false, error: 'channel_not_found' };
    const invalid = messageError(p);
    if (invalid) return invalid;
    const threadTs = nonEmpty(p.thread_ts);
    const msg: StoredMessage = { ts: this.nextTs(), text: stringOr(p.text, ''), blocks: p.blocks, updates: 0 };
    if (threadTs) msg.thread_ts = threadTs;
    if (threadTs && (p.reply_broadcast === true || p.reply_broadcast === 'true')) msg.reply_broadcast = true;
    const list = this.channels.get(channel) ?? [];
    list.push(msg);
    this.channels.set(channel, list);
    return { ok: true, channel, ts: msg.ts, message: this.messageView(msg) };
  }

  update(p: Params): ApiResult {
    const channel = nonEmpty(p.channel);
    if (!channel) return { ok: false, error: 'channel_not_found' };
    const msg = this.channels.get(channel)?.find((m) => m.ts === p.ts);
    if (!msg) return { ok: false, error: 'message_not_found' };
    const invalid = messageError(p);
    if (invalid) return invalid;
    // Like Slack, fields left out of chat.update keep their previous value.
    if (p.text !== undefined) msg.text = stringOr(p.text, '');
    if (p.blocks !== undefined) msg.blocks = p.blocks;
    msg.updates += 1;
    return { ok: true, channel, ts: msg.ts, text: msg.text, message: this.messageView(msg) };
  }

  postEphemeral(p: Params): ApiResult {
    if (!nonEmpty(p.channel)) return { ok: false, error: 'channel_not_found' };
    if (!nonEmpty(p.user)) return { ok: false, error: 'user_not_found' };
    return messageError(p) ?? { ok: true, message_ts: this.nextTs() };
  }

  private nextTs(): string {
    this.tsCounter += 1;
    const micros = 1_700_000_000_000_000 + this.tsCounter * 100;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }

  private messageView(m: StoredMessage): ApiResult {
    // A person's message has no bot_id and no blocks unless they sent some, as Slack shows it.
    const author = m.user !== undefined ? { user: m.user } : { user: this.botUserId, bot_id: 'B0WAYGATE' };
    return {
      type: 'message',
      text: m.text,
      ...(m.blocks !== undefined ? { blocks: m.blocks } : {}),
      ts: m.ts,
      ...author,
      ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}),
      ...(m.updates > 0 ? { edited: { user: author.user, ts: m.ts } } : {}),
    };
  }
}

/** Maps validator problems onto the error codes Slack's Web API returns. */
function messageError(p: Params): ApiResult | undefined {
  const problems = validateMessage(p);
  if (problems.length === 0) return undefined;
  if (problems.length === 1 && problems[0] === 'no_text') return { ok: false, error: 'no_text' };
  const errors = problems.filter((x) => x !== 'no_text');
  return { ok: false, error: 'invalid_blocks', errors, response_metadata: { messages: errors } };
}
