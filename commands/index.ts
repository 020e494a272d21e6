import type { Command } from '../src/commands/types.js';
import { audit } from './audit.js';
import { help } from './help.js';
import { jobs } from './jobs.js';

/** Every `/waygate` verb. A new verb is one file in this folder plus one line here. */
export const COMMANDS: readonly Command[] = [help, jobs, audit];
