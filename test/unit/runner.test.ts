import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertArgv, describeResult, ExecaRunner, lastLines, type RunResult } from '../../src/runner/runner.js';
import { RecordingRunner } from '../support/recording-runner.js';

const NODE = process.execPath;
const runner = new ExecaRunner();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'waygate-runner-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a small /bin/sh script into the temp dir and returns its path. */
function script(name: string, body: string, mode = 0o755): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, mode);
  return path;
}

/** Alive = signal 0 succeeds and it is not a zombie waiting for a reaper (PID 1 in a container may not reap). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false; // /proc entry vanished between the two checks
  }
}

/** Polls briefly (bounded) for the process to be gone. */
async function waitUntilDead(pid: number, withinMs = 2000): Promise<boolean> {
  const deadline = performance.now() + withinMs;
  while (performance.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return !isAlive(pid);
}

/** Reads the pid a script wrote; kills it in any case so a failing test leaves nothing behind. */
const spawnedPids: number[] = [];
function readPid(file: string): number {
  const pid = Number(readFileSync(file, 'utf8').trim());
  expect(Number.isInteger(pid) && pid > 0).toBe(true);
  spawnedPids.push(pid);
  return pid;
}
afterEach(() => {
  for (const pid of spawnedPids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone, as it should be
    }
  }
});

describe('ExecaRunner: exit status', () => {
  it('returns ok, exit code 0 and the output of a successful run', async () => {
    const r = await runner.run({ argv: [NODE, '-e', 'console.log("hello")'], timeoutMs: 5000 });
    expect(r).toMatchObject({
      argv: [NODE, '-e', 'console.log("hello")'],
      ok: true,
      exitCode: 0,
      signal: null,
      timedOut: false,
      failedToStart: null,
      output: 'hello\n',
    });
    expect(r.durationMs).toBeGreaterThan(0);
    expect(describeResult(r)).toMatch(/^exit 0 in \d/);
  });

  it('reports a non-zero exit without throwing, with stderr in the output', async () => {
    const r = await runner.run({
      argv: [NODE, '-e', 'console.error("boom"); process.exit(2)'],
      timeoutMs: 5000,
    });
    expect(r).toMatchObject({ ok: false, exitCode: 2, timedOut: false, failedToStart: null, output: 'boom\n' });
  });

  it('reports a missing program as "command not found"', async () => {
    const r = await runner.run({ argv: ['waygate-no-such-program', '--version'], timeoutMs: 5000 });
    expect(r).toMatchObject({
      ok: false,
      exitCode: null,
      timedOut: false,
      failedToStart: 'command not found: waygate-no-such-program',
      output: '',
    });
    expect(describeResult(r)).toBe('could not start: command not found: waygate-no-such-program');
  });

  it('reports a file without execute permission as "permission denied"', async () => {
    const path = script('not-executable.sh', 'echo never', 0o644);
    const r = await runner.run({ argv: [path], timeoutMs: 5000 });
    expect(r.ok).toBe(false);
    expect(r.failedToStart).toBe(`permission denied: ${path}`);
  });

  it('reports a missing working directory as such, not as a missing command', async () => {
    const r = await runner.run({ argv: [NODE, '-e', ''], timeoutMs: 5000, cwd: join(dir, 'no-such-dir') });
    expect(r.failedToStart).toBe(`working directory not found: ${join(dir, 'no-such-dir')}`);
  });

  it('passes input on stdin, and gives /dev/null otherwise', async () => {
    const withInput = await runner.run({ argv: ['cat'], timeoutMs: 5000, input: 'from the bot\n' });
    expect(withInput.output).toBe('from the bot\n');
    const without = await runner.run({ argv: ['cat'], timeoutMs: 5000 });
    expect(without).toMatchObject({ ok: true, output: '' });
  });
});

