/**
 * The one place where Waygate starts processes (the lint config allows `execa` / `child_process` only
 * under src/runner/**).
 *
 * Rules enforced here:
 * - argv arrays only, never a shell and never a command string: `argv[0]` is looked up on PATH and every
 *   argument reaches the program byte for byte, so `;`, `|`, `$(…)` and friends mean nothing;
 * - a deadline that kills the whole process tree: the child gets its own process group (`detached`), and on
 *   timeout the group gets SIGTERM, then SIGKILL after a grace period (or as soon as the leader is gone);
 * - a minimal environment (PATH, HOME, LANG) plus what the caller passes: the bot's secrets
 *   (SLACK_*, PAGERDUTY_*, …) never reach a child;
 * - output streamed to the caller as it arrives and capped: only the last `maxOutputBytes` are kept.
 *
 * Time: src/** may not use setTimeout / Date.now(); deadlines use AbortSignal.timeout and durations
 * performance.now().
 */
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { formatDuration } from '../core/text.js';

export interface RunSpec {
  /** [program, ...args]; the program is resolved via PATH, never through a shell. */
  argv: readonly string[];
  timeoutMs: number;
  cwd?: string;
  /** Merged over a minimal environment (PATH, HOME, LANG); nothing else from the bot's environment leaks. */
  env?: Record<string, string>;
  /** Default 64 KiB: keeps the LAST bytes, prefixed with "[… N bytes cut …]\n". */
  maxOutputBytes?: number;
  /** Called with each decoded chunk as it arrives. A listener that throws is ignored, not fatal. */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string;
  /** Aborting it stops the whole process tree as a timeout does (SIGTERM, then SIGKILL after the grace). */
  signal?: AbortSignal;
}

export interface RunResult {
  argv: readonly string[];
  /** Exit code 0, not timed out, and the process started. */
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Stopped because the caller's signal was aborted (a Cancel button). */
  cancelled?: boolean;
  /** Why the process could not be started, e.g. "command not found: pip"; null when it started. */
  failedToStart: string | null;
  durationMs: number;
  /** stdout and stderr interleaved as received, capped to the last maxOutputBytes. */
  output: string;
}

export interface ProcessRunner {
  /** Never rejects: non-zero exits, timeouts, spawn failures and invalid specs all come back as results. */
  run(spec: RunSpec): Promise<RunResult>;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;
/** Node clamps timers above 2^31-1 ms to 1 ms, which would turn a long deadline into an instant kill. */
const MAX_TIMEOUT_MS = 2_147_483_647;
const DEFAULT_KILL_GRACE_MS = 3_000;
const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Throws a TypeError unless argv is a non-empty array of strings with a non-empty program and no NUL bytes.
 * A program name full of shell metacharacters is valid: it is only ever a file name to look up.
 */
export function assertArgv(argv: unknown): asserts argv is readonly string[] {
  if (!Array.isArray(argv)) throw new TypeError('argv must be an array of strings');
  if (argv.length === 0) throw new TypeError('argv must not be empty: it needs at least the program');
  argv.forEach((arg: unknown, i) => {
    if (typeof arg !== 'string') throw new TypeError(`argv[${i}] must be a string, got ${typeof arg}`);
    if (arg.includes('\0')) throw new TypeError(`argv[${i}] contains a NUL byte`);
  });
  if (argv[0] === '') throw new TypeError('argv[0] (the program) must not be empty');
}

/** Checks everything about a spec that can be checked before spawning; returns the problem or null. */
export function specProblem(spec: RunSpec): string | null {
  try {
    assertArgv(spec.argv);
  } catch (err) {
    return `invalid argv: ${(err as Error).message}`;
  }
  const { timeoutMs, maxOutputBytes } = spec;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    return `invalid timeoutMs: ${String(timeoutMs)} (must be > 0 and <= ${MAX_TIMEOUT_MS})`;
  }
  if (maxOutputBytes !== undefined && (!Number.isInteger(maxOutputBytes) || maxOutputBytes < 0)) {
    return `invalid maxOutputBytes: ${String(maxOutputBytes)}`;
  }
  return null;
}

/** The whole environment a child sees: an allow-list from the bot's environment, then the caller's entries. */
function childEnvironment(extra: Record<string, string> | undefined): Record<string, string> {
  return {
    PATH: process.env.PATH ?? FALLBACK_PATH,
    HOME: process.env.HOME ?? '/',
    LANG: process.env.LANG ?? 'C.UTF-8',
    ...extra,
  };
}

