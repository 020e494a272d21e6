import type { Clock } from '../clock/clock.js';
import { DeliveryError } from '../outbox/types.js';

const CACHE_MS = 60 * 60_000;

/**
 * PagerDuty records who acknowledged through the `From` header: the Slack user's e-mail (users.info, needs
 * users:read.email), else PAGERDUTY_FROM_EMAIL. Looked up at delivery time, never on the ack path.
 */
export class FromEmailResolver {
  private readonly cache = new Map<string, { email: string | undefined; until: number }>();

  constructor(
    private readonly lookup: (slackUserId: string) => Promise<string | undefined>,
    private readonly fallback: string | undefined,
    private readonly clock: Clock,
  ) {}

  async emailFor(slackUserId: string): Promise<string> {
    const now = this.clock.nowMs();
    const cached = this.cache.get(slackUserId);
    let email = cached && cached.until > now ? cached.email : undefined;
    if (!cached || cached.until <= now) {
      try {
        email = await this.lookup(slackUserId);
        this.cache.set(slackUserId, { email, until: now + CACHE_MS });
      } catch (err) {
        if (!this.fallback) {
          throw new DeliveryError({ kind: 'retryable', detail: `could not read the e-mail of ${slackUserId}: ${(err as Error).message}` });
        }
      }
    }
    const from = email ?? this.fallback;
    if (!from) {
      throw new DeliveryError({
        kind: 'permanent',
        detail: `Slack has no e-mail for ${slackUserId} and PAGERDUTY_FROM_EMAIL is not set`,
      });
    }
    return from;
  }
}
