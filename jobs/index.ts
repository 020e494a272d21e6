import type { JobDefinition } from '../src/jobs/types.js';
import type { JobContext } from '../src/context.js';
import { apiKeyReview } from './api-key-review.js';
import { backup } from './backup.js';
import { complianceCalendar } from './compliance-calendar.js';
import { healthCheck } from './health-check.js';
import { healthDigest } from './health-digest.js';
import { housekeeping } from './housekeeping.js';
import { logRotation } from './log-rotation.js';
import { securityScan } from './security-scan.js';
import { weeklyMaintenance } from './weekly-maintenance.js';

/** Every scheduled job. A new job is one file in this folder plus one line here. */
export const JOBS: readonly JobDefinition<JobContext>[] = [healthCheck, healthDigest, backup, weeklyMaintenance, logRotation, securityScan, housekeeping, apiKeyReview, complianceCalendar];
