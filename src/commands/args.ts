import { z } from 'zod';
import type { Priority } from '../config/sla-schema.js';

/** `<@U123|lena>` (a mention, as Slack escapes it) or a bare user id. */
export const userArg = z.string().transform((text, ctx) => {
  // Slack escapes a mention as <@U123|name>; the id is what counts.
  const id = text.startsWith('<@') && text.endsWith('>') ? text.slice(2, -1).split('|')[0]! : text;
  if (!/^[UW][A-Z0-9]{2,}$/.test(id)) {
    ctx.addIssue({ code: 'custom', message: `expected a person as @name (got "${text}")` });
    return z.NEVER;
  }
  return id;
});

/** An incident number, `#12` or `12`. */
export const incidentNumberArg = z.string().transform((text, ctx) => {
  if (!/^#?\d{1,9}$/.test(text)) {
    ctx.addIssue({ code: 'custom', message: `expected an incident number such as #12 (got "${text}")` });
    return z.NEVER;
  }
  return Number(text.replace('#', ''));
});

/** A priority, P1…P5 in any case. */
export const priorityArg = z.string().transform((text, ctx) => {
  if (!/^[pP][1-5]$/.test(text)) {
    ctx.addIssue({ code: 'custom', message: `expected a priority P1…P5 (got "${text}")` });
    return z.NEVER;
  }
  return text.toUpperCase() as Priority;
});

/** Prose typed after the other arguments (a note, a title), up to `max` characters. */
export function proseArg(what: string, max: number) {
  return z.string().trim().min(1, { message: `expected ${what}` }).max(max, { message: `${what} must be at most ${max} characters` });
}
