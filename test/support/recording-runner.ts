import { specProblem, type ProcessRunner, type RunResult, type RunSpec } from '../../src/runner/runner.js';

/** A runner for tests that records argv and answers from a script of canned results. */
export class RecordingRunner implements ProcessRunner {
  readonly calls: RunSpec[] = [];

  constructor(private readonly answer: (spec: RunSpec) => Partial<RunResult> | Promise<Partial<RunResult>> = () => ({})) {}

  /** The argv of every call so far, in order. */
  get argvs(): string[][] {
    return this.calls.map((spec) => [...spec.argv]);
  }

  async run(spec: RunSpec): Promise<RunResult> {
    this.calls.push(spec);
    // Refuses what the real runner refuses, so a test cannot pass with a spec production would reject.
    const problem = specProblem(spec);
    if (problem !== null) {
      return {
        argv: [...spec.argv],
        ok: false,
        exitCode: null,
        signal: null,
        timedOut: false,
        failedToStart: problem,
        durationMs: 0,
        output: '',
      };
    }
    const canned = await this.answer(spec);
    const exitCode = canned.exitCode === undefined ? (canned.failedToStart ? null : 0) : canned.exitCode;
    const timedOut = canned.timedOut ?? false;
    const failedToStart = canned.failedToStart ?? null;
    const output = canned.output ?? '';
    if (output !== '') spec.onOutput?.(output, 'stdout');
    return {
      argv: canned.argv ?? [...spec.argv],
      ok: canned.ok ?? (exitCode === 0 && !timedOut && failedToStart === null),
      exitCode,
      signal: canned.signal ?? null,
      timedOut,
      failedToStart,
      durationMs: canned.durationMs ?? 0,
      output,
    };
  }
}
