/**
 * Thrown by a job that has already posted its own failure report (with output and reason), so the
 * generic "scheduled job failed" alert does not say the same thing twice.
 */
export class ReportedJobFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportedJobFailure';
  }
}
