import type { Logger } from 'pino';
import { RegistryError, errorBody, isRegistryError, type ErrorBody, type ErrorCode } from '../oci/index.js';
import { asStorageFailure, StorageFailureError, UploadRangeError, type StorageFailureKind } from '../storage/errors.js';
import { ThrottledError, UnauthorizedError, type Challenge } from '../auth/index.js';
import { BlobRangeError, MethodNotAllowedError, UntrustedRequestError, uploadLocation, uploadRange } from './http-util.js';

/*
 * The one place where errors become HTTP (docs/errors.md): every layer throws domain errors —
 * RegistryErrors of the one code table, some with typed fields (storage's UploadRangeError,
 * auth's UnauthorizedError), storage failures, or anything unexpected — and this module decides
 * the answer: the OCI error JSON, the status of the code and the headers some answers need.
 */

/** The HTTP status of every code. */
const HTTP_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 404,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 415,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  MANIFEST_TOO_LARGE: 413,
  PAGINATION_INVALID: 400,
  METHOD_NOT_ALLOWED: 405,
  NOT_FOUND: 404,
  REQUEST_INVALID: 400,
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
  CONFLICT: 409,
  ALREADY_ACTIVATED: 409,
  RESYNC_REQUIRED: 410,
  // 405: the spec's answers to a blob DELETE are 202, 404 and 405; a referenced one is not deletable now.
  BLOB_REFERENCED: 405,
  MANIFEST_REFERENCED: 405,
  STORAGE_FULL: 507,
  STORAGE_READ_ONLY: 503,
  STORAGE_IO_ERROR: 500,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const satisfies Record<ErrorCode, number>;

/** An error as an HTTP answer. */
export interface HttpError {
  error: RegistryError;
  status: number;
  headers: Record<string, string>;
  body: ErrorBody;
}

/** Fastify's own errors that are the client's fault, by their stable code. */
const CLIENT_ERRORS: Record<string, RegistryError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: new RegistryError('SIZE_INVALID', 'request body too large'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: new RegistryError('SIZE_INVALID', 'Content-Length does not match the body'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: new RegistryError('UNSUPPORTED', 'unsupported media type'),
  FST_ERR_CTP_EMPTY_JSON_BODY: new RegistryError('REQUEST_INVALID', 'empty JSON body'),
  FST_ERR_CTP_INVALID_JSON_BODY: new RegistryError('REQUEST_INVALID', 'body is not valid JSON'),
  FST_ERR_BAD_URL: new RegistryError('REQUEST_INVALID', 'malformed URL'),
  ERR_STREAM_PREMATURE_CLOSE: new RegistryError('BLOB_UPLOAD_INVALID', 'the client closed the request early'),
  ECONNRESET: new RegistryError('BLOB_UPLOAD_INVALID', 'the client closed the request early'),
};

/** What a client is told when the disk fails under its request: the medium's state, never an anonymous INTERNAL. */
const STORAGE_ERRORS: Record<StorageFailureKind, ErrorCode> = {
  full: 'STORAGE_FULL',
  'read-only': 'STORAGE_READ_ONLY',
  io: 'STORAGE_IO_ERROR',
};

/**
 * How the medium failed, for the storage layer's StorageFailureError, an operating-system error
 * that reached here unwrapped (a read stream's), and SQLite's codes for the same conditions (the
 * metadata database shares the disk); null for anything else.
 */
function storageFailureKind(err: unknown, code: string): StorageFailureKind | null {
  if (code === 'SQLITE_FULL') return 'full';
  if (code.startsWith('SQLITE_READONLY')) return 'read-only';
  if (code.startsWith('SQLITE_IOERR')) return 'io';
  const failure = asStorageFailure(err);
  return failure instanceof StorageFailureError ? failure.kind : null;
}

/** Turns any thrown value into a RegistryError: known client errors keep a 4xx, storage failures their STORAGE_* code, the rest is INTERNAL (logged). */
export function toRegistryError(err: unknown, logger: Logger): RegistryError {
  if (isRegistryError(err)) return err;
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const known = CLIENT_ERRORS[code];
  if (known) return known;
  const storage = storageFailureKind(err, code);
  if (storage !== null) {
    // The operator needs to act (free space, remount, replace a disk): always logged.
    logger[storage === 'io' ? 'error' : 'warn']({ err }, `storage failure: ${storage}`);
    return new RegistryError(STORAGE_ERRORS[storage], undefined, { cause: code });
  }
  const status = typeof err === 'object' && err !== null && 'statusCode' in err ? Number((err as { statusCode: unknown }).statusCode) : 500;
  if (status >= 400 && status < 500) return new RegistryError('REQUEST_INVALID', err instanceof Error ? err.message : 'bad request');
  logger.error({ err }, 'internal error');
  return new RegistryError('INTERNAL', 'internal error');
}

/**
 * Node's HTTP parser errors (the server's `clientError` event), by their stable code. They happen
 * before a request reaches a route, so nothing else maps them.
 */
const PARSER_ERRORS: Record<string, RegistryError> = {
  ERR_HTTP_REQUEST_TIMEOUT: new RegistryError('REQUEST_TIMEOUT', 'the request headers did not arrive in time'),
  HPE_HEADER_OVERFLOW: new RegistryError('HEADERS_TOO_LARGE', 'the request headers are too large'),
  HPE_INVALID_CONTENT_LENGTH: new RegistryError('REQUEST_INVALID', 'invalid Content-Length header'),
  HPE_UNEXPECTED_CONTENT_LENGTH: new RegistryError('REQUEST_INVALID', 'Content-Length and Transfer-Encoding in one request'),
  HPE_INVALID_TRANSFER_ENCODING: new RegistryError('REQUEST_INVALID', 'invalid Transfer-Encoding header'),
  HPE_INVALID_CHUNK_SIZE: new RegistryError('REQUEST_INVALID', 'malformed chunked encoding'),
  HPE_CHUNK_EXTENSIONS_OVERFLOW: new RegistryError('REQUEST_INVALID', 'malformed chunked encoding'),
  HPE_INVALID_HEADER_TOKEN: new RegistryError('REQUEST_INVALID', 'malformed header'),
  HPE_INVALID_METHOD: new RegistryError('REQUEST_INVALID', 'malformed request line'),
  HPE_INVALID_URL: new RegistryError('REQUEST_INVALID', 'malformed request target'),
  HPE_INVALID_VERSION: new RegistryError('REQUEST_INVALID', 'unsupported HTTP version'),
};

/** What a parser-level error (Node's `clientError`) answers: REQUEST_INVALID unless it is a known timeout or size error. */
export function parserErrorOf(err: unknown): RegistryError {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  return PARSER_ERRORS[code] ?? new RegistryError('REQUEST_INVALID', 'malformed HTTP request');
}

/** The HTTP status of a code. */
export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code];
}

