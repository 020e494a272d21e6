// `npm start` runs as its own process here, as a newcomer runs it: test infrastructure, not product code, so
// it does not go through src/runner.
// eslint-disable-next-line no-restricted-imports
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { collectLines } from './output-lines.js';

const REPO = join(import.meta.dirname, '..', '..');

export interface StartedProcess {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the sandbox URL from the line `npm start` prints; rejects if the process ends first. */
  url: Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM to the whole group (npm and the process under it), then waits for it to end. */
  stop(): Promise<void>;
}

/**
 * `npm start` in the repository with exactly `env` (plus PATH and HOME): no Slack variable unless given.
 * `--ignore-scripts` skips prestart's build, which the sandbox does not use and which would write into dist/.
 */
export function npmStart(env: Record<string, string>): StartedProcess {
  const child = spawn('npm', ['start', '--silent', '--ignore-scripts'], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let resolveUrl: (url: string) => void = () => undefined;
  let rejectUrl: (err: Error) => void = () => undefined;
  const url = new Promise<string>((resolve, reject) => {
    resolveUrl = resolve;
    rejectUrl = reject;
  });
  url.catch(() => undefined);
  const { stdout, stderr } = collectLines(child, (line) => {
    const found = /open (http:\/\/localhost:\d+\/sandbox)\b/.exec(line);
    if (found?.[1]) resolveUrl(found[1]);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      rejectUrl(new Error(`npm start ended (${code ?? signal}) before printing the sandbox URL: ${[...stdout, ...stderr].join(' | ')}`));
      resolve({ code, signal });
    });
  });
  return {
    child,
    stdout,
    stderr,
    url,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
      }
      await exited;
    },
  };
}
