import { z } from 'zod';
import { defineCommand, type Command } from '../src/commands/types.js';
import { SLASH_COMMAND } from '../src/commands/router.js';
import { requestJobRun } from '../src/commands/request-job-run.js';

export const digest: Command = defineCommand({
  name: 'digest',
  usage: `${SLASH_COMMAND} digest`,
  summary: 'Post the daily health digest now',
  roles: ['ops', 'lead'],
  args: z.tuple([], { message: 'digest takes no arguments' }),
  run(ctx) {
    // A run of the digest job, so the request survives a restart and shows in the job history.
    return requestJobRun(ctx, 'health-digest', { audit: 'digest.posted', started: 'Building the health digest…' });
  },
});
