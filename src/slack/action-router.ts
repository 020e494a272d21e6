import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { Logger } from '../logging/logger.js';
import type { InflightWork } from '../lifecycle/inflight.js';
import type { Metrics } from '../http/metrics.js';

export type ButtonHandler = (body: BlockAction<ButtonAction>, action: ButtonAction) => Promise<void>;

/**
 * One Bolt listener for every button. Bolt runs each registered listener's matching on every request,
 * slash commands included, so one dispatcher keyed by action id keeps the command ack path short.
 * The dispatcher acks first; the handler's work runs after, tracked for graceful shutdown.
 */
export class ActionRouter {
  private readonly handlers = new Map<string, ButtonHandler>();

  on(actionId: string, handler: ButtonHandler): void {
    if (this.handlers.has(actionId)) throw new Error(`action ${actionId} registered twice`);
    this.handlers.set(actionId, handler);
  }

  register(app: App, deps: { logger: Logger; inflight: InflightWork; metrics: Metrics }): void {
    app.action<BlockAction<ButtonAction>>({ type: 'block_actions' }, async ({ ack, body, action }) => {
      await ack();
      const handler = this.handlers.get(action.action_id);
      if (!handler) {
        deps.logger.warn({ actionId: action.action_id }, 'button with no handler');
        deps.metrics.actions.inc({ action: 'unknown', outcome: 'ignored' });
        return;
      }
      void deps.inflight.track(
        handler(body, action).catch((err: unknown) => {
          deps.metrics.actions.inc({ action: action.action_id, outcome: 'error' });
          deps.logger.error({ err, actionId: action.action_id }, 'button handler failed');
        }),
      );
    });
  }
}
