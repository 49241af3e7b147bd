import type { FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Logger } from 'pino';
import { RegistryError, errorBody, isRegistryError, type ErrorCode } from '../oci/index.js';
import { asStorageFailure, StorageFailureError, type StorageFailureKind } from '../storage/driver.js';

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
 * that reached here unwrapped, and SQLite's codes for the same conditions (the metadata
 * database shares the disk); null for anything else.
 */
function storageFailureKind(err: unknown, code: string): StorageFailureKind | null {
  if (code === 'SQLITE_FULL') return 'full';
  if (code.startsWith('SQLITE_READONLY')) return 'read-only';
  if (code.startsWith('SQLITE_IOERR')) return 'io';
  const failure = asStorageFailure(err);
  return failure instanceof StorageFailureError ? failure.kind : null;
}

/** Turns any thrown value into a RegistryError: known client errors keep a 4xx, storage failures their STORAGE_* code, the rest is INTERNAL. */
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

/** The one serializer of errors: OCI error JSON with the code's status (no body for HEAD). */
export async function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown, logger: Logger): Promise<void> {
  const error = toRegistryError(err, logger);
  if (reply.sent || reply.raw.headersSent) {
    // Too late for a proper answer (a stream failed mid-body): end the connection so the client sees a failure, not a short body.
    reply.raw.destroy();
    return;
  }
  reply.code(error.status).headers(error.headers);
  if (request.method === 'HEAD') {
    await reply.header('Content-Length', 0).send();
    return;
  }
  await reply.type('application/json').send(JSON.stringify(errorBody(error)));
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

/**
 * The same OCI error JSON as a whole HTTP/1.1 response, for a socket that has no response
 * object (parser errors). It always closes the connection: after such an error the rest of the
 * byte stream cannot be trusted to start a new request.
 */
export function rawErrorResponse(error: RegistryError): string {
  const body = JSON.stringify(errorBody(error));
  const headers: Record<string, string | number> = {
    ...error.headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}
