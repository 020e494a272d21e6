/** The variables that connect Waygate to a real Slack workspace; any one of them means "not a sandbox". */
export const SLACK_CREDENTIALS = ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'SLACK_APP_TOKEN'] as const;

export const PRODUCTION_WITHOUT_CREDENTIALS =
  'waygate: NODE_ENV=production and no Slack credentials: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode). The local sandbox never starts in production.';

export type StartMode = { kind: 'production' } | { kind: 'refuse'; message: string } | { kind: 'sandbox' };

/**
 * What `npm start` runs: the bot as always when any Slack credential is set; otherwise the local sandbox,
 * except in production, where a missing credential is a mistake to be named, never a reason to pretend.
 */
export function startMode(env: Record<string, string | undefined>): StartMode {
  if (SLACK_CREDENTIALS.some((name) => (env[name] ?? '').trim() !== '')) return { kind: 'production' };
  if (env.NODE_ENV === 'production') return { kind: 'refuse', message: PRODUCTION_WITHOUT_CREDENTIALS };
  return { kind: 'sandbox' };
}

/** PORT as the bot reads it: unset or empty is 3000. */
export function sandboxPort(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 3000;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number between 0 and 65535 (got "${value}")`);
  return port;
}
