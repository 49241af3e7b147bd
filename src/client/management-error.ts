/**
 * An error answered by (or on the way to) a registry's management API. `code` is the OCI error
 * code of the answer (`NOT_FOUND`, `CONFLICT`, `UNAUTHORIZED`, …), or one of the client's own
 * codes when there is no OCI answer: `CONNECTION_FAILED` (status 0: nothing answered),
 * `TIMEOUT` (status 0), `BAD_RESPONSE` (an answer that is not the JSON the contract promises).
 */
export class ManagementError extends Error {
  readonly code: string;
  /** HTTP status of the answer; 0 when no answer arrived. */
  readonly status: number;
  readonly detail: unknown;

  constructor(code: string, status: number, message: string, detail: unknown = null) {
    super(message);
    this.name = 'ManagementError';
    this.code = code;
    this.status = status;
    this.detail = detail;
  }
}

export function isManagementError(err: unknown): err is ManagementError {
  return err instanceof ManagementError;
}
