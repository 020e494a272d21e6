import { z } from 'zod';
import { jsonValue } from '../core/interactions.js';

/** Action ids of a procedure run's message: one place, so handlers and the message cannot drift apart. */
export const SOP_ACTIONS = {
  tick: 'sop.tick',
  approve: 'sop.approve',
  reject: 'sop.reject',
  override: 'sop.override',
  cancel: 'sop.cancel',
  retry: 'sop.retry',
  skip: 'sop.skip',
  abort: 'sop.abort',
  rollback: 'sop.rollback',
  /** The catalog's Start, for procedures without parameters. */
  start: 'sop.start',
} as const;

export const SOP_VIEWS = {
  reject: 'sop.reject_reason',
  override: 'sop.override_reason',
  /** Links asked for by checklist items ticked in one click. */
  itemInputs: 'sop.item_inputs',
} as const;

/** The procedure a Start button starts. */
export const startValue = jsonValue(z.object({ definition: z.string().regex(/^[a-z][a-z0-9-]*$/) }));

/** The run a Rollback button rolls back. */
export const rollbackValue = jsonValue(z.object({ run: z.number().int().positive() }));

/** What a checklist click carried, kept while the modal asks for the links it needs. */
export const tickMetadata = jsonValue(z.object({ run: z.number().int().positive(), step: z.number().int().nonnegative(), rev: z.number().int().nonnegative(), selected: z.array(z.string()).max(10) }));

/** What every button of a run carries: the run, the step and the revision the message was drawn at. */
export const stepValue = jsonValue(z.object({ run: z.number().int().positive(), step: z.number().int().nonnegative(), rev: z.number().int().nonnegative() }));
export type StepValue = z.infer<typeof stepValue.schema>;
