import { startCore, type Core } from './core.js';
import type { WaygateModule } from './module.js';
import type { MessageKey } from './keys.js';
import { OutboxDispatcher } from '../outbox/dispatcher.js';
import { operationalRoutes } from '../http/routes.js';

export interface Composed {
  dispatcher: OutboxDispatcher;
  start(port: number): Promise<{ port: number }>;
  stop(): Promise<void>;
}

/** Outbox kinds that go to Slack (the rest go to PagerDuty and are the PagerDuty module's to count). */
const SLACK_KINDS = new Set(['post', 'update', 'ephemeral', 'respond', 'file_upload']);

/**
 * Wires modules into the core: permissions, routes, interactions, outbox renderers, senders and delivery
 * hooks; then starts them in order and stops them in reverse.
 */
export function compose(core: Core, modules: readonly WaygateModule[]): Composed {
  const { config, logger, metrics, app, server, interactions, policy, deadlines, inflight, leadership } = core;
  for (const m of modules) {
    for (const [name, grant] of Object.entries(m.permissions ?? {})) policy.define(name, grant);
    if (m.routes) server.add(m.routes);
    if (m.actions) interactions.add(m.actions);
    if (m.views) interactions.addViews(m.views);
  }
  for (const name of policy.unknownOverrides()) {
    logger.warn({ permission: name }, `permissions.${name} names no permission in this version; it is ignored`);
  }
  interactions.register(app);

  const renderers = new Map<string, (key: MessageKey) => ReturnType<NonNullable<WaygateModule['renderers']>[string]>>();
  for (const m of modules) for (const [prefix, render] of Object.entries(m.renderers ?? {})) renderers.set(prefix, render);
  const senders = Object.assign({}, ...modules.map((m) => m.senders ?? {})) as NonNullable<WaygateModule['senders']>;
  const hooks = modules.flatMap((m) => (m.delivery ? [m.delivery] : []));

  const dispatcher = new OutboxDispatcher({
    data: core.leaderData,
    mayDeliver: () => leadership.mayAct(),
    outbox: core.outbox,
    sender: core.sender,
    ...senders,
    renderDeferred: (key) => renderers.get(key.slice(0, key.indexOf(':')))?.(key as MessageKey) ?? null,
    clock: core.clock,
    logger,
    paceMs: config.file.outbox.pace,
    maxBackoffMs: config.file.outbox.maxBackoff,
    giveUpAfterMs: config.file.outbox.giveUpAfter,
    onDelivered: (row) => {
      metrics.outboxDelivered.inc({ kind: row.kind });
      for (const h of hooks) h[row.kind]?.delivered?.(row);
    },
    onFailure: (row, failure, final) => {
      if (SLACK_KINDS.has(row.kind)) metrics.slackApiErrors.inc({ kind: failure.kind });
      for (const h of hooks) h[row.kind]?.failed?.(row, failure, final);
    },
  });

  // A follower's commits reach the leader: it would otherwise find them only at its next poll.
  core.outbox.onEnqueue(() => leadership.wake('outbox'));
  deadlines.onScheduleElsewhere(() => leadership.wake('deadlines'));
  const wakes = modules.flatMap((m) => (m.wake ? [m.wake] : []));
  leadership.onWake((topic) => {
    if (topic === 'outbox') dispatcher.nudge();
    else if (topic === 'deadlines') void deadlines.fire();
    for (const w of wakes) w[topic]?.();
  });

  // What must happen once: on the one process (SQLite) or on the elected replica (PostgreSQL).
  const leaderWork = {
    async start(): Promise<void> {
      await deadlines.start();
      await dispatcher.start();
      for (const m of modules) await m.leader?.start();
    },
    async stop(final: boolean): Promise<void> {
      for (const m of [...modules].reverse()) await m.leader?.stop(final);
      await dispatcher.stop();
      await deadlines.stop();
    },
  };

  server.add(operationalRoutes({ core, dispatcher, contributions: modules.flatMap((m) => (m.health ? [{ module: m.name, health: m.health }] : [])) }));

  let stopped = false;
  return {
    dispatcher,
    async start(port) {
      await startCore(core);
      try {
        await app.init();
      } catch (err) {
        throw new Error(`Slack rejected SLACK_BOT_TOKEN or could not be reached (auth.test): ${(err as Error).message}`);
      }
      const bound = await server.listen(port);
      if (config.mode === 'socket') {
        try {
          await app.start();
        } catch (err) {
          await server.close();
          await app.stop().catch(() => undefined);
          throw new Error(`Slack rejected SLACK_APP_TOKEN or could not be reached (apps.connections.open): ${(err as Error).message}`);
        }
      }
      for (const m of modules) await m.start?.();
      await leadership.start(leaderWork);
      logger.info(
        { port: bound, mode: config.mode, version: core.version, replica: leadership.replica, role: leadership.isLeader() ? 'leader' : 'follower' },
        'Waygate is running',
      );
      return { port: bound };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (config.mode === 'socket') {
        await app.stop().catch((err: unknown) => logger.warn({ err }, 'receiver did not stop cleanly'));
        // Bolt's stop() does not wait for the socket to close; an envelope in that gap would meet a closed db.
        await (core.receiver as unknown as { client: { disconnect(): Promise<void> } }).client.disconnect();
      }
      await server.close();
      await inflight.drain();
      await leadership.stop();
      for (const m of [...modules].reverse()) await m.stop?.();
      await core.replays.flush();
      await core.data.close();
      core.db?.close();
      await core.instanceLock.release();
      logger.info('Waygate stopped');
    },
  };
}
