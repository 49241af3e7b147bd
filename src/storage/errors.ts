import { RegistryError } from '../oci/errors.js';

/*
 * The storage layer's errors. None carries anything of HTTP: the HTTP edge maps them once
 * (registry/error-mapping.ts), headers included. Two families:
 *
 * - what a driver throws about its medium: PathNotFoundError, InvalidPathError and
 *   StorageFailureError (full, read-only, failing). The checking wrapper every driver is used
 *   through (checked-driver.ts) turns the medium's own errors into these;
 * - what the blob and upload stores throw about content, as RegistryErrors of the one code
 *   table (a digest or size that does not match, an unknown blob or upload, a chunk at the wrong
 *   offset, too many open sessions), so that callers match on `code` whatever the layer.
 */

export class PathNotFoundError extends Error {
  readonly code = 'PATH_NOT_FOUND';
  constructor(readonly path: string) {
    super(`path not found: ${path}`);
    this.name = 'PathNotFoundError';
  }
}

export class InvalidPathError extends Error {
  readonly code = 'PATH_INVALID';
  constructor(readonly path: string) {
    super(`invalid storage path: ${path}`);
    this.name = 'InvalidPathError';
  }
}

/** How the medium failed: out of space, mounted read-only, or an I/O error. */
export type StorageFailureKind = 'full' | 'read-only' | 'io';

/** The operating system's codes for each kind of failure; anything else is not a storage failure. */
const FAILURE_KINDS: Readonly<Record<string, StorageFailureKind>> = {
  ENOSPC: 'full',
  EDQUOT: 'full',
  EROFS: 'read-only',
  EIO: 'io',
};

/**
 * The medium refused a read or a write: it is full (ENOSPC, EDQUOT), read-only (EROFS) or failing
 * (EIO). `kind` is what callers act on (the HTTP edge maps it to STORAGE_FULL and friends);
 * `code` keeps the operating system's code, so what reports disk errors by code (the sync
 * agent's DiskError status) sees the same code as before.
 */
export class StorageFailureError extends Error {
  readonly kind: StorageFailureKind;
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageFailureError';
    this.code = code;
    this.kind = FAILURE_KINDS[code] ?? 'io';
  }
}

/** The string `code` of an error (an operating-system errno code, a driver's code), if it has one. */
export function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** An operating-system error of a full, read-only or failing medium as a StorageFailureError; anything else unchanged. */
export function asStorageFailure(err: unknown): unknown {
  if (err instanceof StorageFailureError) return err;
  const code = errorCode(err);
  if (code === undefined || FAILURE_KINDS[code] === undefined) return err;
  return new StorageFailureError(code, err instanceof Error ? err.message : `storage failed: ${code}`, { cause: err });
}

/** No committed blob has this digest (BLOB_UNKNOWN). */
export class BlobUnknownError extends RegistryError {
  constructor(readonly digest: string) {
    super('BLOB_UNKNOWN', undefined, { digest });
    this.name = 'BlobUnknownError';
  }
}

/** The content's digest is not the one expected (DIGEST_INVALID); nothing was published. */
export class DigestMismatchError extends RegistryError {
  constructor(readonly expected: string, readonly actual: string, size?: number) {
    super('DIGEST_INVALID', undefined, { expected, actual, ...(size !== undefined ? { size } : {}) });
    this.name = 'DigestMismatchError';
  }
}

/** The content is longer or shorter than the size expected (SIZE_INVALID); nothing was published. */
export class SizeMismatchError extends RegistryError {
  constructor(message: string, detail: { digest: string; expectedSize: number; size?: number }) {
    super('SIZE_INVALID', message, detail);
    this.name = 'SizeMismatchError';
  }
}

/** No upload session has this id (BLOB_UPLOAD_UNKNOWN). */
export class UploadUnknownError extends RegistryError {
  constructor(id: string) {
    super('BLOB_UPLOAD_UNKNOWN', undefined, { id: id.slice(0, 100) });
    this.name = 'UploadUnknownError';
  }
}

/** Where an upload session stands, as a refused chunk reports it. */
export interface UploadPosition {
  id: string;
  repository: string;
  /** Bytes the session holds. */
  size: number;
}

/**
 * A chunk that does not continue an upload session where it ends (RANGE_INVALID). It carries
 * the session's position, so the client can be told where to resume (the HTTP edge answers
 * 416 with `Range` and `Location`).
 */
export class UploadRangeError extends RegistryError {
  constructor(message: string, readonly upload: UploadPosition, detail: unknown) {
    super('RANGE_INVALID', message, detail);
    this.name = 'UploadRangeError';
  }
}

/** A caller already holds as many open upload sessions as it may (TOOMANYREQUESTS). */
export class UploadLimitError extends RegistryError {
  constructor(open: number, limit: number) {
    super('TOOMANYREQUESTS',
      `too many open upload sessions: this caller has ${open}, the limit is ${limit}; complete or cancel some (abandoned ones are removed after an hour untouched)`,
      { openSessions: open, limit });
    this.name = 'UploadLimitError';
  }
}

/** A storage driver spec (`filesystem`, `memory`, later `azblob://…`) no driver takes: an unknown name, or a location the driver does not use. */
export class StorageDriverSpecError extends Error {
  readonly code = 'STORAGE_DRIVER_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'StorageDriverSpecError';
  }
}
