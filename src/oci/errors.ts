/**
 * The one table of error codes Outpost answers with: the OCI distribution-spec codes plus our own.
 * Every error that leaves a node is a `RegistryError` carrying one of these codes. What a code is
 * over HTTP (its status, the headers some need) is decided in one place, the HTTP edge's error
 * mapping (registry/error-mapping.ts). `docs/errors.md` lists the same table.
 */
export const ERROR_CODES = {
  BLOB_UNKNOWN: { message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { message: 'manifest unknown to registry' },
  NAME_INVALID: { message: 'invalid repository name' },
  NAME_UNKNOWN: { message: 'repository name not known to registry' },
  SIZE_INVALID: { message: 'provided length did not match content length' },
  UNAUTHORIZED: { message: 'authentication required' },
  DENIED: { message: 'requested access to the resource is denied' },
  UNSUPPORTED: { message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { message: 'too many requests' },
  // Outpost's own codes.
  RANGE_INVALID: { message: 'requested range not satisfiable' },
  MANIFEST_TOO_LARGE: { message: 'manifest exceeds the size limit' },
  PAGINATION_INVALID: { message: 'invalid pagination parameters' },
  METHOD_NOT_ALLOWED: { message: 'method not allowed' },
  NOT_FOUND: { message: 'not found' },
  REQUEST_INVALID: { message: 'request invalid' },
  REQUEST_TIMEOUT: { message: 'the request did not arrive in time' },
  HEADERS_TOO_LARGE: { message: 'request header fields too large' },
  CONFLICT: { message: 'the resource already exists or is in use' },
  ALREADY_ACTIVATED: { message: 'connected registry is already activated' },
  RESYNC_REQUIRED: { message: 'cursor is older than the retained change log' },
  BLOB_REFERENCED: { message: 'the blob is used by a manifest of the repository' },
  MANIFEST_REFERENCED: { message: 'the manifest is listed by an index of the repository' },
  STORAGE_FULL: { message: 'storage is full: the registry cannot store more data until space is freed' },
  STORAGE_READ_ONLY: { message: 'storage is read-only: the registry cannot store data now' },
  STORAGE_IO_ERROR: { message: 'storage I/O error: the registry could not read or write its data' },
  INTERNAL: { message: 'internal error' },
  UNAVAILABLE: { message: 'service unavailable' },
} as const satisfies Record<string, { message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * An error that is part of the API: a stable code, a message for people and optional detail (the
 * OCI error JSON's three fields). It carries nothing of HTTP: layers throw it (or a subclass with
 * typed fields, such as storage's UploadRangeError) and the HTTP edge maps it once.
 */
export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly detail: unknown;

  constructor(code: ErrorCode, message?: string, detail?: unknown) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'RegistryError';
    this.code = code;
    this.detail = detail ?? null;
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
