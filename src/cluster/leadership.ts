/**
 * Who does the work that must happen once (decision 021): timers (deadlines, scheduled jobs), the outbox
 * dispatcher and the webhook inbox's processor. On SQLite the one process leads from start to stop. On
 * PostgreSQL the replicas elect a leader through the lease row (leader-lease.ts); the others serve HTTP and
 * Slack and wake the leader when they committed something it must act on.
 */
import pg from 'pg';
import { sql, type Transaction } from 'kysely';
import { first, type Schema } from '../db/data-layer.js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../logging/logger.js';
import { FencedOut, LeaderElector, LeaderLease, type DemotionReason } from './leader-lease.js';

/** What a follower wakes the leader for: it committed outbox rows, deadlines, inbox events or a job request. */
export const WAKE_TOPICS = ['outbox', 'deadlines', 'inbox', 'jobs'] as const;
export type WakeTopic = (typeof WAKE_TOPICS)[number];

/** The notification channel followers wake the leader on. */
const WAKE_CHANNEL = 'waygate_wake';
/** A lost LISTEN connection is opened again after this long. */
const RELISTEN_MS = 1_000;

/** What a replica's sessions are called in pg_stat_activity (PostgreSQL keeps 63 characters of it). */
export function sessionName(replica: string): string {
  return `waygate ${replica}`.slice(0, 63);
}

/** Started when this replica becomes leader, stopped when it stops being one (or the process stops). */
export interface LeaderWork {
  start(): Promise<void>;
  /** `final` at shutdown (finish what was accepted); otherwise demoted: stop at once, the new leader carries on. */
  stop(final: boolean): Promise<void>;
}

export interface LeadershipStatus {
  mode: 'single' | 'replicas';
  role: 'leader' | 'follower';
  /** This replica's name (host, pid and a random part). */
  replica: string;
  /** The lease holder, by the database; null before anyone took it. */
  holder: string | null;
  /** How long the holder has led, and how long its lease still runs (negative: ran out), in seconds. */
  heldForSeconds: number | null;
  expiresInSeconds: number | null;
}

export interface Leadership {
  readonly mode: 'single' | 'replicas';
  readonly replica: string;
  isLeader(): boolean;
  /**
   * Just before a delivery: false once this replica may no longer lead (its lease may have run out, by the
   * clock now). Checked synchronously, because a process that wakes from a freeze runs I/O callbacks first.
   */
  mayAct(): boolean;
  /** The first statement of every leader-side transaction: throws FencedOut (rolling it back) unless this replica's token holds. */
  fence(tx: Transaction<Schema>): Promise<void>;
  /** Runs `work` whenever this replica leads; resolves after the first election attempt (and the work's start, if won). */
  start(work: LeaderWork): Promise<void>;
  /** Stops the work (finishing it, `final`), then gives the lease up so another replica takes over at once. */
  stop(): Promise<void>;
  /** From a follower: tell the leader it has something to act on. The leader acts on its own commits already. */
  wake(topic: WakeTopic): void;
  /** On the leader: what to do when a follower woke it, or when the leader polls. */
  onWake(handler: (topic: WakeTopic) => void): void;
  status(): Promise<LeadershipStatus>;
  /** Which of these replicas still run (have a connection to the database); this one always does. */
  liveReplicas(names: readonly string[]): Promise<ReadonlySet<string>>;
}

/** Counts elections and demotions for /metrics. */
export type LeadershipEvents = (event: 'elected' | 'demoted', detail?: DemotionReason) => void;

/** Runs `work` one transition at a time, and never starts or stops it twice in a row. */
class WorkSwitch {
  private running = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly work: LeaderWork,
    private readonly logger: Logger,
  ) {}

  on(): Promise<void> {
    return this.then(async () => {
      if (this.running) return;
      this.running = true;
      await this.work.start();
    });
  }

  off(final: boolean): Promise<void> {
    return this.then(async () => {
      if (!this.running) return;
      this.running = false;
      await this.work.stop(final);
    });
  }

  private then(step: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(step).catch((err: unknown) => this.logger.error({ err }, 'starting or stopping the leader work failed'));
    return this.chain;
  }
}

