import type { CustomRoute } from '@slack/bolt';
import type { Action, View } from './interactions.js';
import type { Grant, PermissionName } from './policy.js';
import type { MessageKey } from './keys.js';
import type { DeliveryFailure, MessageContent, OutboxItem, OutboxRow } from '../outbox/types.js';
import type { WakeTopic } from '../cluster/leadership.js';
import type { PagerDutyBulkStatusSender, PagerDutyChangeSender, PagerDutyEventSender, PagerDutyStatusSender } from '../outbox/slack-delivery.js';

export interface DeliveryHooks {
  /** A row of this kind was delivered. Runs after its commit. */
  delivered?(row: OutboxRow): void;
  /** A delivery attempt failed; `final` when the row was given up, not just rescheduled. */
  failed?(row: OutboxRow, failure: DeliveryFailure, final: boolean): void;
}

/** A section of GET /health; `degraded` turns the overall status to degraded. */
export interface HealthContribution {
  value: unknown;
  degraded?: boolean;
}

/**
 * What a feature module contributes to the bot. The composition root registers these and starts modules in
 * order (stops them in reverse); a module owns its tables and exposes a facade for others.
 */
export interface WaygateModule {
  name: string;
  /** Permissions the module checks, with their default grants (YAML `permissions:` overrides). */
  permissions?: Readonly<Record<PermissionName, Grant>>;
  /** HTTP routes on the bot's port. */
  routes?: readonly CustomRoute[];
  /** Interactive elements (buttons, checkboxes, menus) the module handles. */
  actions?: readonly Action[];
  /** Modals (views) whose submissions the module handles. */
  views?: readonly View[];
  /** Renders deferred outbox updates whose render key starts with `<prefix>:`. */
  renderers?: Readonly<Record<string, (key: MessageKey) => MessageContent | null | Promise<MessageContent | null>>>;
  /** Hooks on outbox deliveries, by outbox kind. */
  delivery?: Partial<Record<OutboxItem['kind'], DeliveryHooks>>;
  /** Sends outbox rows the Slack sender does not (PagerDuty). */
  senders?: { pagerDuty?: PagerDutyStatusSender; pagerDutyBulk?: PagerDutyBulkStatusSender; pagerDutyEvents?: PagerDutyEventSender; pagerDutyChange?: PagerDutyChangeSender };
  /** Sections of GET /health, by name. */
  health?: () => Record<string, HealthContribution> | Promise<Record<string, HealthContribution>>;
  /** Started on every replica, before any leader work. */
  start?(): void | Promise<void>;
  stop?(): void | Promise<void>;
  /**
   * Work only the leader does (decision 021): started when this process becomes leader (at start-up on SQLite),
   * stopped when it stops leading (`final` false: stop at once) or shuts down (`final` true: finish what was accepted).
   */
  leader?: { start(): void | Promise<void>; stop(final: boolean): void | Promise<void> };
  /** On the leader: what to do when a follower committed something of this topic. */
  wake?: Partial<Record<WakeTopic, () => void>>;
}
