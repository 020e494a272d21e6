import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { Services } from '../services.js';
import type { InflightWork } from '../lifecycle/inflight.js';
import { rolesFor, type Command } from '../commands/types.js';
import { describeRoles } from '../auth/roles.js';
import { INCIDENT_ACTIONS, type IncidentActionId } from './actions.js';
import type { AckResult } from './incident-service.js';

interface ActionDeps {
  services: Services;
  /** The `/waygate ack` command: its roles (with YAML overrides) decide who may press the buttons. */
  ackCommand: Pick<Command, 'name' | 'roles'>;
  inflight: InflightWork;
}

/** Registers the incident buttons. Each handler acks first; the work and its messages go through the outbox. */
export function registerIncidentActions(app: App, deps: ActionDeps): void {
  const { services } = deps;
  const tell = (responseUrl: string | undefined, text: string): void => {
    if (!responseUrl) return;
    services.outbox.enqueue({ kind: 'respond', payload: { responseUrl, text } });
  };

  const on = (actionId: IncidentActionId, work: (body: BlockAction, value: string) => Promise<string | null>) => {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action }) => {
      await ack();
      const task = (async () => {
        const allowed = rolesFor(deps.ackCommand, services.config);
        if (!(await services.roles.allows(body.user.id, allowed))) {
          services.metrics.actions.inc({ action: actionId, outcome: 'denied' });
          const roles = allowed === 'everyone' ? [] : allowed;
          tell(body.response_url, `Sorry, that button needs the ${describeRoles(roles)} role.`);
          return;
        }
        const message = await work(body, action.value ?? '');
        services.metrics.actions.inc({ action: actionId, outcome: 'ok' });
        if (message) tell(body.response_url, message);
      })().catch((err: unknown) => {
        services.metrics.actions.inc({ action: actionId, outcome: 'error' });
        services.logger.error({ err, actionId }, 'incident button failed');
        tell(body.response_url, 'Something went wrong handling that button; it has been logged.');
      });
      void deps.inflight.track(task);
    });
  };

  /** The alert message updates itself on success; the clicker hears only about what did not happen. */
  const problems = (results: AckResult[]): string | null => {
    const bad = results.filter((r) => r.outcome !== 'acknowledged' && r.outcome !== 'resolved');
    return bad.length > 0 ? bad.map((r) => services.incidents.describeAck(r)).join('\n') : null;
  };

  on(INCIDENT_ACTIONS.acknowledge, async (body, id) =>
    Promise.resolve(problems(services.incidents.acknowledge([id], body.user.id, body.response_url))),
  );
  on(INCIDENT_ACTIONS.resolve, async (body, id) =>
    Promise.resolve(problems(services.incidents.resolve([id], body.user.id, body.response_url))),
  );
  on(INCIDENT_ACTIONS.acknowledgeAllP1, async (body) => {
    const targets = services.incidents.open('P1').filter((i) => i.status === 'triggered');
    if (targets.length === 0) return Promise.resolve('No open, unacknowledged P1 incidents.');
    const results = services.incidents.acknowledge(
      targets.map((i) => i.id),
      body.user.id,
      body.response_url,
    );
    const done = results.filter((r) => r.outcome === 'acknowledged').length;
    return Promise.resolve(`Acknowledged ${done} P1 incident(s).${problems(results) ? `\n${problems(results)}` : ''}`);
  });
  // A link button still sends an interaction; Slack shows an error unless it is acked.
  app.action(INCIDENT_ACTIONS.openInPagerDuty, async ({ ack }) => {
    await ack();
    services.metrics.actions.inc({ action: INCIDENT_ACTIONS.openInPagerDuty, outcome: 'ok' });
  });
}
