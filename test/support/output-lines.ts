import type { Readable } from 'node:stream';

/**
 * Collects a child process's stdout and stderr as whole lines (stdout in `stdout`, each handed to `onLine`
 * as it completes; stderr's non-empty lines in `stderr`).
 */
export function collectLines(child: { stdout: Readable; stderr: Readable }, onLine: (line: string) => void): { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      stdout.push(line);
      onLine(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(...chunk.split('\n').filter(Boolean)));
  return { stdout, stderr };
}
