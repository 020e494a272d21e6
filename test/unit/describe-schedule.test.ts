import { describe, expect, it } from 'vitest';
import { describeSchedule } from '../../src/jobs/describe-schedule.js';

describe('a schedule in words', () => {
  it.each([
    ['0 9 * * *', 'At 09:00, every day'],
    ['0 2 * * *', 'At 02:00, every day'],
    ['0 3 * * 0', 'At 03:00, only on Sunday'],
    ['0 9 * * 1-5', 'At 09:00, Monday through Friday'],
    ['*/5 * * * *', 'Every 5 minutes'],
    ['0 0 1 * *', 'At 00:00, on day 1 of the month'],
  ])('%s reads "%s"', (expression, words) => {
    expect(describeSchedule(expression)).toBe(words);
  });
});
