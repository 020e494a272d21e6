import { DateTime } from 'luxon';
import { sql } from 'kysely';
import { all, first, run, type DataLayer, type Executor } from '../db/data-layer.js';
import type { Clock } from '../clock/clock.js';
import type { Outbox } from '../outbox/outbox.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { SopEngine } from '../sops/engine.js';
import type { Run } from '../sops/run-state.js';
import { WAYGATE_ACTOR, escapeMrkdwn, formatDuration, mention } from '../core/text.js';
import { slackDate } from '../slack/format.js';
import { messageKeys } from '../core/keys.js';
import { LIST_PROCEDURE, listsDue, weeklyReminderKey, type ListKind } from './calendar.js';

export interface ComplianceServiceOptions {
  data: DataLayer;
  clock: Clock;
  outbox: Outbox;
  audit: AuditLog;
  engine: Pick<SopEngine, 'start' | 'get'>;
  timezone: string;
  isWorkingDay: (at: Date) => boolean;
  /** channels.compliance, where the lists and reminders go. */
  channel: string | undefined;
  /** The Compliance Officer, told of new lists and overdue items by direct message. */
  owner: string | null;
  sopReviewFrom: string | null;
}

/** A posted list and where its run stands. */
export interface CalendarList {
  key: string;
  kind: ListKind;
  run: Run;
  dueAt: number;
  overdue: boolean;
  /** Items nobody has ticked yet. */
  open: string[];
}

export interface CalendarOutcome {
  posted: string[];
  reminded: number;
  problems: string[];
}

interface Row {
  key: string;
  kind: ListKind;
  run_id: number;
  due_at: number;
}

/**
 * SOP-COMP-001 on the calendar: each working day it posts the lists that have become due (as runs of the
 * audit-preparation procedure, so ticking, who/when and reports are the engine's), and on the first working
 * day of each week it reminds the channel and the owner of overdue items.
 */
export class ComplianceService {
  constructor(private readonly opts: ComplianceServiceOptions) {}

  private local(): DateTime {
    return DateTime.fromMillis(this.opts.clock.nowMs(), { zone: this.opts.timezone });
  }

  private readonly workingDay = (day: DateTime): boolean => this.opts.isWorkingDay(day.set({ hour: 12 }).toJSDate());

