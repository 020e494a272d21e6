import type { Command } from '../src/commands/types.js';
import { ack } from './ack.js';
import { audit } from './audit.js';
import { backup } from './backup.js';
import { digest } from './digest.js';
import { health } from './health.js';
import { incidents } from './incidents.js';
import { resolve } from './resolve.js';
import { help } from './help.js';
import { jobs } from './jobs.js';
import { oncall } from './oncall.js';

/** Every `/waygate` verb. A new verb is one file in this folder plus one line here. */
export const COMMANDS: readonly Command[] = [help, ack, resolve, incidents, oncall, health, digest, backup, jobs, audit];
