import type { FaultQueue } from '../shared/faults.js';
import type { Reply } from '../shared/reply.js';
import { validateMessage } from './block-kit.js';
import { faultReply, type Fault } from './faults.js';

export interface ResponsePost {
  id: string;
  body: Record<string, unknown>;
  status: number | 'hung';
  at: number;
}

/** Slack accepts at most this many posts to one response_url. */
const RESPONSE_URL_USES = 5;

/**
 * The `response_url` endpoints at `/response/<id>`: JSON bodies, plain-text answers (`ok`, `no_text`,
 * `invalid_blocks`, `used_url`), at most five uses per URL. Faults target `response_url`.
 */
export class ResponseUrls {
  private posts: ResponsePost[] = [];
  private readonly uses = new Map<string, number>();

  constructor(private readonly faults: FaultQueue<string, Fault>) {}

  list(id?: string): ResponsePost[] {
    return id === undefined ? [...this.posts] : this.posts.filter((p) => p.id === id);
  }

  /** The post answered last, if any. */
  last(): ResponsePost | undefined {
    return this.posts.at(-1);
  }

  /** Forgets posts and how often each URL was used. */
  reset(): void {
    this.posts = [];
    this.uses.clear();
  }

  handle(id: string, raw: string): Reply {
    let body: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(raw) as unknown;
      if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
    } catch {
      // An unparsable body is recorded as empty and then refused as no_text below.
    }
    const post: ResponsePost = { id, body, status: 200, at: Date.now() };
    this.posts.push(post);
    const reply = this.reply(id, body);
    post.status = reply.status;
    return reply;
  }

  private reply(id: string, body: Record<string, unknown>): Reply {
    const fault = this.faults.take('response_url');
    if (fault) return faultReply(fault);
    const uses = this.uses.get(id) ?? 0;
    if (uses >= RESPONSE_URL_USES) return { status: 404, body: 'used_url' };
    if (body.delete_original !== true) {
      const problems = validateMessage(body);
      const onlyNoText = problems.length === 1 && problems[0] === 'no_text';
      if (problems.length > 0) return { status: 400, body: onlyNoText ? 'no_text' : 'invalid_blocks' };
    }
    this.uses.set(id, uses + 1);
    return { status: 200, body: 'ok' };
  }
}