  /** The daily job: post what is due today, then the weekly reminder when it is that day. */
  async runCalendar(): Promise<CalendarOutcome> {
    const outcome: CalendarOutcome = { posted: [], reminded: 0, problems: [] };
    if (!this.opts.channel) {
      outcome.problems.push('channels.compliance is not configured, so no compliance list was posted');
      return outcome;
    }
    const today = this.local();
    const { data, engine } = this.opts;
    const has = async (ex: Executor, key: string): Promise<boolean> => (await first(ex, sql`SELECT 1 AS found FROM compliance_calendar WHERE key = ${key}`)) !== undefined;
    const insert = async (ex: Executor, key: string, kind: ListKind | 'reminder', runId: number | null, dueAt: number | null): Promise<void> => {
      await run(ex, sql`INSERT INTO compliance_calendar (key, kind, run_id, due_at, created_at) VALUES (${key}, ${kind}, ${runId}, ${dueAt}, ${this.opts.clock.nowMs()})`);
    };
    // The first run marks where the calendar begins; later runs catch up on anything since.
    await run(data.db, sql`INSERT INTO compliance_calendar (key, kind, created_at) VALUES ('calendar:since', 'since', ${this.opts.clock.nowMs()}) ON CONFLICT DO NOTHING`);
    const sinceRow = await first(data.db, sql<{ created_at: number }>`SELECT created_at FROM compliance_calendar WHERE key = 'calendar:since'`);
    const since = DateTime.fromMillis(Number(sinceRow?.created_at), { zone: this.opts.timezone });
    for (const list of listsDue(today, since, this.workingDay, this.opts.sopReviewFrom)) {
      if (await has(data.db, list.key)) continue;
      const procedure = LIST_PROCEDURE[list.kind];
      const due = slackDate(new Date(list.dueAt - 1), '{date_long}');
      const problem = await data.transaction(async (tx): Promise<string | null> => {
        const started = await engine.start(
          {
            definitionId: procedure.definitionId,
            requester: WAYGATE_ACTOR,
            params: {},
            note: `📅 Due by ${due}${this.opts.owner ? `; owner ${mention(this.opts.owner)}` : ''}. Tick each item as it is done; overdue items are reminded every week.`,
            part: { ...(procedure.steps ? { steps: procedure.steps } : {}), title: list.title },
          },
          tx,
        );
        if (!started.ok) return started.problem;
        await insert(tx, list.key, list.kind, started.run.id, list.dueAt);
        if (this.opts.owner) {
          await this.opts.outbox.enqueue(tx, { kind: 'post', payload: { channel: this.opts.owner, text: `📋 ${list.title} is posted in <#${this.opts.channel}>, due by ${due} (run #${started.run.id}).` } });
        }
        return null;
      });
      if (problem) outcome.problems.push(`${list.title}: ${problem}`);
      else outcome.posted.push(list.title);
    }
    const week = weeklyReminderKey(today, this.workingDay);
    if (week && !(await has(data.db, week))) {
      await data.transaction(async (tx) => {
        const overdue = (await this.lists(tx)).filter((l) => l.overdue);
        await insert(tx, week, 'reminder', null, null);
        if (overdue.length === 0) return;
        outcome.reminded = overdue.length;
        const text = this.reminderText(overdue);
        await this.opts.outbox.enqueue(tx, { kind: 'post', payload: { channel: this.opts.channel!, text } });
        if (this.opts.owner) await this.opts.outbox.enqueue(tx, { kind: 'post', payload: { channel: this.opts.owner, text } });
        await this.opts.audit.record(tx, { actor: WAYGATE_ACTOR, action: 'compliance.reminded', subject: week, details: { overdue: overdue.map((l) => l.key) } });
      });
    }
    return outcome;
  }

  /** Open lists, oldest first (overdue ones are past their due time); read in the caller's transaction `ex` when given. */
  async lists(ex: Executor = this.opts.data.db): Promise<CalendarList[]> {
    const now = this.opts.clock.nowMs();
    const rows = await all(
      ex,
      sql<Row>`SELECT c.key, c.kind, c.run_id, c.due_at FROM compliance_calendar c JOIN sop_runs r ON r.id = c.run_id WHERE r.status = 'active' ORDER BY c.due_at, c.key`,
    );
    const lists: CalendarList[] = [];
    for (const row of rows) {
      const run = await this.opts.engine.get(row.run_id, ex);
      if (!run) continue;
      const open = run.definition.steps.flatMap((step, i) => (step.kind === 'checklist' ? step.items.filter((item) => !run.state.steps[i]?.ticks?.[item.id]).map((item) => item.text) : []));
      lists.push({ key: row.key, kind: row.kind, run, dueAt: row.due_at, overdue: row.due_at <= now, open });
    }
    return lists;
  }

  private reminderText(overdue: readonly CalendarList[]): string {
    const now = this.opts.clock.nowMs();
    const lines = overdue.map((l) => `• *${escapeMrkdwn(l.run.definition.title)}* (run #${l.run.id}, overdue by ${formatDuration(now - l.dueAt)}): ${l.open.map(escapeMrkdwn).join('; ')}`);
    const owner = this.opts.owner ? `${mention(this.opts.owner)} ` : '';
    return `⏰ ${owner}Overdue compliance items (SOP-COMP-001):\n${lines.join('\n')}\nTick them in each list's message as they are done.`;
  }

  /** Where a list's message is, for a link; undefined before it was delivered. */
  messageOf(runId: number): Promise<{ channel: string; ts: string } | undefined> {
    return this.opts.outbox.delivered(messageKeys.sopRun(runId));
  }
}