describe('ExecaRunner: no shell', () => {
  it('passes shell metacharacters in arguments literally', async () => {
    const target = join(dir, 'pwned');
    const args = [`; touch ${target}`, `$(touch ${target})`, `\`touch ${target}\``, `| touch ${target}`, '*', '$HOME'];
    const r = await runner.run({
      argv: [NODE, '-e', 'console.log(JSON.stringify(process.argv.slice(1)))', ...args],
      timeoutMs: 5000,
    });
    expect(r.ok).toBe(true);
    expect(JSON.parse(r.output)).toEqual(args);
    expect(existsSync(target)).toBe(false);
  });

  it('treats a program name with metacharacters as a file name, never as a command line', async () => {
    const target = join(dir, 'pwned-by-program');
    const r = await runner.run({ argv: [`echo hi; touch ${target}`], timeoutMs: 5000 });
    expect(r.failedToStart).toBe(`command not found: echo hi; touch ${target}`);
    expect(existsSync(target)).toBe(false);
  });

  it('rejects invalid argv as a failed result; assertArgv throws for it', async () => {
    for (const argv of [[], [''], ['ls', 'a\0b']]) {
      expect(() => assertArgv(argv)).toThrow(TypeError);
      const r = await runner.run({ argv, timeoutMs: 1000 });
      expect(r.ok).toBe(false);
      expect(r.failedToStart).toMatch(/^invalid argv: /);
    }
    expect(() => assertArgv('ls -la')).toThrow(TypeError);
    expect(() => assertArgv(['ls', 3])).toThrow(TypeError);
    expect(() => assertArgv(['ls; rm -rf /', '|'])).not.toThrow();
  });

  it('rejects timeouts Node would silently turn into 1 ms', async () => {
    for (const timeoutMs of [0, -1, Number.NaN, Infinity, 2 ** 31]) {
      const r = await runner.run({ argv: [NODE, '-e', ''], timeoutMs });
      expect(r.failedToStart).toMatch(/^invalid timeoutMs/);
    }
  });
});

describe('ExecaRunner: output', () => {
  it('streams output as it arrives, in order, before the process ends', async () => {
    // The child waits for a file that only the onOutput listener creates: it can finish only if output is streamed.
    const go = join(dir, 'go');
    const child = `
      const fs = require('node:fs');
      process.stdout.write('ready\\n');
      const poll = setInterval(() => {
        if (!fs.existsSync(process.argv[1])) return;
        clearInterval(poll);
        process.stderr.write('warning\\n');
        setTimeout(() => process.stdout.write('done\\n'), 50);
      }, 10);`;
    const chunks: [string, string][] = [];
    const r = await runner.run({
      argv: [NODE, '-e', child, go],
      timeoutMs: 5000,
      onOutput: (chunk, stream) => {
        chunks.push([chunk, stream]);
        if (chunk.includes('ready')) writeFileSync(go, '');
      },
    });
    expect(r).toMatchObject({ ok: true, timedOut: false, output: 'ready\nwarning\ndone\n' });
    expect(chunks).toEqual([
      ['ready\n', 'stdout'],
      ['warning\n', 'stderr'],
      ['done\n', 'stdout'],
    ]);
  });

  it('keeps only the last maxOutputBytes, with a marker saying how much was cut', async () => {
    const r = await runner.run({
      argv: [NODE, '-e', 'process.stdout.write("x".repeat(5000) + "0123456789")'],
      timeoutMs: 5000,
      maxOutputBytes: 100,
    });
    expect(r.output).toBe(`[… 4910 bytes cut …]\n${'x'.repeat(90)}0123456789`);
  });

  it('caps by bytes without starting in the middle of a UTF-8 character', async () => {
    const r = await runner.run({
      argv: [NODE, '-e', 'process.stdout.write("é".repeat(100))'], // 200 bytes
      timeoutMs: 5000,
      maxOutputBytes: 11,
    });
    expect(r.output).toBe(`[… 190 bytes cut …]\n${'é'.repeat(5)}`);
  });

  it('defaults to 64 KiB and leaves smaller output untouched', async () => {
    const big = await runner.run({
      argv: [NODE, '-e', 'process.stdout.write("y".repeat(70000))'],
      timeoutMs: 5000,
    });
    expect(big.output).toBe(`[… ${70000 - 65536} bytes cut …]\n${'y'.repeat(65536)}`);
    const small = await runner.run({ argv: [NODE, '-e', 'process.stdout.write("z".repeat(1000))'], timeoutMs: 5000 });
    expect(small.output).toBe('z'.repeat(1000));
  });

  it('survives an onOutput listener that throws', async () => {
    const r = await runner.run({
      argv: [NODE, '-e', 'console.log("still here")'],
      timeoutMs: 5000,
      onOutput: () => {
        throw new Error('listener bug');
      },
    });
    expect(r).toMatchObject({ ok: true, output: 'still here\n' });
  });
});

