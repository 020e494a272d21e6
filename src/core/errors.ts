/**
 * One base class for the errors Waygate throws on purpose, so a handler can branch on a stable `code` instead of
 * matching message text, and a log line says which kind of failure it was.
 */

/** Stable values: they appear in logs, so renaming one breaks anyone searching for it. */
export const ErrorCode = {
  /** Anything that did not come from Waygate's own code paths; the original is the `cause`. */
  Unexpected: 'unexpected',
  BackupFailed: 'backup_failed',
  DeliveryFailed: 'delivery_failed',
  /** The job already posted its own failure report; see ReportedJobFailure. */
  JobFailureReported: 'job_failure_reported',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class WaygateError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'WaygateError';
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  const message = (err as { message?: unknown } | null | undefined)?.message;
  if (typeof message === 'string') return message;
  try {
    return String(err);
  } catch {
    // An object without a prototype has no toString.
    return Object.prototype.toString.call(err);
  }
}

/**
 * The error itself when it is already a WaygateError, otherwise a WaygateError with code 'unexpected', the same
 * message and the original as `cause`, so wrapping twice never nests and the original stack is not lost.
 */
export function asWaygateError(err: unknown): WaygateError {
  if (err instanceof WaygateError) return err;
  return new WaygateError(ErrorCode.Unexpected, messageOf(err), { cause: err });
}
