import type { JobDefinition } from '../src/jobs/types.js';
import { housekeeping } from './housekeeping.js';

/** Every scheduled job. A new job is one file in this folder plus one line here. */
export const JOBS: readonly JobDefinition[] = [housekeeping];
