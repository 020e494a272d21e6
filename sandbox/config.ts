import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { loadConfig, type Config } from '../src/config/load.js';

const HERE = import.meta.dirname;
export const SANDBOX_CONFIG_FILE = join(HERE, 'waygate.sandbox.yml');
export const FIXTURES_DIR = join(HERE, 'fixtures');

/** A bot token of the stand-in workspace (it accepts only this one). */
export const SANDBOX_BOT_TOKEN = 'xoxb-sandbox';

/** Secrets made up afresh at every start: the page never sees them, and nothing outside this process knows them. */
export interface SandboxSecrets {
  signingSecret: string;
  pagerDutyToken: string;
  webhookSecret: string;
}

export function freshSecrets(): SandboxSecrets {
  return {
    signingSecret: randomBytes(16).toString('hex'),
    pagerDutyToken: randomBytes(12).toString('base64url'),
    webhookSecret: randomBytes(32).toString('hex'),
  };
}

export interface SandboxConfigInput {
  secrets: SandboxSecrets;
  slackApiUrl: string;
  pagerDuty: { apiUrl: string; eventsUrl: string; fromEmail: string };
  database: string;
  service: { healthUrl: string; database: string; logFile: string; backupDir: string };
  logLevel: string;
  timezone: string;
}

/** `node` and the fixture scripts' names become absolute paths: argv arrays that run wherever the bot's cwd is. */
function fixtureArgv(run: string[]): string[] {
  return run.map((arg, i) => (i === 0 && arg === 'node' ? process.execPath : arg.endsWith('.mjs') ? join(FIXTURES_DIR, arg) : arg));
}

/**
 * The bot's configuration in the sandbox: the example file (sandbox/waygate.sandbox.yml) with what depends on
 * this machine filled in, and an environment pointing the bot at the stand-ins. Validated by the bot's own
 * loader, exactly as a real configuration is.
 */
export function sandboxConfig(input: SandboxConfigInput): Config {
  const doc = parseDocument(readFileSync(SANDBOX_CONFIG_FILE, 'utf8'));
  const file = doc.toJS() as {
    timezone?: string;
    service: Record<string, unknown>;
    backup: Record<string, unknown>;
    scripts: Record<string, { run: string[] }>;
    maintenance: { commands: Record<string, { run: string[] }> };
  };
  file.timezone = input.timezone;
  Object.assign(file.service, { healthUrl: input.service.healthUrl, database: input.service.database, logFile: input.service.logFile });
  file.backup.dir = input.service.backupDir;
  for (const spec of Object.values(file.scripts)) spec.run = fixtureArgv(spec.run);
  for (const spec of Object.values(file.maintenance.commands)) spec.run = fixtureArgv(spec.run);

  const env: Record<string, string> = {
    SLACK_BOT_TOKEN: SANDBOX_BOT_TOKEN,
    SLACK_SIGNING_SECRET: input.secrets.signingSecret,
    SLACK_API_URL: input.slackApiUrl,
    PAGERDUTY_API_TOKEN: input.secrets.pagerDutyToken,
    PAGERDUTY_WEBHOOK_SECRET: input.secrets.webhookSecret,
    PAGERDUTY_FROM_EMAIL: input.pagerDuty.fromEmail,
    PAGERDUTY_API_URL: input.pagerDuty.apiUrl,
    PAGERDUTY_EVENTS_URL: input.pagerDuty.eventsUrl,
    WAYGATE_DB: input.database,
    WAYGATE_CONFIG: SANDBOX_CONFIG_FILE,
    LOG_LEVEL: input.logLevel,
    PORT: '0',
  };
  const text = JSON.stringify(file);
  const loaded = loadConfig(env, () => text);
  if (!loaded.ok) throw new Error(`the sandbox configuration is invalid:\n${loaded.problems.join('\n')}`);
  return loaded.config;
}
