// The build is a child process of the test run: test infrastructure, not product code, so it does not go
// through src/runner.
// eslint-disable-next-line no-restricted-imports
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** For the hook that waits for a build: the compiler shares the CPU with the other test worker. */
export const PRODUCTION_BUILD_TIMEOUT_MS = 180_000;

export interface ProductionBuild {
  /** Laid out like the image: package.json, node_modules and dist/. */
  root: string;
  dist: string;
  /** Resolves once the build succeeded; rejects with the compiler's output if it failed. */
  done: Promise<void>;
  /** Stops the build if it is still running and deletes the directory. */
  remove(): Promise<void>;
}

const REPO = join(import.meta.dirname, '..', '..');

/**
 * Runs the project's own `npm run build`, only into a temporary directory, so tests can inspect and start
 * exactly what ships without writing into the repository's dist/.
 */
export function startProductionBuild(): ProductionBuild {
  const root = mkdtempSync(join(tmpdir(), 'waygate-build-'));
  const dist = join(root, 'dist');
  // package.json beside dist/ makes the output ES modules, gives the bot its version and lets `npm start` run
  // there, as in the image. node_modules is a link: rmSync removes the link, never what it points to.
  copyFileSync(join(REPO, 'package.json'), join(root, 'package.json'));
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir');
  // The procedure definitions sit beside dist/, as the Dockerfile copies them.
  symlinkSync(join(REPO, 'sops'), join(root, 'sops'), 'dir');
  const child = spawn('npm', ['run', 'build', '--silent', '--', '--outDir', dist], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so remove() also stops the compiler npm started.
    detached: true,
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const finished = new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      output += `could not run npm: ${err.message}`;
      resolve(null);
    });
    child.once('close', (code) => resolve(code));
  });
  const done = finished.then((code) => {
    if (code !== 0) throw new Error(`npm run build failed (${code ?? 'no exit code'}):\n${output}`);
  });
  // A failed build is reported by whoever awaits `done`; it must not also surface as an unhandled rejection.
  done.catch(() => undefined);
  return {
    root,
    dist,
    done,
    async remove() {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
      }
      await finished;
      rmSync(root, { recursive: true, force: true });
    },
  };
}
