/** The people of the sandbox workspace: one per role, two leads (for four-eyes approvals) and one with no role. */
export interface SandboxUser {
  id: string;
  /** Slack's `name` (the handle). */
  name: string;
  realName: string;
  email: string;
  /** What the composer's user picker says about them. */
  role: string;
  /** Their PagerDuty user id. */
  pagerDutyId: string;
}

export const SANDBOX_USERS: readonly SandboxUser[] = [
  { id: 'U0OLIVIA', name: 'olivia', realName: 'Olivia Okafor', email: 'olivia@sandbox.example', role: 'on call', pagerDutyId: 'PSBOLIV' },
  { id: 'U0LEO', name: 'leo', realName: 'Leo Lindqvist', email: 'leo@sandbox.example', role: 'lead', pagerDutyId: 'PSBLEO0' },
  { id: 'U0LENA', name: 'lena', realName: 'Lena Laurent', email: 'lena@sandbox.example', role: 'lead', pagerDutyId: 'PSBLENA' },
  { id: 'U0OMAR', name: 'omar', realName: 'Omar Osei', email: 'omar@sandbox.example', role: 'ops', pagerDutyId: 'PSBOMAR' },
  { id: 'U0SAM', name: 'sam', realName: 'Sam Sato', email: 'sam@sandbox.example', role: 'security', pagerDutyId: 'PSBSAM0' },
  { id: 'U0CARLA', name: 'carla', realName: 'Carla Costa', email: 'carla@sandbox.example', role: 'compliance', pagerDutyId: 'PSBCARL' },
  { id: 'U0NICO', name: 'nico', realName: 'Nico Novak', email: 'nico@sandbox.example', role: 'no role', pagerDutyId: 'PSBNICO' },
];

/** Someone acting in PagerDuty's own web app, for acknowledgements and resolutions made "over there". */
export const PAGERDUTY_RESPONDER = { id: 'PSBPAT0', name: 'Pat PagerDuty', email: 'pat@sandbox.example' };
