import type { Services } from '../services.js';
import type { ActionRouter } from '../slack/action-router.js';
import { DIGEST_ACTIONS } from './digest.js';

/** Who may mark the daily check done (SOP-MAINT-001 is owned by the operations team). */
const REVIEWERS = ['ops', 'lead', 'oncall'] as const;

/** The digest's **Reviewed** button: records who did the daily check and updates the message. */
export function registerDigestActions(router: ActionRouter, services: Services): void {
  router.on(DIGEST_ACTIONS.reviewed, async (body, action) => {
    const tell = (text: string) => services.outbox.enqueue({ kind: 'respond', payload: { responseUrl: body.response_url, text } });
    if (!(await services.roles.allows(body.user.id, REVIEWERS))) {
      services.metrics.actions.inc({ action: DIGEST_ACTIONS.reviewed, outcome: 'denied' });
      tell('Sorry, marking the digest reviewed needs the *ops*, *lead* or *oncall* role.');
      return;
    }
    const result = services.health.markReviewed(Number(action.value), body.user.id);
    services.metrics.actions.inc({ action: DIGEST_ACTIONS.reviewed, outcome: result });
    if (result === 'already') tell('This digest was already marked reviewed.');
    if (result === 'not_found') tell('That digest no longer exists.');
  });
}