/** SQLite: one process, which leads until it stops (the lock file keeps a second one out). */
export class SoleLeadership implements Leadership {
  readonly mode = 'single' as const;
  private switch: WorkSwitch | undefined;

  constructor(
    readonly replica: string,
    private readonly logger: Logger,
    private readonly events: LeadershipEvents = () => undefined,
  ) {}

  isLeader(): boolean {
    return this.switch !== undefined;
  }

  mayAct(): boolean {
    return true;
  }

  fence(): Promise<void> {
    return Promise.resolve();
  }

  async start(work: LeaderWork): Promise<void> {
    this.switch = new WorkSwitch(work, this.logger);
    this.events('elected');
    await this.switch.on();
  }

  async stop(): Promise<void> {
    await this.switch?.off(true);
  }

  wake(): void {}

  onWake(): void {}

  liveReplicas(names: readonly string[]): Promise<ReadonlySet<string>> {
    // One process: any other name is a process that ran before this one.
    return Promise.resolve(new Set(names.filter((n) => n === this.replica)));
  }

  status(): Promise<LeadershipStatus> {
    return Promise.resolve({ mode: 'single', role: 'leader', replica: this.replica, holder: this.replica, heldForSeconds: null, expiresInSeconds: null });
  }
}

export interface ElectedLeadershipOptions {
  url: string;
  replica: string;
  clock: Clock;
  logger: Logger;
  ttlMs: number;
  renewEveryMs: number;
  events?: LeadershipEvents;
}

/**
 * PostgreSQL: the lease (a row with a fencing token), renewed every renewEveryMs; a connection of its own
 * LISTENs for followers' wake-ups. While it leads, it also looks at every topic each renewal period, in case
 * a wake-up was lost (a follower that died between its commit and its NOTIFY, a dropped LISTEN connection).
 */
export class ElectedLeadership implements Leadership {
  readonly mode = 'replicas' as const;
  readonly replica: string;
  private readonly pool: pg.Pool;
  private readonly lease: LeaderLease;
  private readonly elector: LeaderElector;
  private switch: WorkSwitch | undefined;
  private wakeHandler: (topic: WakeTopic) => void = () => undefined;
  private listener: pg.Client | undefined;
  private relisten: TimerHandle | undefined;
  private poll: TimerHandle | undefined;
  private stopped = false;
  private readonly toWake = new Set<WakeTopic>();

