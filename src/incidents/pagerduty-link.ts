/**
 * The longest html_url Waygate links. PagerDuty's own are under 100 characters; this stays within Slack's
 * 3,000 for a button url and leaves room for the title and status in the 3,000-character headline section.
 */
export const PAGERDUTY_URL_LIMIT = 1_000;

/** RFC 3986 characters only: no spaces, no `<`, `>` or `|` that would end a Slack link or start markup. */
const URL_CHARACTERS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;

/**
 * The incident link PagerDuty sent, if it is one Waygate may show, else null (the alert then goes out
 * without a link). Anyone who can edit what PagerDuty sends (or forge it where the webhook secret leaked)
 * controls html_url, so it must be an https URL on the account's host (`accountHost`, or any
 * `*.pagerduty.com` when none is configured), without credentials or a port, and short enough for Slack.
 * Without `accountHost` and `anyHost`, the host is checked against `*.pagerduty.com`; `anyHost` checks
 * only the form (for rendering rows stored before the check existed, where the host was checked on the way in).
 */
export function pagerDutyUrl(raw: string | null | undefined, opts: { accountHost?: string | undefined; anyHost?: boolean } = {}): string | null {
  if (!raw || raw.length > PAGERDUTY_URL_LIMIT || !URL_CHARACTERS.test(raw)) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '' || url.port !== '') return null;
  const host = url.hostname.toLowerCase();
  if (!opts.anyHost) {
    const allowed = opts.accountHost ? host === opts.accountHost.toLowerCase() : host.endsWith('.pagerduty.com');
    if (!allowed) return null;
  }
  const href = url.href;
  return href.length <= PAGERDUTY_URL_LIMIT && URL_CHARACTERS.test(href) ? href : null;
}

/** A URL inside Slack's `<url|label>` markup: `&` is written as `&amp;` there, like everywhere in mrkdwn. */
export function mrkdwnUrl(url: string): string {
  return url.replace(/&/g, '&amp;');
}
