// The bot under test runs as its own process here (SIGKILL, exit codes): test infrastructure, not product
// code, so it does not go through src/runner.
// eslint-disable-next-line no-restricted-imports
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { collectLines } from '../support/output-lines.js';

const REPO = join(import.meta.dirname, '..', '..');

export interface BotProcess {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the port from the "Waygate is running" log line. */
  ready: Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the bot with the given environment: `src/main.ts` as `npm run dev` would, or with `commandIn`
 * exactly as the image does, its CMD (`node dist/src/main.js`) in that production build (see
 * startProductionBuild()), in its own process group.
 */
export function spawnBot(env: Record<string, string>, opts: { commandIn?: { cwd: string; argv: readonly string[] } } = {}): BotProcess {
  const [command, args, cwd] = opts.commandIn
    ? [opts.commandIn.argv[0] === 'node' ? process.execPath : (opts.commandIn.argv[0] ?? ''), opts.commandIn.argv.slice(1), opts.commandIn.cwd]
    : [process.execPath, ['--import', 'tsx', join(REPO, 'src', 'main.ts')], REPO];
  const child = spawn(command, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.commandIn !== undefined,
  });
  let resolveReady: (port: number) => void = () => undefined;
  let rejectReady: (err: Error) => void = () => undefined;
  const ready = new Promise<number>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  // Tests that expect an early exit never await `ready`; its rejection is then not an error.
  ready.catch(() => undefined);
  const { stdout, stderr } = collectLines(child, (line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'Waygate is running' && typeof entry.port === 'number') resolveReady(entry.port);
    } catch {
      // not a log line
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close', not 'exit': it waits until every process writing to our pipes (npm's child too) is done.
    child.on('close', (code, signal) => {
      rejectReady(new Error(`bot exited (${code ?? signal}) before it was ready: ${stderr.join(' | ')}`));
      resolve({ code, signal });
    });
  });
  return { child, stdout, stderr, ready, exited };
}
