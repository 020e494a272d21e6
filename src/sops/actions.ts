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
} as const;

export const SOP_VIEWS = {
  reject: 'sop.reject_reason',
  override: 'sop.override_reason',
} as const;

/** What every button of a run carries: the run, the step and the revision the message was drawn at. */
export const stepValue = jsonValue(z.object({ run: z.number().int().positive(), step: z.number().int().nonnegative(), rev: z.number().int().nonnegative() }));
export type StepValue = z.infer<typeof stepValue.schema>;
