import { z } from 'zod';
import { defineAction, type Action } from '../core/interactions.js';
import { PERMISSIONS } from '../core/policy.js';
import { DIGEST_ACTIONS } from './digest.js';
import type { HealthService } from './health-service.js';

/** The digest's **Reviewed** button: records who did the daily check and updates the message. */
export function digestActions(health: HealthService): Action[] {
  return [
    defineAction({
      id: DIGEST_ACTIONS.reviewed,
      value: z.string().regex(/^[1-9]\d{0,15}$/, { message: 'expected a digest number' }).transform(Number),
      permission: { name: PERMISSIONS.digestReview, what: 'marking the digest reviewed', subject: (id) => `digest #${id}` },
      async handle(ctx, id) {
        const result = await health.markReviewed(id, ctx.userId);
        if (result === 'already') ctx.tell('This digest was already marked reviewed.');
        if (result === 'not_found') ctx.tell('That digest no longer exists.');
      },
    }),
  ];
}
