import { ErrorCode, WaygateError } from '../core/errors.js';

/**
 * Thrown by a job that has already posted its own failure report (with output and reason), so the
 * generic "scheduled job failed" alert does not say the same thing twice.
 */
export class ReportedJobFailure extends WaygateError {
  constructor(message: string) {
    super(ErrorCode.JobFailureReported, message);
    this.name = 'ReportedJobFailure';
  }
}
