import { commandJob } from '../src/maintenance/command-job.js';

export const logRotation = commandJob({
  name: 'log-rotation',
  description: 'SOP-MAINT-002: rotates the service logs with the configured logrotate command',
  defaultSchedule: '0 3 * * 0',
  command: 'logrotate',
  label: 'Log rotation',
  channels: ['ops'],
  okSummary: 'logs rotated',
});
