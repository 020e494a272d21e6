import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Token shapes that must never be written, whoever logs them: Slack bot/user/app tokens, PagerDuty keys. */
const TOKEN_PATTERNS = [/xox[abposr]-[A-Za-z0-9-]+/g, /xapp-[A-Za-z0-9-]+/g, /Token token=[^"\s,]+/g];

const REDACT_PATHS = [
  'token',
  'password',
  'secret',
  'signingSecret',
  'authorization',
  'Authorization',
  '*.token',
  '*.password',
  '*.secret',
  '*.signingSecret',
  '*.authorization',
  '*.Authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-slack-signature"]',
  'req.headers["x-pagerduty-signature"]',
];

/** Replaces every known secret value and token-shaped string in one serialized log line. */
export function scrub(line: string, secrets: readonly string[]): string {
  let out = line;
  for (const secret of secrets) {
    // Would mangle ordinary text; the configuration accepts no secret this short (MIN_SECRET_LENGTH).
    if (secret.length < 6) continue;
    // The line is JSON, so a secret with quotes or backslashes appears in its escaped form.
    for (const form of new Set([secret, JSON.stringify(secret).slice(1, -1)])) out = out.split(form).join('[REDACTED]');
  }
  for (const pattern of TOKEN_PATTERNS) out = out.replace(pattern, '[REDACTED]');
  return out;
}

export interface LoggerOptions {
  level: string;
  secrets: readonly string[];
  destination?: DestinationStream;
}

/**
 * pino JSON to stdout. Redaction works at two depths: pino's path redaction for structured fields, and a
 * final pass over each serialized line so a secret inside an error message or URL is caught too.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const secrets = [...opts.secrets];
  return pino(
    {
      level: opts.level,
      base: { service: 'waygate' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      hooks: {
        streamWrite: (line: string) => scrub(line, secrets),
      },
    },
    opts.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
