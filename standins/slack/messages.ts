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
}

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
    return {
      type: 'message',
      text: m.text,
      blocks: m.blocks,
      ts: m.ts,
      user: this.botUserId,
      bot_id: 'B0WAYGATE',
      ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}),
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
