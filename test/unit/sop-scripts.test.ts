import { describe, expect, it } from 'vitest';
import { buildArgv, paramProblem, scriptSchema } from '../../src/sops/scripts.js';

describe('script parameters', () => {
  it.each(['v1.2.3', 'v10.0.0-rc.1', 'v0.0.1-beta2'])('accepts the version %s', (v) => {
    expect(paramProblem('version', 'version', v)).toBeNull();
  });

  it.each([
    ['v1.2.3; rm -rf /', 'shell characters or spaces'],
    ['$(id)', 'shell characters'],
    ['`id`', 'shell characters'],
    ['v1.2.3\nrm', 'line breaks'],
    ['--exec=/bin/sh', 'may not start with `-`'],
    ['1.2.3', 'must be a version such as v1.2.3'],
    ['v1.2.3-rc..1', 'may not contain `..`'],
  ])('refuses the version %j, naming the rule', (v, rule) => {
    expect(paramProblem('version', 'version', v)).toContain(rule);
  });

  it.each(['main', 'hotfix/login-timeout', 'release/2026.03', 'v1.2.3'])('accepts the ref %s', (ref) => {
    expect(paramProblem('ref', 'ref', ref)).toBeNull();
  });

  it.each(['../etc', 'a..b', '/abs', 'x/', 'x.lock', 'a//b', '-b', 'a b', 'a|b', "a'b"])('refuses the ref %j', (ref) => {
    expect(paramProblem('ref', 'ref', ref)).not.toBeNull();
  });

  it('fills {version} and {ref} only from parameters of that kind, never from free text', () => {
    const spec = scriptSchema.parse({ run: ['./deploy.sh', '--version={version}', '{ref}'] });
    expect(buildArgv(spec, { version: 'v1.2.3', ref: 'main' }, { version: 'version', ref: 'ref' })).toEqual({ argv: ['./deploy.sh', '--version=v1.2.3', 'main'] });
    expect(buildArgv(spec, { version: 'v1.2.3; id', ref: 'main' }, { version: 'text', ref: 'ref' })).toEqual({ problem: '{version} must be filled from a parameter of kind version, not text' });
    expect(buildArgv(spec, { version: 'v1.2.3' }, { version: 'version' })).toEqual({ problem: 'the script needs {ref}, which this procedure does not take' });
  });

  it('refuses scripts with other placeholders or a placeholder as the program', () => {
    expect(scriptSchema.safeParse({ run: ['./x.sh', '{branch}'] }).error?.issues[0]?.message).toBe('unknown placeholder {branch}: only {version} and {ref}');
    expect(scriptSchema.safeParse({ run: ['{ref}'] }).error?.issues[0]?.message).toBe('the program itself may not be a placeholder');
  });
});