describe('ExecaRunner: timeouts kill the whole tree', () => {
  it('kills the process and its grandchild on timeout', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const path = script('tree.sh', 'sleep 60 &\necho $! > "$1"\necho started\nwait');
    const r = await runner.run({ argv: [path, pidFile], timeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, timedOut: true, failedToStart: null, output: 'started\n' });
    expect(r.durationMs).toBeGreaterThanOrEqual(290);
    expect(r.durationMs).toBeLessThan(2500);
    expect(describeResult(r)).toMatch(/^timed out after \d+ ms \(killed\)$/);
    const grandchild = readPid(pidFile);
    // Dead = ESRCH, or a zombie (killed, but not reaped because its reaper, PID 1 here, does not reap).
    expect(await waitUntilDead(grandchild)).toBe(true);
  });

  it('escalates to SIGKILL when the process ignores SIGTERM', async () => {
    const stubborn = new ExecaRunner({ killGraceMs: 200 });
    // The timeout leaves node time to install its SIGTERM handler even on a loaded machine; before that, the
    // SIGTERM alone would end it and there would be nothing to escalate.
    const r = await stubborn.run({
      argv: [NODE, '-e', 'process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000)'],
      timeoutMs: 2_000,
    });
    expect(r).toMatchObject({ ok: false, timedOut: true, exitCode: null, signal: 'SIGKILL' });
    expect(r.output).toContain('up');
    expect(r.durationMs).toBeLessThan(6000);
  });

  it('does not wait out the grace period for a grandchild that ignores SIGTERM once the leader is gone', async () => {
    const pidFile = join(dir, 'stubborn.pid');
    const stubbornChild = 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)';
    const path = script('stubborn-tree.sh', `"$2" -e '${stubbornChild}' &\necho $! > "$1"\nwait`);
    const slowGrace = new ExecaRunner({ killGraceMs: 10_000 });
    const r = await slowGrace.run({ argv: [path, pidFile, NODE], timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.durationMs).toBeLessThan(5000);
    expect(await waitUntilDead(readPid(pidFile))).toBe(true);
  });

  it('returns after the grace period even if a process that left the group holds the output open', async () => {
    const pidFile = join(dir, 'escaped.pid');
    const path = script('escape.sh', 'setsid sleep 60 &\necho $! > "$1"\nwait');
    const r = await new ExecaRunner({ killGraceMs: 200 }).run({ argv: [path, pidFile], timeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, timedOut: true });
    expect(r.durationMs).toBeLessThan(3000);
    readPid(pidFile); // out of the runner's reach by design; afterEach kills it
  });

  it('kills background processes a finished command left running in its group', async () => {
    const pidFile = join(dir, 'leftover.pid');
    const path = script('leftover.sh', 'sleep 60 >/dev/null 2>&1 &\necho $! > "$1"\necho bye');
    const r = await runner.run({ argv: [path, pidFile], timeoutMs: 5000 });
    expect(r).toMatchObject({ ok: true, exitCode: 0, output: 'bye\n' });
    expect(await waitUntilDead(readPid(pidFile))).toBe(true);
  });
});

describe('ExecaRunner: cancellation', () => {
  it('stops the process and its grandchild when the caller aborts, and says it was cancelled', async () => {
    const pidFile = join(dir, 'cancelled-grandchild.pid');
    const path = script('cancel-tree.sh', 'sleep 60 &\necho $! > "$1"\necho started\nwait');
    const cancel = new AbortController();
    const r = await runner.run({
      argv: [path, pidFile],
      timeoutMs: 60_000,
      signal: cancel.signal,
      onOutput: (chunk) => {
        if (chunk.includes('started')) cancel.abort();
      },
    });
    expect(r).toMatchObject({ ok: false, timedOut: false, cancelled: true, failedToStart: null });
    expect(describeResult(r)).toMatch(/^cancelled after \d+ ms \(killed\)$/);
    expect(await waitUntilDead(readPid(pidFile))).toBe(true);
  });

  it('does not start anything useful for a signal aborted before the run: it is stopped at once', async () => {
    const cancel = new AbortController();
    cancel.abort();
    const r = await runner.run({ argv: [NODE, '-e', 'setTimeout(() => console.log("late"), 30000)'], timeoutMs: 60_000, signal: cancel.signal });
    expect(r).toMatchObject({ ok: false, cancelled: true });
    expect(r.output).not.toContain('late');
  });
});

