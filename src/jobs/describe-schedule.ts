import cronstrue from 'cronstrue';

/**
 * A cron expression in words ("At 09:00, every day"), for people who do not read cron. cronstrue does the
 * parsing and phrasing, which covers ranges, steps and lists better than a hand-written table would.
 */
export function describeSchedule(expression: string): string {
  let words: string;
  try {
    words = cronstrue.toString(expression, { use24HourTimeFormat: true, verbose: false });
  } catch {
    return expression; // config validation accepts only valid expressions; this is a guard, not a path
  }
  const fields = expression.trim().split(/\s+/);
  const [dayOfMonth, month, dayOfWeek] = fields.slice(fields.length === 6 ? 3 : 2);
  // cronstrue leaves "every day" unsaid for a daily time; say it.
  const daily = dayOfMonth === '*' && month === '*' && dayOfWeek === '*';
  return daily && words.startsWith('At ') ? `${words}, every day` : words;
}