/** Keeps the last `max` bytes of everything pushed, in arrival order. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private kept = 0;
  private total = 0;

  constructor(private readonly max: number) {}

  push(text: string): void {
    if (text === '') return;
    const bytes = Buffer.from(text, 'utf8');
    this.total += bytes.length;
    this.chunks.push(bytes);
    this.kept += bytes.length;
    // Drop whole chunks from the front while what remains still covers the last `max` bytes.
    for (let first = this.chunks[0]; first && this.kept - first.length >= this.max; first = this.chunks[0]) {
      this.chunks.shift();
      this.kept -= first.length;
    }
  }

  toString(): string {
    let tail = Buffer.concat(this.chunks, this.kept);
    if (tail.length > this.max) tail = tail.subarray(tail.length - this.max);
    // Do not start in the middle of a UTF-8 sequence: skip continuation bytes (0b10xxxxxx).
    let start = 0;
    while (start < tail.length && start < 3 && ((tail[start] ?? 0) & 0xc0) === 0x80) start++;
    tail = tail.subarray(start);
    const cut = this.total - tail.length;
    const text = tail.toString('utf8');
    return cut > 0 ? `[… ${cut} bytes cut …]\n${text}` : text;
  }
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

/** Signals a process group; falls back to the single process where groups do not exist (Windows). */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(process.platform === 'win32' ? pid : -pid, signal);
  } catch (err) {
    if (errnoCode(err) !== 'ESRCH') {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  }
}

// Children run detached (so the group can be killed), which also means they would outlive the bot.
// Kill whatever is still running when the bot exits.
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function trackGroup(pid: number): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const group of liveGroups) signalGroup(group, 'SIGKILL');
    });
  }
  liveGroups.add(pid);
}

async function startFailure(code: string | undefined, message: string, program: string, cwd?: string): Promise<string> {
  if ((code === 'ENOENT' || code === 'ENOTDIR') && cwd !== undefined) {
    try {
      // cwd is the caller's working directory option, checked only to explain a failed spawn.
      // eslint-disable-next-line security/detect-non-literal-fs-filename
      const info = await stat(cwd);
      if (!info.isDirectory()) return `working directory is not a directory: ${cwd}`;
    } catch {
      return `working directory not found: ${cwd}`;
    }
  }
  switch (code) {
    case 'ENOENT':
      return `command not found: ${program}`;
    case 'EACCES':
      return `permission denied: ${program}`;
    case 'ENOEXEC':
      return `not an executable: ${program}`;
    default:
      return `${code ?? 'error'}: ${message}`;
  }
}

function failedResult(argv: readonly string[], failedToStart: string, durationMs = 0): RunResult {
  return {
    argv,
    ok: false,
    exitCode: null,
    signal: null,
    timedOut: false,
    failedToStart,
    durationMs,
    output: '',
  };
}

function startProcess(program: string, args: string[], spec: RunSpec) {
  return execa(program, args, {
    shell: false,
    cwd: spec.cwd,
    env: childEnvironment(spec.env),
    extendEnv: false, // execa would otherwise merge the whole of process.env, secrets included
    preferLocal: false,
    detached: true, // own process group, so a timeout can kill the whole tree
    cleanup: false, // execa skips detached children anyway; liveGroups covers bot exit
    windowsHide: true,
    reject: false,
    buffer: false, // ExecaRunner.run captures (capped) output itself
    stripFinalNewline: false,
    ...(spec.input !== undefined ? { input: spec.input } : { stdin: 'ignore' as const }),
    stdout: 'pipe',
    stderr: 'pipe',
  });
}

export interface ExecaRunnerOptions {
  /** After the SIGTERM sent on timeout, how long the process group gets before SIGKILL. Default 3 s. */
  killGraceMs?: number;
}

/** Runs real processes with execa. Never rejects (see ProcessRunner). */
export class ExecaRunner implements ProcessRunner {
  private readonly killGraceMs: number;

  constructor(options: ExecaRunnerOptions = {}) {
    const grace = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.killGraceMs = Math.min(Math.max(1, grace), MAX_TIMEOUT_MS);
  }