describe('ExecaRunner: environment and cwd', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it('gives the child only PATH, HOME, LANG and the spec env: no bot secrets', async () => {
    process.env.SLACK_BOT_TOKEN = 'xoxb-test-secret';
    process.env.PAGERDUTY_TOKEN = 'pd-test-secret';
    const r = await runner.run({
      argv: [NODE, '-e', 'console.log(JSON.stringify(process.env))'],
      timeoutMs: 5000,
      env: { WAYGATE_TARGET: 'staging' },
    });
    const env = JSON.parse(r.output) as Record<string, string>;
    expect(Object.keys(env).sort()).toEqual(['HOME', 'LANG', 'PATH', 'WAYGATE_TARGET']);
    expect(env.PATH).toBe(process.env.PATH);
    expect(env.WAYGATE_TARGET).toBe('staging');
    expect(r.output).not.toContain('secret');
  });

  it('lets the spec env override the defaults', async () => {
    const r = await runner.run({
      argv: [NODE, '-e', 'console.log(process.env.LANG)'],
      timeoutMs: 5000,
      env: { LANG: 'de_DE.UTF-8' },
    });
    expect(r.output).toBe('de_DE.UTF-8\n');
  });

  it('runs in the given working directory', async () => {
    const r = await runner.run({ argv: [NODE, '-e', 'console.log(process.cwd())'], timeoutMs: 5000, cwd: dir });
    expect(r.output.trim()).toBe(realpathSync(dir));
  });
});

describe('describeResult', () => {
  const base: RunResult = {
    argv: ['x'],
    ok: true,
    exitCode: 0,
    signal: null,
    timedOut: false,
    failedToStart: null,
    durationMs: 0,
    output: '',
  };

  it('formats exits, timeouts, signals and start failures as one line', () => {
    expect(describeResult({ ...base, durationMs: 1234 })).toBe('exit 0 in 1.2 s');
    expect(describeResult({ ...base, ok: false, exitCode: 2, durationMs: 300.4 })).toBe('exit 2 in 300 ms');
    expect(
      describeResult({ ...base, ok: false, exitCode: null, signal: 'SIGTERM', timedOut: true, durationMs: 10_020 }),
    ).toBe('timed out after 10 s (killed)');
    expect(describeResult({ ...base, ok: false, exitCode: null, failedToStart: 'command not found: pip' })).toBe(
      'could not start: command not found: pip',
    );
    expect(describeResult({ ...base, ok: false, exitCode: null, signal: 'SIGKILL', durationMs: 2300 })).toBe(
      'killed by SIGKILL after 2.3 s',
    );
    expect(describeResult({ ...base, durationMs: 125_000 })).toBe('exit 0 in 2 min 5 s');
    expect(describeResult({ ...base, durationMs: 59_990 })).toBe('exit 0 in 1 min');
  });
});

describe('lastLines', () => {
  it('returns the last n lines, ignoring one trailing newline', () => {
    expect(lastLines('a\nb\nc\n', 2)).toBe('b\nc');
    expect(lastLines('a\r\nb\r\nc', 2)).toBe('b\nc');
    expect(lastLines('a\nb', 5)).toBe('a\nb');
    expect(lastLines('a\n\nb\n', 2)).toBe('\nb');
    expect(lastLines('a\nb', 0)).toBe('');
    expect(lastLines('', 3)).toBe('');
  });
});

describe('RecordingRunner', () => {
  it('records every spec and answers from the script', async () => {
    const fake = new RecordingRunner((spec) =>
      spec.argv[0] === 'pip' ? { failedToStart: 'command not found: pip' } : { exitCode: 1, output: 'nope\n' },
    );
    const streamed: string[] = [];
    const a = await fake.run({ argv: ['git', 'status'], timeoutMs: 1000, onOutput: (c) => streamed.push(c) });
    const b = await fake.run({ argv: ['pip', 'install', 'x'], timeoutMs: 1000 });
    expect(fake.calls.map((c) => c.argv)).toEqual([
      ['git', 'status'],
      ['pip', 'install', 'x'],
    ]);
    expect(fake.argvs).toEqual([
      ['git', 'status'],
      ['pip', 'install', 'x'],
    ]);
    expect(a).toMatchObject({ argv: ['git', 'status'], ok: false, exitCode: 1, output: 'nope\n', timedOut: false });
    expect(streamed).toEqual(['nope\n']);
    expect(b).toMatchObject({ ok: false, exitCode: null, failedToStart: 'command not found: pip' });
    expect(describeResult(b)).toBe('could not start: command not found: pip');
  });

  it('answers a successful empty run by default, and validates argv like the real runner', async () => {
    const fake = new RecordingRunner(() => ({}));
    expect(await fake.run({ argv: ['true'], timeoutMs: 1000 })).toEqual({
      argv: ['true'],
      ok: true,
      exitCode: 0,
      signal: null,
      timedOut: false,
      failedToStart: null,
      durationMs: 0,
      output: '',
    });
    const bad = await fake.run({ argv: [], timeoutMs: 1000 });
    expect(bad.failedToStart).toMatch(/^invalid argv/);
    expect(fake.calls).toHaveLength(2);
  });
});
