/**
 * The YAML `scripts:` section is the allow-list of what procedures may run: a name → an argv array (never a
 * shell command), a timeout and a working directory. The only placeholders are `{version}` and `{ref}`,
 * each filled from a value checked against its rule before anything spawns.
 */
import { z } from 'zod';
import { durationSchema } from '../config/duration.js';
import type { ParamKind } from './definition.js';

const PLACEHOLDER = /\{([a-z]+)\}/g;
export const SCRIPT_PLACEHOLDERS = ['version', 'ref'] as const;

export const scriptSchema = z
  .object({
    run: z.array(z.string().min(1)).min(1, { message: 'must name the program and its arguments as a list' }),
    timeout: durationSchema.default(15 * 60_000),
    cwd: z.string().startsWith('/', { message: 'must be an absolute path' }).optional(),
  })
  .superRefine((spec, ctx) => {
    spec.run.forEach((arg, i) => {
      for (const [, name] of arg.matchAll(PLACEHOLDER)) {
        if (!(SCRIPT_PLACEHOLDERS as readonly string[]).includes(name ?? '')) {
          ctx.addIssue({ code: 'custom', path: ['run', i], message: `unknown placeholder {${name}}: only {version} and {ref}` });
        }
      }
    });
    if (/\{[a-z]+\}/.test(spec.run[0] ?? '')) ctx.addIssue({ code: 'custom', path: ['run', 0], message: 'the program itself may not be a placeholder' });
  });

export type ScriptSpec = z.output<typeof scriptSchema>;

export const scriptsSchema = z.record(z.string().regex(/^[a-z][a-z0-9-]*$/, { message: 'script names are lower-case words joined by dashes' }), scriptSchema).default({});

/** Characters a shell would give meaning to; none may appear in a value, whatever its rule. */
const SHELL_META = /[;&|`$<>(){}[\]*?!~#'"\\\s]/;

/**
 * The rules a run's parameters are checked against. Each explains itself, because the person who typed a
 * refused value should learn what would be accepted.
 */
export const PARAM_RULES: Record<ParamKind, { rule: string; check: (value: string) => boolean }> = {
  version: {
    rule: 'a version such as v1.2.3 (optionally v1.2.3-rc.1)',
    check: (v) => {
      const dash = v.indexOf('-');
      const release = dash === -1 ? v : v.slice(0, dash);
      const pre = dash === -1 ? undefined : v.slice(dash + 1);
      // A pre-release is dot-separated words: no empty part ("rc..1", "rc.").
      return /^v\d{1,4}\.\d{1,4}\.\d{1,6}$/.test(release) && (pre === undefined || (/^[0-9A-Za-z.]{1,40}$/.test(pre) && pre.split('.').every((part) => part.length > 0)));
    },
  },
  ref: {
    rule: 'a branch or tag name such as hotfix/login-timeout: letters, digits, `.`, `_`, `-` and `/`, not starting with `-` or `/`, without `..`',
    check: (v) =>
      /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/.test(v) && !v.includes('..') && !v.includes('//') && !v.endsWith('/') && !v.endsWith('.lock') && !v.endsWith('.'),
  },
  text: { rule: 'any text (it is only ever shown, never passed to a script)', check: (v) => v.trim().length > 0 && v.length <= 500 },
  user: { rule: 'a person as @name', check: (v) => /^[UW][A-Z0-9]{2,}$/.test(v) },
  link: {
    rule: 'an http(s) link',
    check: (v) => {
      if (!/^https?:\/\/\S+$/.test(v) || /[<>|]/.test(v) || v.length > 500) return false;
      try {
        return ['http:', 'https:'].includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
  },
};

/** Why a parameter value is refused, naming the rule; null when it may be used. */
export function paramProblem(name: string, kind: ParamKind, value: string): string | null {
  if (kind === 'version' || kind === 'ref') {
    if (value.startsWith('-')) return `\`${name}\` may not start with \`-\` (it would read as an option): expected ${PARAM_RULES[kind].rule}`;
    if (/[\r\n\0]/.test(value)) return `\`${name}\` may not contain line breaks: expected ${PARAM_RULES[kind].rule}`;
    if (SHELL_META.test(value)) return `\`${name}\` may not contain shell characters or spaces: expected ${PARAM_RULES[kind].rule}`;
    if (value.includes('..')) return `\`${name}\` may not contain \`..\`: expected ${PARAM_RULES[kind].rule}`;
  }
  return PARAM_RULES[kind].check(value) ? null : `\`${name}\` must be ${PARAM_RULES[kind].rule}`;
}

/**
 * The argv of a script with its placeholders filled. Every value must have passed paramProblem(); this
 * checks again, because a refused value must never reach a process, however the caller got here.
 */
export function buildArgv(spec: ScriptSpec, params: Readonly<Record<string, string>>, kinds: Readonly<Record<string, ParamKind>>): { argv: string[] } | { problem: string } {
  const argv: string[] = [];
  for (const arg of spec.run) {
    let problem: string | null = null;
    const filled = arg.replace(PLACEHOLDER, (_, name: string) => {
      const value = params[name];
      const kind = kinds[name];
      if (value === undefined || kind === undefined) {
        problem ??= `the script needs {${name}}, which this procedure does not take`;
        return '';
      }
      // {version} takes only a version and {ref} only a ref: a free-text parameter never reaches argv.
      if (kind !== name) {
        problem ??= `{${name}} must be filled from a parameter of kind ${name}, not ${kind}`;
        return '';
      }
      problem ??= paramProblem(name, kind, value);
      return value;
    });
    if (problem) return { problem };
    argv.push(filled);
  }
  return { argv };
}
