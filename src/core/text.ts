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

export interface DurationOptions {
  /**
   * Keep the seconds ("1.2 s", "2 min 5 s", never hours) where a reader compares the figure with a limit set in
   * seconds, such as a command's run time or a timeout. Without it, values round to the largest unit
   * ("2 min", "1.5 h"), which suits ages and response times.
   */
  precise?: boolean;
}

/** One decimal, without a trailing ".0": "1.5", "2". */
function tenths(value: number): string {
  return value.toFixed(1).replace(/\.0$/, '');
}

/**
 * "250 ms", "1.5 s", "12 s", "5 min", "1.5 h", "2 d"; with `precise`, "1.2 s", "10 s", "2 min 5 s".
 * Negative input reads as "0 ms". A value that rounds up to the next unit is shown in it ("1 min", not "60 s").
 */
export function formatDuration(ms: number, { precise = false }: DurationOptions = {}): string {
  const t = Math.max(0, ms);
  if (t < 1_000) return `${Math.round(t)} ms`;
  if (t < 60_000) {
    const seconds = precise ? tenths(t / 1_000) : (t / 1_000).toFixed(t < 10_000 ? 1 : 0);
    if (seconds !== '60') return `${seconds} s`;
  }
  if (precise) {
    const totalSeconds = Math.round(t / 1_000);
    const minutes = Math.floor(totalSeconds / 60);
    const seconds = totalSeconds % 60;
    return seconds === 0 ? `${minutes} min` : `${minutes} min ${seconds} s`;
  }
  const minutes = Math.round(t / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = tenths(t / 3_600_000);
  if (Number(hours) < 24) return `${hours} h`;
  return `${tenths(t / 86_400_000)} d`;
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
