import { commandJob } from '../src/maintenance/command-job.js';

export const securityScan = commandJob({
  name: 'security-scan',
  description: 'SOP-MAINT-002 / appendix C: runs the configured security scan and reports its outcome',
  defaultSchedule: '0 4 * * *',
  command: 'security-scan',
  label: 'Security scan',
  channels: ['security', 'ops'],
  okSummary: 'scan passed',
});
