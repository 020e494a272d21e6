import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { OpenedView, SlackActivity, SlackStandIn, StoredMessage } from '../standins/slack/index.js';

/** A reply only one person sees: a command's answer, a button's feedback, chat.postEphemeral. */
export interface Ephemeral {
  id: string;
  channel: string;
  user: string;
  text: string;
  blocks: unknown[] | undefined;
  /** The channel's newest message when it arrived: it is shown after that one. */
  afterTs: string;
  seq: number;
  at: number;
}

/** Where an answer to a response_url goes: who acted, in which channel, on which ephemeral message. */
interface ResponseTarget {
  user: string;
  channel: string;
  ephemeralId?: string;
}

/** What the page is told over server-sent events; it then reloads what changed. */
export type SandboxEvent =
  | { type: 'channel'; channel: string }
  | { type: 'ephemeral'; channel: string; user: string }
  | { type: 'modal'; user: string; viewId: string }
  | { type: 'clock'; now: number; offsetMs: number }
  | { type: 'service'; healthy: boolean }
  | { type: 'notice'; text: string };

export interface TimelineFile {
  id: string;
  filename: string;
  title: string | undefined;
  size: number;
  url: string;
}

export interface TimelineItem {
  kind: 'message' | 'ephemeral' | 'in_channel';
  /** The message ts (messages) or the ephemeral's id. */
  id: string;
  ts?: string;
  text: string;
  blocks: unknown[] | undefined;
  edited: boolean;
  user?: string;
  /** Sandbox time it was first seen. */
  at: number | undefined;
  broadcast?: boolean;
  replies?: TimelineItem[];
  files?: TimelineFile[];
  sort: number;
}

/**
 * The sandbox's view of the stand-in workspace: the stand-in keeps channel messages; this adds what Slack
 * shows but does not store (ephemeral replies, modals waiting for someone) and tells the page what changed.
 */
export class Workspace {
  private readonly ephemerals: Ephemeral[] = [];
  private readonly inChannel: Ephemeral[] = [];
  private readonly targets = new Map<string, ResponseTarget>();
  private readonly triggers = new Map<string, string>();
  private readonly modals = new Map<string, { view: OpenedView; user: string }>();
  private readonly seenAt = new Map<string, number>();
  private readonly clients = new Set<ServerResponse>();
  private seq = 0;
  private readonly stopObserving: () => void;

  constructor(
    private readonly slack: SlackStandIn,
    /** Page channel id → the stand-in channel ids shown in it (a DM is both the user id and the D… id). */
    private readonly channelIds: (channel: string) => string[],
    /** The stand-in channel id a message landed in → the page's channel id. */
    private readonly pageChannel: (channel: string) => string,
    private readonly now: () => number,
  ) {
    this.stopObserving = slack.observe((activity) => this.observe(activity));
  }

  close(): void {
    this.stopObserving();
    for (const client of this.clients) client.end();
    this.clients.clear();
  }

  /** A response_url for an interaction `user` starts in `channel` (on an ephemeral message, if given). */
  responseUrl(target: ResponseTarget): string {
    const id = randomUUID();
    this.targets.set(id, target);
    return this.slack.responseUrl(id);
  }

  /** A trigger_id for an interaction by `user`: a modal the bot opens with it is shown to them. */
  triggerId(user: string): string {
    const id = `${Date.now()}.${Math.floor(Math.random() * 1e11)}.${randomUUID().replaceAll('-', '')}`;
    this.triggers.set(id, user);
    return id;
  }

  /** A command's acknowledgement body: ephemeral unless `in_channel`. */
  addReply(target: ResponseTarget, body: { text?: unknown; blocks?: unknown; response_type?: unknown }): void {
    if (typeof body.text !== 'string' && !Array.isArray(body.blocks)) return;
    const reply = this.newEphemeral(target.channel, target.user, body);
    if (body.response_type === 'in_channel') this.inChannel.push(reply);
    else this.ephemerals.push(reply);
    this.notifyChannel(target.channel, target.user, body.response_type === 'in_channel');
  }

  ephemeral(id: string): Ephemeral | undefined {
    return this.ephemerals.find((e) => e.id === id);
  }

  modal(viewId: string): { view: OpenedView; user: string } | undefined {
    return this.modals.get(viewId);
  }

  modalsFor(user: string): OpenedView[] {
    return [...this.modals.values()].filter((m) => m.user === user).map((m) => m.view);
  }

  closeModal(viewId: string): void {
    this.modals.delete(viewId);
  }

  /** The stand-in's message `ts` in one of the page channel's stand-in channels. */
  message(channel: string, ts: string): StoredMessage | undefined {
    for (const id of this.channelIds(channel)) {
      const found = this.slack.messages(id).find((m) => m.ts === ts);
      if (found) return found;
    }
    return undefined;
  }

