/** Slack date formatting: each reader sees the instant in their own zone; the fallback is UTC. */
export function slackDate(at: Date, format = '{date_short_pretty} {time}'): string {
  const unix = Math.floor(at.getTime() / 1000);
  const fallback = at.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  return `<!date^${unix}^${format}|${fallback}>`;
}

/** A link to a message in its workspace: Slack redirects https://slack.com/archives/<channel>/p<ts> there. */
export function messageUrl(where: { channel: string; ts: string }): string {
  return `https://slack.com/archives/${where.channel}/p${where.ts.replace('.', '')}`;
}