  constructor(private readonly opts: ElectedLeadershipOptions) {
    this.replica = opts.replica;
    // Two connections: the lease's statements and the wake-ups followers send. A statement stuck longer than
    // half the lease fails, so a leader cut off from the database demotes itself before its lease runs out.
    const timeoutMs = Math.max(1_000, Math.floor(opts.ttlMs / 2));
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: 2,
      application_name: sessionName(opts.replica),
      // The server cancels a statement stuck on a lock; the client gives up on one stuck in the network.
      statement_timeout: timeoutMs,
      query_timeout: timeoutMs + 500,
    });
    this.pool.on('error', () => undefined);
    this.pool.on('connect', (client) => client.on('error', () => undefined));
    this.lease = new LeaderLease(this.pool);
    this.elector = new LeaderElector({
      lease: this.lease,
      holder: opts.replica,
      clock: opts.clock,
      ttlMs: opts.ttlMs,
      renewEveryMs: opts.renewEveryMs,
      onElected: (token) => {
        // Logged as `term`: the logger redacts anything called a token.
        opts.logger.info({ replica: opts.replica, term: token.toString() }, 'this replica leads: timers, jobs and deliveries run here');
        opts.events?.('elected');
        void this.switch?.on();
        this.armPoll();
      },
      onDemoted: (reason) => {
        opts.logger.warn({ replica: opts.replica, reason }, 'this replica no longer leads: it stops timers, jobs and deliveries');
        opts.events?.('demoted', reason);
        this.poll?.cancel();
        void this.switch?.off(false);
      },
      onError: (err) => opts.logger.warn({ err: { message: (err as Error).message } }, 'leader lease: attempt failed'),
    });
  }

  isLeader(): boolean {
    return this.elector.isLeader;
  }

  mayAct(): boolean {
    return this.elector.holdsLease();
  }

  async fence(tx: Transaction<Schema>): Promise<void> {
    const mine = this.elector.currentToken;
    if (mine === null) throw new FencedOut(null, null);
    // A share lock until the transaction ends: a takeover (which updates the row) waits for this transaction.
    const row = await first(tx, sql<{ token: string }>`SELECT token::text AS token FROM waygate_leader WHERE id = 1 FOR SHARE`);
    const actual = row === undefined ? null : BigInt(row.token);
    if (actual !== mine) throw new FencedOut(mine, actual);
  }

  async start(work: LeaderWork): Promise<void> {
    this.switch = new WorkSwitch(work, this.opts.logger);
    await this.lease.ensureTable();
    await this.listen();
    await this.elector.start();
    // Won at the first attempt: the work (started by onElected) is running before start() resolves, as on SQLite.
    if (this.elector.isLeader) await this.switch.on();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.poll?.cancel();
    this.relisten?.cancel();
    // Finish the work while the lease still holds (its transactions are fenced), then hand the lease over.
    await this.switch?.off(true);
    await this.elector.stop();
    await this.listener?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  wake(topic: WakeTopic): void {
    if (this.stopped || this.elector.isLeader) return;
    const first = this.toWake.size === 0;
    this.toWake.add(topic);
    if (!first) return;
    // One NOTIFY per topic per turn, however many rows the turn committed.
    setImmediate(() => {
      const topics = [...this.toWake];
      this.toWake.clear();
      for (const t of topics) {
        this.pool.query('SELECT pg_notify($1, $2)', [WAKE_CHANNEL, t]).catch((err: unknown) => {
          // The leader's poll finds it within one renewal period.
          this.opts.logger.warn({ err: { message: (err as Error).message }, topic: t }, 'could not wake the leader');
        });
      }
    });
  }

  onWake(handler: (topic: WakeTopic) => void): void {
    this.wakeHandler = handler;
  }

  async status(): Promise<LeadershipStatus> {
    const lease = await this.lease.current();
    return {
      mode: 'replicas',
      role: this.elector.isLeader ? 'leader' : 'follower',
      replica: this.replica,
      holder: lease?.holder ?? null,
      heldForSeconds: lease ? Math.round(lease.heldForMs / 1000) : null,
      expiresInSeconds: lease ? Math.round(lease.expiresInMs / 1000) : null,
    };
  }

  /**
   * A replica is alive while it has a session on the database: every session it opens is named after it
   * (`application_name`, cut to PostgreSQL's 63 characters). A frozen replica keeps its sessions, so it counts
   * as alive; a dead one's sessions end with its process.
   */
  async liveReplicas(names: readonly string[]): Promise<ReadonlySet<string>> {
    const { rows } = await this.pool.query<{ name: string }>(
      "SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'waygate %'",
    );
    const sessions = rows.map((r) => r.name);
    return new Set(names.filter((n) => n === this.replica || sessions.some((s) => s.startsWith(sessionName(n)))));
  }

  private handle(topic: WakeTopic): void {
    if (!this.elector.isLeader) return;
    try {
      this.wakeHandler(topic);
    } catch (err) {
      this.opts.logger.error({ err, topic }, 'acting on a wake-up failed');
    }
  }

  /** While leading: every topic once per renewal period, so nothing waits on a lost wake-up for longer. */
  private armPoll(): void {
    this.poll?.cancel();
    if (this.stopped) return;
    this.poll = this.opts.clock.setTimer(this.opts.renewEveryMs, () => {
      if (!this.elector.isLeader) return;
      for (const topic of WAKE_TOPICS) this.handle(topic);
      this.armPoll();
    });
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.url, application_name: sessionName(this.opts.replica) });
    const lost = (): void => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.end().catch(() => undefined);
      if (this.stopped) return;
      this.relisten = this.opts.clock.setTimer(RELISTEN_MS, () => void this.listen().catch(() => undefined));
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => {
      if ((WAKE_TOPICS as readonly string[]).includes(n.payload ?? '')) this.handle(n.payload as WakeTopic);
    });
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${WAKE_CHANNEL}`);
    } catch (err) {
      this.opts.logger.warn({ err: { message: (err as Error).message } }, 'could not listen for wake-ups; the leader polls meanwhile');
      lost();
    }
  }
}
