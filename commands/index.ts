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
import { trigger } from './trigger.js';
import { note } from './note.js';
import { reassign } from './reassign.js';
import { priority } from './priority.js';
import { escalate } from './escalate.js';
import { sop } from './sop.js';
import { hotfix } from './hotfix.js';
import { deploy } from './deploy.js';
import { whoami } from './whoami.js';
import { security } from './security.js';
import { onboard } from './onboard.js';
import { review } from './review.js';
import { key } from './key.js';
import { compliance } from './compliance.js';

/** Every `/waygate` verb. A new verb is one file in this folder plus one line here. */
export const COMMANDS: readonly Command[] = [help, ack, resolve, incidents, trigger, note, reassign, priority, escalate, deploy, hotfix, security, review, onboard, sop, oncall, health, digest, backup, jobs, audit, key, compliance, whoami];
