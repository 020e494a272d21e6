import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { oneLine } from '../core/text.js';
import { envSchema, fileConfigSchema, isValidTimeZone, type EnvConfig, type FileConfig } from './schema.js';

export interface Config {
  env: EnvConfig;
  file: FileConfig;
  /** 'http' when a signing secret is set and no app token; 'socket' when SLACK_APP_TOKEN is set. */
  mode: 'http' | 'socket';
  /** Values that must never appear in logs. */
  secrets: string[];
  /** PAGERDUTY_WEBHOOK_SECRET split on commas (several while rotating); empty when webhooks are off. */
  webhookSecrets: string[];
  /** WAYGATE_AUDIT_KEY split on commas, the newest first; empty when the audit chain is not keyed. */
  auditKeys: string[];
  /** Where `file.timezone` came from: the YAML file, the TZ variable, or the system's zone (logged at start). */
  timezoneSource: 'config' | 'TZ' | 'system';
}

/** Zones that mean "nobody set one": a container's default. */
const UNSET_ZONES = new Set(['UTC', 'Etc/UTC', 'Etc/Universal', 'Universal', 'Zulu', 'Etc/Zulu']);

/**
 * The zone for schedules, business hours and the 9 AM digest when the YAML names none: TZ when it is set,
 * else the system's zone unless that is a container's UTC default. A silent UTC ran the Berlin team's
 * "9 AM" digest at 10:00.
 */
function resolveTimezone(configured: string | undefined, rawEnv: Record<string, string | undefined>, systemZone: string): { zone: string; source: Config['timezoneSource'] } | { problem: string } {
  if (configured) return { zone: configured, source: 'config' };
  const tz = rawEnv.TZ?.trim().replace(/^:/, '');
  if (tz) {
    return isValidTimeZone(tz) ? { zone: tz, source: 'TZ' } : { problem: `env: TZ "${tz}" is not an IANA time zone such as Europe/Berlin; set it, or \`timezone\` in the config` };
  }
  if (!UNSET_ZONES.has(systemZone) && isValidTimeZone(systemZone)) return { zone: systemZone, source: 'system' };
  return {
    problem:
      'config: timezone is required: the IANA zone of your schedules, business hours and the 9 AM digest (e.g. Europe/Berlin, or UTC to mean it); neither the TZ variable nor the system names one',
  };
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

/** YAML keys may hold line breaks; a problem must stay on one line, yet name the key as written. */
function keyName(key: string): string {
  return oneLine(key, { escapeBreaks: true });
}

/** Renders a zod path like roles.lead[0] so an operator can find the line in their file. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? keyName(String(part)) : `.${keyName(String(part))}`))
    .join('');
}

/** Echoes short scalar inputs back (YAML only: environment values may be secrets). */
function shown(input: unknown): string {
  if ((typeof input === 'string' && input.length <= 80) || typeof input === 'number' || typeof input === 'boolean') {
    return ` (got ${JSON.stringify(input)})`;
  }
  return '';
}

function describeIssues(issues: readonly z.core.$ZodIssue[], where: string, echoInput: boolean): string[] {
  return issues.map((issue) => {
    const field = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (field ? `${field}.${keyName(k)}` : keyName(k))).join(', ');
      // Our own checks explain why a key is unknown (a typo of a built-in name); zod's default says nothing more.
      const why = issue.message.startsWith('Unrecognized') ? '' : `: ${keyName(issue.message)}`;
      return `${where}: unknown key ${keys}${why}`;
    }
    // A bad record key (a permission name) carries its reason one level down.
    const message = issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message;
    const got = echoInput && !message.includes('(got') ? shown(issue.input) : '';
    return `${where}: ${field || '(root)'} ${message}${got}`;
  });
}

/**
 * Reads and validates the environment and the optional YAML file. Never throws: every problem comes back
 * as one line that names the field, so start-up can print them all at once and exit.
 */
export function loadConfig(
  rawEnv: Record<string, string | undefined>,
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- the path is the operator's WAYGATE_CONFIG
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  systemZone: string = Intl.DateTimeFormat().resolvedOptions().timeZone,
): ConfigResult {
  const problems: string[] = [];
  const env = envSchema.safeParse(rawEnv);
  if (!env.success) problems.push(...describeIssues(env.error.issues, 'env', false));
  if (!rawEnv.SLACK_SIGNING_SECRET && !rawEnv.SLACK_APP_TOKEN) {
    problems.push('env: SLACK_SIGNING_SECRET is required for HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)');
  }

  let fileValue: unknown = {};
  const path = rawEnv.WAYGATE_CONFIG;
  if (path) {
    let text: string | undefined;
    try {
      text = readFile(path);
    } catch (err) {
      problems.push(`config ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (text !== undefined) {
      const doc = parseDocument(text);
      if (doc.errors.length > 0) {
        for (const e of doc.errors) problems.push(`config ${path}: invalid YAML: ${e.message.split('\n')[0]}`);
      } else {
        fileValue = doc.toJS() ?? {};
      }
    }
  }
  const file = fileConfigSchema.safeParse(fileValue, { reportInput: true });
  if (!file.success) problems.push(...describeIssues(file.error.issues, `config${path ? ` ${path}` : ''}`, true));

  const zone = file.success ? resolveTimezone(file.data.timezone, rawEnv, systemZone) : undefined;
  if (zone && 'problem' in zone) problems.push(zone.problem);
  if (!env.success || !file.success || !zone || 'problem' in zone || problems.length > 0) return { ok: false, problems };
  const e = env.data;
  const webhookSecrets = (e.PAGERDUTY_WEBHOOK_SECRET ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const auditKeys = (e.WAYGATE_AUDIT_KEY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const databasePassword = e.WAYGATE_DATABASE_URL ? decodeURIComponent(new URL(e.WAYGATE_DATABASE_URL).password) : undefined;
  const secrets = [e.SLACK_BOT_TOKEN, e.SLACK_SIGNING_SECRET, e.SLACK_APP_TOKEN, e.PAGERDUTY_API_TOKEN, e.HEALTH_DETAILS_TOKEN, e.WAYGATE_KEY_HASH_SECRET, databasePassword, ...webhookSecrets, ...auditKeys].filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );
  return {
    ok: true,
    config: { env: e, file: { ...file.data, timezone: zone.zone }, mode: e.SLACK_APP_TOKEN ? 'socket' : 'http', secrets, webhookSecrets, auditKeys, timezoneSource: zone.source },
  };
}
