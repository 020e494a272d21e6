import type { Services } from '../services.js';
import type { ActionRouter } from '../slack/action-router.js';
import { rolesFor, type Command } from '../commands/types.js';
import { describeRoles } from '../auth/roles.js';
import { INCIDENT_ACTIONS, type IncidentActionId } from './actions.js';
import type { AckResult } from './incident-service.js';

interface ActionDeps {
  services: Services;
  /** The `/waygate ack` command: its roles (with YAML overrides) decide who may press the buttons. */
  ackCommand: Pick<Command, 'name' | 'roles'>;
}

/** The incident buttons. The router has already acked; the work and its messages go through the outbox. */
export function registerIncidentActions(router: ActionRouter, deps: ActionDeps): void {
  const { services } = deps;
  const tell = (responseUrl: string | undefined, text: string): void => {
    if (!responseUrl) return;
    services.outbox.enqueue({ kind: 'respond', payload: { responseUrl, text } });
  };

  const guarded = (actionId: IncidentActionId, work: (userId: string, value: string, responseUrl: string) => string | null) => {
    router.on(actionId, async (body, action) => {
      const allowed = rolesFor(deps.ackCommand, services.config);
      if (!(await services.roles.allows(body.user.id, allowed))) {
        services.metrics.actions.inc({ action: actionId, outcome: 'denied' });
        const roles = allowed === 'everyone' ? [] : allowed;
        tell(body.response_url, `Sorry, that button needs the ${describeRoles(roles)} role.`);
        return;
      }
      const message = work(body.user.id, action.value ?? '', body.response_url);
      services.metrics.actions.inc({ action: actionId, outcome: 'ok' });
      if (message) tell(body.response_url, message);
    });
  };

  /** The alert message updates itself on success; the clicker hears only about what did not happen. */
  const problems = (results: AckResult[]): string | null => {
    const bad = results.filter((r) => r.outcome !== 'acknowledged' && r.outcome !== 'resolved');
    return bad.length > 0 ? bad.map((r) => services.incidents.describeAck(r)).join('\n') : null;
  };

  guarded(INCIDENT_ACTIONS.acknowledge, (user, id, url) => problems(services.incidents.acknowledge([id], user, url)));
  guarded(INCIDENT_ACTIONS.resolve, (user, id, url) => problems(services.incidents.resolve([id], user, url)));
  guarded(INCIDENT_ACTIONS.acknowledgeAllP1, (user, _value, url) => {
    const targets = services.incidents.open('P1').filter((i) => i.status === 'triggered');
    if (targets.length === 0) return 'No open, unacknowledged P1 incidents.';
    const results = services.incidents.acknowledge(
      targets.map((i) => i.id),
      user,
      url,
    );
    const done = results.filter((r) => r.outcome === 'acknowledged').length;
    const trouble = problems(results);
    return `Acknowledged ${done} P1 incident(s).${trouble ? `\n${trouble}` : ''}`;
  });
  // A link button still sends an interaction; acking it (the router does) is all Slack needs.
  router.on(INCIDENT_ACTIONS.openInPagerDuty, () => {
    services.metrics.actions.inc({ action: INCIDENT_ACTIONS.openInPagerDuty, outcome: 'ok' });
    return Promise.resolve();
  });
}
