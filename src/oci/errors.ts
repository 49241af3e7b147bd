/**
 * The one table of error codes Outpost answers with: the OCI distribution-spec codes plus our own.
 * Every error that leaves a node is a `RegistryError` carrying one of these codes; the HTTP status
 * for a code is looked up here and nowhere else. `docs/errors.md` lists the same table.
 */
export const ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 404, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 415, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  // Outpost's own codes.
  RANGE_INVALID: { status: 416, message: 'requested range not satisfiable' },
  MANIFEST_TOO_LARGE: { status: 413, message: 'manifest exceeds the size limit' },
  PAGINATION_INVALID: { status: 400, message: 'invalid pagination parameters' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed' },
  NOT_FOUND: { status: 404, message: 'not found' },
  REQUEST_INVALID: { status: 400, message: 'request invalid' },
  REQUEST_TIMEOUT: { status: 408, message: 'the request did not arrive in time' },
  HEADERS_TOO_LARGE: { status: 431, message: 'request header fields too large' },
  CONFLICT: { status: 409, message: 'the resource already exists or is in use' },
  ALREADY_ACTIVATED: { status: 409, message: 'connected registry is already activated' },
  RESYNC_REQUIRED: { status: 410, message: 'cursor is older than the retained change log' },
  // 405: the spec's answers to a blob DELETE are 202, 404 and 405; this one is not deletable now.
  BLOB_REFERENCED: { status: 405, message: 'the blob is used by a manifest of the repository' },
  MANIFEST_REFERENCED: { status: 405, message: 'the manifest is listed by an index of the repository' },
  STORAGE_FULL: { status: 507, message: 'storage is full: the registry cannot store more data until space is freed' },
  STORAGE_READ_ONLY: { status: 503, message: 'storage is read-only: the registry cannot store data now' },
  STORAGE_IO_ERROR: { status: 500, message: 'storage I/O error: the registry could not read or write its data' },
  INTERNAL: { status: 500, message: 'internal error' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error that is part of the API: it has a stable code, a message for people and optional detail. */
export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly detail: unknown;
  /** Extra response headers the error needs (e.g. `Range` on a 416 for an upload). */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, detail?: unknown, headers: Record<string, string> = {}) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'RegistryError';
    this.code = code;
    this.detail = detail ?? null;
    this.headers = headers;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

export interface ErrorBody {
  errors: Array<{ code: string; message: string; detail: unknown }>;
}

/** The OCI error JSON for one error. */
export function errorBody(err: RegistryError): ErrorBody {
  return { errors: [{ code: err.code, message: err.message, detail: err.detail }] };
}

export function isRegistryError(err: unknown): err is RegistryError {
  return err instanceof RegistryError;
}