/** The `WWW-Authenticate` value of a challenge. */
export function challengeHeader(challenge: Challenge): string {
  if (challenge.scheme === 'Basic') return `Basic realm="${challenge.realm}"`;
  const scope = challenge.scope !== null ? `,scope="${challenge.scope}"` : '';
  return `Bearer realm="${challenge.realm}",service="${challenge.service}"${scope}`;
}

/**
 * The headers an error's answer needs besides its body:
 * - `WWW-Authenticate` on a 401 with a challenge (auth chooses it per request);
 * - `Retry-After` when the throttle says when to come back;
 * - `Range` (what the session holds; `0-0` when empty, as distribution and zot answer, which
 *   clients read as "start from 0") and `Location` on a 416 for an upload chunk;
 * - `Content-Range: bytes *\/<size>` on a 416 for a blob download, as RFC 9110 asks;
 * - `Allow` on a 405: the route's methods, or GET and HEAD for a blob or manifest that something
 *   still uses (RFC 9110 wants a 405 to list what the resource allows now);
 * - `Connection: close` for a request whose framing cannot be trusted.
 */
export function errorHeaders(error: RegistryError): Record<string, string> {
  if (error instanceof UnauthorizedError) return { 'WWW-Authenticate': challengeHeader(error.challenge) };
  if (error instanceof ThrottledError) return { 'Retry-After': String(error.retryAfterSeconds) };
  if (error instanceof UploadRangeError) {
    return { Range: uploadRange(error.upload.size), Location: uploadLocation(error.upload.repository, error.upload.id) };
  }
  if (error instanceof BlobRangeError) return { 'Content-Range': `bytes */${error.size}` };
  if (error instanceof MethodNotAllowedError) return { Allow: error.allowed.join(', ') };
  if (error.code === 'BLOB_REFERENCED' || error.code === 'MANIFEST_REFERENCED') return { Allow: 'GET, HEAD' };
  if (error instanceof UntrustedRequestError) return { Connection: 'close' };
  return {};
}

/** Any thrown value as the HTTP answer it gets: the OCI error JSON, the code's status and the headers the error needs. */
export function httpErrorOf(err: unknown, logger: Logger): HttpError {
  const error = toRegistryError(err, logger);
  return { error, status: httpStatusOf(error.code), headers: errorHeaders(error), body: errorBody(error) };
}
