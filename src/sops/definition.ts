/**
 * A procedure as data: the YAML files of `sops/` (and later a team's own folder), validated here. A run
 * pins the definition it started with (content hash and snapshot), so the file may change under it.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { parse } from 'yaml';
import { durationSchema } from '../config/duration.js';

const id = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, { message: 'must be lower-case words joined by dashes, such as deploy-production' });
const roles = z.array(z.string().min(1)).min(1);

/** Conditions the engine checks before a step; the reason is shown when one blocks. */
export const GUARDS = ['maintenanceWindow', 'noOpenP1', 'passedStaging'] as const;
export type Guard = (typeof GUARDS)[number];

const base = {
  id,
  title: z.string().min(1).max(150),
  /** Checked when the step is reached; a failing guard holds the run until it passes or a lead overrides. */
  when: z.array(z.enum(GUARDS)).default([]),
};

/**
 * Checklist items Waygate does itself (SOP-COMP-001): `audit-archive` writes the previous month's audit
 * trail to the backup folder with a checksum; `restore-test` restores the newest backup into a scratch
 * database and checks it against the live one.
 */
export const AUTOMATIC_TASKS = ['audit-archive', 'restore-test'] as const;
export type AutomaticTask = (typeof AUTOMATIC_TASKS)[number];

const checklistStep = z.object({
  ...base,
  kind: z.literal('checklist'),
  items: z
    .array(
      z.object({
        id,
        text: z.string().min(1).max(150),
        /** Ticking it asks for a link (a change ticket), shown with the tick. */
        input: z.literal('link').optional(),
        /**
         * Waygate does this item itself when the checklist opens, and ticks it with the result (or says in
         * the thread why it could not, leaving it for a person).
         */
        automatic: z.enum(AUTOMATIC_TASKS).optional(),
      }),
    )
    .min(1)
    .max(10, { message: 'at most 10 items (Slack shows 10 checkboxes in one group)' }),
  /** While items are open, someone is reminded this often (a hotfix's follow-up: daily). */
  remindEvery: durationSchema.optional(),
  /** Who: `requester` (default), or a channel alias. */
  remindTo: z.string().min(1).default('requester'),
});

/** Settings of the YAML file a definition may name instead of a fixed duration. */
export const SETTINGS = ['approvals.hotfixReviewWithin', 'approvals.requestExpiresAfter', 'deploy.watchFor'] as const;
export type Setting = (typeof SETTINGS)[number];
/** A duration, or the name of a setting the operator tunes (resolved when the run starts). */
const timing = z.union([z.enum(SETTINGS), durationSchema]);

const approvalStep = z.object({
  ...base,
  kind: z.literal('approval'),
  /** Roles that may approve; default: the definition's `permissions.approve`. */
  approvers: roles.optional(),
  /** Distinct people who must approve. */
  count: z.number().int().min(1).max(5).default(1),
  /** Four-eyes: the requester may not approve their own request. */
  notRequester: z.boolean().default(true),
  /** Reminder to the approvers; then an escalation in the channel; then the request expires. */
  remindAfter: timing.optional(),
  escalateAfter: timing.optional(),
  expiresAfter: timing.optional(),
});

const scriptStep = z.object({
  ...base,
  kind: z.literal('script'),
  /** A name from the YAML `scripts:` allow-list, never a command. */
  script: z.string().min(1),
  /** Skipped (and said so) when the script is not configured, instead of refusing to start. */
  optional: z.boolean().default(false),
});

const remindStep = z.object({
  ...base,
  kind: z.literal('remind'),
  /** How long after the step is reached the reminder is posted; the run goes on meanwhile. */
  after: durationSchema,
  /** A channel alias from `channels:`, or `requester`. */
  to: z.string().min(1),
  text: z.string().min(1).max(2000),
});

const watchStep = z.object({
  ...base,
  kind: z.literal('watch'),
  /** How long to watch; then a summary (uptime, error lines, incidents opened since) goes to the thread. */
  for: z.union([z.literal('deploy.watchFor'), durationSchema]),
});

const verifyStep = z.object({
  ...base,
  kind: z.literal('verify'),
  /** HTTP status the service's health URL must answer. */
  expectStatus: z.number().int().min(100).max(599).default(200),
  attempts: z.number().int().min(1).max(20).default(3),
});

const notifyStep = z.object({
  ...base,
  kind: z.literal('notify'),
  /** A channel alias from `channels:`, or `requester`. */
  to: z.string().min(1),
  text: z.string().min(1).max(2000),
});

export const stepSchema = z.discriminatedUnion('kind', [checklistStep, approvalStep, scriptStep, verifyStep, notifyStep, remindStep, watchStep]);
export type Step = z.infer<typeof stepSchema>;

/** The SOP document's chapters, in its order: the catalog groups by them. */
export const CATEGORIES = ['Development', 'Deployment', 'Maintenance', 'Monitoring', 'Security', 'Backup', 'Documentation', 'Training', 'Compliance'] as const;

/** Parameters a run is started with; each kind has one validation rule, applied before anything runs. */
export const PARAM_KINDS = ['version', 'ref', 'text', 'user', 'link'] as const;
export type ParamKind = (typeof PARAM_KINDS)[number];

export const definitionSchema = z
  .object({
    id,
    title: z.string().min(1).max(150),
    /** SOP reference, e.g. SOP-OPS-002. */
    sop: z.string().regex(/^SOP-[A-Z]+-\d{3}$/).optional(),
    /** Where the SOP catalog lists it, and what it says of it (the document's words). */
    category: z.enum(CATEGORIES).optional(),
    purpose: z.string().max(300).optional(),
    frequency: z.string().max(100).optional(),
    /** How Waygate already does it by itself (a job, alert cards), shown in the catalog. */
    automated: z.string().max(300).optional(),
    owner: z.string().min(1),
    /** Channel alias the run's message goes to. */
    channel: z.string().min(1),
    params: z.record(z.string().regex(/^[a-z][a-z0-9]*$/), z.enum(PARAM_KINDS)).default({}),
    permissions: z.object({ start: roles, approve: roles.optional() }),
    /** Environment held while a run is open: one run per environment at a time. */
    environment: z.string().regex(/^[a-z][a-z0-9-]*$/).optional(),
    /** When the run ends, its timeline (who ticked, approved and ran what, when) is posted as its report. */
    report: z.boolean().default(false),
    /** The procedure a finished run offers as **Rollback** (started with the same parameters). */
    rollback: id.optional(),
    steps: z.array(stepSchema).min(1).max(30),
  })
  .superRefine((def, ctx) => {
    const seen = new Set<string>();
    def.steps.forEach((step, i) => {
      if (seen.has(step.id)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'id'], message: `step id ${step.id} is used twice` });
      seen.add(step.id);
      if (step.kind === 'approval' && !step.approvers && !def.permissions.approve) {
        ctx.addIssue({ code: 'custom', path: ['steps', i, 'approvers'], message: 'an approval step needs approvers, or the definition permissions.approve' });
      }
    });
  });

export type Definition = z.infer<typeof definitionSchema>;

/** A definition with the hash of the text it came from: what a run pins. */
export interface PinnedDefinition {
  definition: Definition;
  hash: string;
}

export type ParseOutcome = { ok: true; pinned: PinnedDefinition } | { ok: false; problems: string[] };

/** Parses and validates one definition file's text; problems name the field. */
export function parseDefinition(text: string): ParseOutcome {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    return { ok: false, problems: [`not valid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`] };
  }
  const parsed = definitionSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`) };
  return { ok: true, pinned: { definition: parsed.data, hash: createHash('sha256').update(text).digest('hex').slice(0, 16) } };
}