  /** What `user` sees in a channel: messages with their threads and files, and the replies only they see. */
  timeline(channel: string, user: string): TimelineItem[] {
    const ids = this.channelIds(channel);
    const messages = ids.flatMap((id) => this.slack.messages(id)).sort((a, b) => Number(a.ts) - Number(b.ts));
    const files = this.slack.files().filter((f) => f.channel !== undefined && ids.includes(f.channel));
    const fileOf = (f: (typeof files)[number]): TimelineFile => ({ id: f.id, filename: f.filename, title: f.title, size: f.bytes.length, url: `/sandbox/files/${encodeURIComponent(f.id)}` });
    const item = (m: StoredMessage): TimelineItem => ({
      kind: 'message',
      id: m.ts,
      ts: m.ts,
      text: m.text,
      blocks: Array.isArray(m.blocks) ? (m.blocks as unknown[]) : undefined,
      edited: m.updates > 0,
      ...(m.user ? { user: m.user } : {}),
      at: this.seenAt.get(m.ts),
      sort: Number(m.ts),
    });
    const isReply = (m: StoredMessage) => m.thread_ts !== undefined && m.thread_ts !== m.ts;
    const top: TimelineItem[] = [];
    for (const m of messages) {
      if (isReply(m) && !m.reply_broadcast) continue;
      const shown = item(m);
      if (isReply(m)) shown.broadcast = true;
      else {
        shown.replies = messages.filter((r) => isReply(r) && r.thread_ts === m.ts).map(item);
        const attached = files.filter((f) => f.threadTs === m.ts).map(fileOf);
        if (attached.length > 0) shown.files = attached;
      }
      top.push(shown);
    }
    for (const f of files.filter((x) => x.threadTs === undefined)) {
      top.push({ kind: 'message', id: f.id, text: f.initialComment ?? '', blocks: undefined, edited: false, at: undefined, files: [fileOf(f)], sort: Number.MAX_SAFE_INTEGER });
    }
    const extra = (e: Ephemeral, kind: TimelineItem['kind']): TimelineItem => ({
      kind,
      id: e.id,
      text: e.text,
      blocks: e.blocks,
      edited: false,
      at: e.at,
      sort: Number(e.afterTs) + ((e.seq % 900) + 1) * 1e-7,
    });
    top.push(...this.inChannel.filter((e) => e.channel === channel).map((e) => extra(e, 'in_channel')));
    top.push(...this.ephemerals.filter((e) => e.channel === channel && e.user === user).map((e) => extra(e, 'ephemeral')));
    return top.sort((a, b) => a.sort - b.sort);
  }

  /** GET …/events: a server-sent event stream of what changes. */
  subscribe(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write('retry: 1000\n\n');
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }

  broadcast(event: SandboxEvent): void {
    const line = `data: ${JSON.stringify(event)}\n\n`;
    for (const client of this.clients) client.write(line);
  }

  /** Keeps idle connections from being closed by proxies; a comment line the page ignores. */
  heartbeat(): void {
    for (const client of this.clients) client.write(': keep-alive\n\n');
  }

  private newEphemeral(channel: string, user: string, body: { text?: unknown; blocks?: unknown }): Ephemeral {
    const newest = this.channelIds(channel)
      .flatMap((id) => this.slack.messages(id))
      .reduce((max, m) => Math.max(max, Number(m.ts)), 0);
    return {
      id: `E${++this.seq}`,
      channel,
      user,
      text: typeof body.text === 'string' ? body.text : '',
      blocks: Array.isArray(body.blocks) ? (body.blocks as unknown[]) : undefined,
      afterTs: String(newest),
      seq: this.seq,
      at: this.now(),
    };
  }

  private notifyChannel(channel: string, user: string, everyone: boolean): void {
    this.broadcast(everyone ? { type: 'channel', channel } : { type: 'ephemeral', channel, user });
  }

  private observe(activity: SlackActivity): void {
    if (activity.kind === 'response') {
      this.onResponse(activity.post.id, activity.post.body, activity.post.status);
      return;
    }
    const { method, params, response, status } = activity.call;
    const answer = (response ?? {}) as { ok?: boolean; ts?: string; view?: { id?: string } };
    if (status !== 200 || answer.ok !== true) return;
    if (method === 'chat.postMessage' || method === 'chat.update') {
      if (method === 'chat.postMessage' && answer.ts) this.seenAt.set(answer.ts, this.now());
      this.broadcast({ type: 'channel', channel: this.pageChannel(String(params.channel)) });
    } else if (method === 'chat.postEphemeral') {
      const channel = this.pageChannel(String(params.channel));
      this.ephemerals.push(this.newEphemeral(channel, String(params.user), params));
      this.notifyChannel(channel, String(params.user), false);
    } else if (method === 'views.open') {
      const viewId = answer.view?.id;
      const view = this.slack.views().find((v) => v.id === viewId);
      const user = this.triggers.get(String(params.trigger_id));
      if (view && user) {
        this.modals.set(view.id, { view, user });
        this.broadcast({ type: 'modal', user, viewId: view.id });
      }
    } else if (method === 'files.completeUploadExternal' && typeof params.channel_id === 'string') {
      this.broadcast({ type: 'channel', channel: this.pageChannel(params.channel_id) });
    }
  }

  private onResponse(id: string, body: Record<string, unknown>, status: number | 'hung'): void {
    const target = this.targets.get(id);
    if (!target || status !== 200) return;
    const current = target.ephemeralId ? this.ephemerals.findIndex((e) => e.id === target.ephemeralId) : -1;
    if (body.delete_original === true) {
      if (current >= 0) this.ephemerals.splice(current, 1);
    } else if (body.replace_original === true && current >= 0) {
      const old = this.ephemerals[current]!;
      this.ephemerals[current] = { ...this.newEphemeral(target.channel, target.user, body), id: old.id, afterTs: old.afterTs, seq: old.seq };
    } else if (body.response_type === 'in_channel') {
      this.inChannel.push(this.newEphemeral(target.channel, target.user, body));
    } else {
      this.ephemerals.push(this.newEphemeral(target.channel, target.user, body));
    }
    this.notifyChannel(target.channel, target.user, body.response_type === 'in_channel');
  }
}
