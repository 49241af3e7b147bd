/**
 * A command line that cannot be run as given (bad flags, missing or invalid values). Raised
 * before anything is sent; the entry point prints its message on one line and exits with 2,
 * the status az uses for argument errors.
 */
export class UsageError extends Error {
  readonly code = 'USAGE_INVALID';
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
