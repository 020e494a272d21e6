/**
 * Text helpers shared by Slack messages, health summaries, config problems and command reports. Each
 * behaviour lives here once, so a fix to a limit or a unit reaches every message that uses it.
 */

export interface TruncateOptions {
  /** What marks the cut; '…' unless the text goes somewhere that prefers ASCII. */
  ellipsis?: string;
}

/**
 * Shortens text to at most `limit` UTF-16 code units (what Slack and JavaScript count), ending in an ellipsis.
 * Cuts at a code point boundary, so an emoji at the limit is dropped whole rather than split in half.
 */
export function truncate(text: string, limit: number, { ellipsis = '…' }: TruncateOptions = {}): string {
  if (text.length <= limit) return text;
  let out = '';
  for (const ch of text) {
    if (out.length + ch.length > limit - ellipsis.length) break;
    out += ch;
  }
  return `${out}${ellipsis}`;
}

export interface OneLineOptions {
  /**
   * Write CR and LF as `\r` and `\n` and change nothing else, for names such as YAML keys that the reader must
   * find again exactly; by default whitespace runs collapse, which reads better for prose.
   */
  escapeBreaks?: boolean;
}

/** Puts text on a single line: by default every whitespace run becomes one space and the ends are trimmed. */
export function oneLine(text: string, { escapeBreaks = false }: OneLineOptions = {}): string {
  if (escapeBreaks) return text.replace(/[\r\n]/g, (c) => (c === '\n' ? '\\n' : '\\r'));
  return text.replace(/\s+/g, ' ').trim();
}

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The actor Waygate records for what it does itself (a scheduled list, an automatic checklist item). */
export const WAYGATE_ACTOR = 'waygate';

/** A Slack user id as a mention; Waygate itself, or any other recorded name, as plain text. */
export function mention(actor: string): string {
  if (actor === WAYGATE_ACTOR) return 'Waygate';
  return /^[UW][A-Z0-9]{2,}$/.test(actor) ? `<@${actor}>` : escapeMrkdwn(actor);
}

export interface DurationOptions {
  /**
   * Keep the seconds ("1.2 s", "75 min 5 s", never hours) where a reader compares the figure with a limit set
   * in seconds, such as a command's run time or a timeout. Without it, hours and days are used past an hour.
   */
  precise?: boolean;
}

/** One decimal, without a trailing ".0": "1.5", "2". */
function tenths(value: number): string {
  return value.toFixed(1).replace(/\.0$/, '');
}

/**
 * Durations as people say them: "250 ms", "1 s", "1.5 s", "12 s", "4 min 59 s", "1 h 30 min", "2 d 3 h" — the
 * two largest units, never "1.0 s", and never rounded up into a figure that misstates a limit ("4 min 59 s",
 * not "5 min"). With `precise`, no hours: "75 min 5 s". Negative input reads as "0 ms".
 */
export function formatDuration(ms: number, { precise = false }: DurationOptions = {}): string {
  const t = Math.max(0, ms);
  if (t < 1_000) return `${Math.round(t)} ms`;
  // Tenths while they matter: under 10 s, or under a minute where a limit is set in seconds (`precise`).
  if (t < 9_950 || (precise && t < 59_950)) return `${tenths(t / 1_000)} s`;
  const totalSeconds = Math.round(t / 1_000);
  if (totalSeconds < 60) return `${totalSeconds} s`;
  if (precise || totalSeconds < 3_600) return compound(Math.floor(totalSeconds / 60), 'min', totalSeconds % 60, 's');
  const totalMinutes = Math.round(t / 60_000);
  if (totalMinutes < 24 * 60) return compound(Math.floor(totalMinutes / 60), 'h', totalMinutes % 60, 'min');
  const totalHours = Math.round(t / 3_600_000);
  return compound(Math.floor(totalHours / 24), 'd', totalHours % 24, 'h');
}

function compound(major: number, majorUnit: string, minor: number, minorUnit: string): string {
  return minor === 0 ? `${major} ${majorUnit}` : `${major} ${majorUnit} ${minor} ${minorUnit}`;
}

/** A count as people read it in a message: 10000 → "10,000". */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** "512 bytes", "2.0 KiB", "12.5 MiB": binary units, one decimal. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A query parameter: separator, name, value. */
const QUERY_PARAM = /([?&])([\w.-]+)=([^&#\s`'"<>]*)/g;
/** Names whose values are credentials: `token`, `access_token`, `x-api-key`, `sig`… (not `keyboard`). */
const SECRET_PARAM_NAME = /(?:^|[_-])(?:token|secret|password|passwd|pass|pwd|apikey|key|auth|signature|sig|credentials?)(?:$|[_-])/i;
/** `scheme://user:password@` (or `scheme://token@`) anywhere in the text. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@`'"<>]+@/gi;

/**
 * Removes credentials from every URL in the text: the user-info part (`https://user:password@host`) and the
 * values of query parameters named like credentials. For anything a user sees: replies, alerts, digests,
 * PagerDuty events. A URL without credentials comes back unchanged.
 */
export function redactCredentials(text: string): string {
  return text
    .replace(URL_USERINFO, '$1[REDACTED]@')
    .replace(QUERY_PARAM, (param: string, sep: string, name: string) => (SECRET_PARAM_NAME.test(name) ? `${sep}${name}=[REDACTED]` : param));
}

/** Configured links as one mrkdwn line: "<https://…|Dashboard> · <https://…|Runbook>"; empty when none. */
export function linksLine(links: Readonly<Partial<Record<'dashboard' | 'runbook' | 'repository', string>>>): string {
  const labels = { dashboard: 'Dashboard', runbook: 'Runbook', repository: 'Repository' } as const;
  return (Object.keys(labels) as Array<keyof typeof labels>)
    .filter((k) => links[k])
    .map((k) => `<${links[k]}|${labels[k]}>`)
    .join(' · ');
}