  async run(spec: RunSpec): Promise<RunResult> {
    const argv = [...spec.argv];
    const problem = specProblem(spec);
    if (problem !== null) return failedResult(argv, problem);
    const [program, ...args] = argv as [string, ...string[]];

    const output = new TailBuffer(spec.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES);
    const emit = (chunk: string, stream: 'stdout' | 'stderr'): void => {
      if (chunk === '') return;
      output.push(chunk);
      try {
        spec.onOutput?.(chunk, stream);
      } catch {
        // A broken listener must not break the run or lose the captured output.
      }
    };

    const started = performance.now();
    let subprocess: ReturnType<typeof startProcess>;
    try {
      subprocess = startProcess(program, args, spec);
    } catch (err) {
      // execa validates its options synchronously (e.g. a cwd that is not a string).
      return failedResult(argv, `invalid options: ${(err as Error).message}`);
    }

    const pid = subprocess.pid;
    let finished = false;
    let timedOut = false;
    let cancelled = false;
    const timeoutSignal = AbortSignal.timeout(spec.timeoutMs);
    let graceSignal: AbortSignal | undefined;
    const forceKill = (): void => {
      if (!finished && pid !== undefined) signalGroup(pid, 'SIGKILL');
    };
    // End of the grace period: kill again, and stop waiting for output. A process that escaped the group
    // (setsid) could otherwise hold the pipes open, and the run would never return.
    const graceOver = (): void => {
      if (finished) return;
      forceKill();
      subprocess.stdout?.destroy();
      subprocess.stderr?.destroy();
    };
    const stop = (): void => {
      if (finished || pid === undefined || graceSignal) return;
      signalGroup(pid, 'SIGTERM');
      graceSignal = AbortSignal.timeout(this.killGraceMs);
      graceSignal.addEventListener('abort', graceOver, { once: true });
    };
    const onTimeout = (): void => {
      if (finished || cancelled) return;
      timedOut = true;
      stop();
    };
    const onCancel = (): void => {
      if (finished || timedOut) return;
      cancelled = true;
      stop();
    };
    // Once the leader has died after a timeout, whatever is left of its group gets no further grace.
    const onExit = (): void => {
      if (timedOut || cancelled) forceKill();
    };

    if (pid !== undefined) {
      trackGroup(pid);
      timeoutSignal.addEventListener('abort', onTimeout, { once: true });
      if (spec.signal?.aborted) onCancel();
      else spec.signal?.addEventListener('abort', onCancel, { once: true });
      subprocess.on('exit', onExit);
      for (const name of ['stdout', 'stderr'] as const) {
        const stream: Readable | null = subprocess[name];
        if (!stream) continue;
        const decoder = new StringDecoder('utf8');
        stream.on('data', (data: Buffer | string) => {
          emit(typeof data === 'string' ? data : decoder.write(data), name);
        });
        stream.on('end', () => emit(decoder.end(), name));
      }
    }

    let result: Awaited<typeof subprocess> | undefined;
    let unexpected: unknown;
    try {
      result = await subprocess;
    } catch (err) {
      // reject: false makes execa resolve for every failure it knows; this is a safety net for the rest.
      unexpected = err;
    }
    const durationMs = performance.now() - started;
    finished = true;
    timeoutSignal.removeEventListener('abort', onTimeout);
    spec.signal?.removeEventListener('abort', onCancel);
    graceSignal?.removeEventListener('abort', graceOver);
    subprocess.off('exit', onExit);
    if (pid !== undefined) {
      // The leader is done; a child it left running in the background (same group) is not the bot's to keep.
      signalGroup(pid, 'SIGKILL');
      liveGroups.delete(pid);
    }

    if (result === undefined) {
      const message = unexpected instanceof Error ? unexpected.message : String(unexpected);
      return { ...failedResult(argv, `runner error: ${message}`, durationMs), output: output.toString() };
    }

    if (pid === undefined) {
      const failure = await startFailure(result.code, result.originalMessage ?? result.message ?? '', program, spec.cwd);
      return failedResult(argv, failure, durationMs);
    }

    const exitCode = result.exitCode ?? null;
    return {
      argv,
      ok: exitCode === 0 && !timedOut && !cancelled,
      exitCode,
      signal: result.signal ?? null,
      timedOut,
      cancelled,
      failedToStart: null,
      durationMs,
      output: output.toString(),
    };
  }
}

/** The last `n` lines of `text` (a trailing newline does not count as an empty last line). */
export function lastLines(text: string, n: number): string {
  if (n <= 0 || text === '') return '';
  const lines = text.replace(/\r?\n$/, '').split(/\r?\n/);
  return lines.slice(-Math.floor(n)).join('\n');
}

/** One line for Slack and logs: "exit 0 in 1.2 s", "timed out after 10 s (killed)", "could not start: …". */
export function describeResult(r: RunResult): string {
  if (r.failedToStart !== null) return `could not start: ${r.failedToStart}`;
  const took = formatDuration(r.durationMs, { precise: true });
  if (r.timedOut) return `timed out after ${took} (killed)`;
  if (r.cancelled) return `cancelled after ${took} (killed)`;
  if (r.exitCode !== null) return `exit ${r.exitCode} in ${took}`;
  if (r.signal !== null) return `killed by ${r.signal} after ${took}`;
  return `ended without an exit code after ${took}`;
}
