import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ERROR_CODES, RegistryError, type ErrorCode } from '../../src/oci/errors.js';
import {
  BlobUnknownError, DigestMismatchError, InvalidPathError, PathNotFoundError, SizeMismatchError, StorageFailureError, UploadLimitError,
  UploadRangeError, UploadUnknownError,
} from '../../src/storage/errors.js';
import { BASIC_CHALLENGE, ThrottledError, UnauthorizedError, withBasicChallenge, withChallenge } from '../../src/auth/index.js';
import { httpErrorOf, httpStatusOf, parserErrorOf } from '../../src/registry/error-mapping.js';
import { BlobRangeError, MethodNotAllowedError, UntrustedRequestError } from '../../src/registry/http-util.js';
import { rawErrorResponse } from '../../src/registry/errors-reply.js';

/**
 * The one place errors become HTTP (docs/errors.md): every code's status, and for each domain
 * error the headers its answer carries — nothing else adds headers to an error answer.
 */
const logger = pino({ level: 'silent' });

const STATUS: Record<ErrorCode, number> = {
  BLOB_UNKNOWN: 404, BLOB_UPLOAD_INVALID: 400, BLOB_UPLOAD_UNKNOWN: 404, DIGEST_INVALID: 400, MANIFEST_BLOB_UNKNOWN: 404,
  MANIFEST_INVALID: 400, MANIFEST_UNKNOWN: 404, NAME_INVALID: 400, NAME_UNKNOWN: 404, SIZE_INVALID: 400, UNAUTHORIZED: 401,
  DENIED: 403, UNSUPPORTED: 415, TOOMANYREQUESTS: 429, RANGE_INVALID: 416, MANIFEST_TOO_LARGE: 413, PAGINATION_INVALID: 400,
  METHOD_NOT_ALLOWED: 405, NOT_FOUND: 404, REQUEST_INVALID: 400, REQUEST_TIMEOUT: 408, HEADERS_TOO_LARGE: 431, CONFLICT: 409,
  ALREADY_ACTIVATED: 409, RESYNC_REQUIRED: 410, BLOB_REFERENCED: 405, MANIFEST_REFERENCED: 405, STORAGE_FULL: 507,
  STORAGE_READ_ONLY: 503, STORAGE_IO_ERROR: 500, INTERNAL: 500, UNAVAILABLE: 503,
};

/** What an error is answered with: its code, status and headers. */
function answer(err: unknown): { code: string; status: number; headers: Record<string, string> } {
  const http = httpErrorOf(err, logger);
  return { code: http.error.code, status: http.status, headers: http.headers };
}

describe('error mapping: the status of every code', () => {
  it('every code of the table has its status, and a plain RegistryError no header', () => {
    assert.deepEqual(Object.keys(STATUS).sort(), Object.keys(ERROR_CODES).sort());
    for (const [code, status] of Object.entries(STATUS) as Array<[ErrorCode, number]>) {
      assert.equal(httpStatusOf(code), status, code);
      if (code === 'BLOB_REFERENCED' || code === 'MANIFEST_REFERENCED') continue;
      assert.deepEqual(answer(new RegistryError(code)), { code, status, headers: {} }, code);
    }
  });

  it('the body is the OCI error JSON of the error', () => {
    const http = httpErrorOf(new RegistryError('NAME_UNKNOWN', 'no such repository', { name: 'x' }), logger);
    assert.deepEqual(http.body, { errors: [{ code: 'NAME_UNKNOWN', message: 'no such repository', detail: { name: 'x' } }] });
  });
});

describe('error mapping: storage errors', () => {
  it('content errors keep their code, with no header', () => {
    assert.deepEqual(answer(new BlobUnknownError('sha256:abc')), { code: 'BLOB_UNKNOWN', status: 404, headers: {} });
    assert.deepEqual(answer(new DigestMismatchError('sha256:a', 'sha256:b')), { code: 'DIGEST_INVALID', status: 400, headers: {} });
    assert.deepEqual(answer(new SizeMismatchError('short', { digest: 'sha256:a', expectedSize: 3, size: 2 })), { code: 'SIZE_INVALID', status: 400, headers: {} });
    assert.deepEqual(answer(new UploadUnknownError('id')), { code: 'BLOB_UPLOAD_UNKNOWN', status: 404, headers: {} });
    assert.deepEqual(answer(new UploadLimitError(3, 3)), { code: 'TOOMANYREQUESTS', status: 429, headers: {} });
  });

  it('a chunk at the wrong offset is 416 with the Range the session holds and its Location', () => {
    const at = (size: number) => answer(new UploadRangeError('no', { id: 'u-1', repository: 'team/app', size }, null));
    assert.deepEqual(at(0), { code: 'RANGE_INVALID', status: 416, headers: { Range: '0-0', Location: '/v2/team/app/blobs/uploads/u-1' } });
    assert.deepEqual(at(4).headers, { Range: '0-3', Location: '/v2/team/app/blobs/uploads/u-1' });
  });

  it('a failing medium is STORAGE_* by kind; a driver error that should never reach a client is INTERNAL', () => {
    assert.deepEqual(answer(new StorageFailureError('ENOSPC', 'full')), { code: 'STORAGE_FULL', status: 507, headers: {} });
    assert.deepEqual(answer(new StorageFailureError('EROFS', 'ro')), { code: 'STORAGE_READ_ONLY', status: 503, headers: {} });
    assert.deepEqual(answer(new StorageFailureError('EIO', 'io')), { code: 'STORAGE_IO_ERROR', status: 500, headers: {} });
    assert.deepEqual(answer(new PathNotFoundError('blobs/x')), { code: 'INTERNAL', status: 500, headers: {} });
    assert.deepEqual(answer(new InvalidPathError('../x')), { code: 'INTERNAL', status: 500, headers: {} });
  });
});

describe('error mapping: auth and /v2 errors with headers', () => {
  it('a 401 carries the challenge auth chose for the request', () => {
    assert.deepEqual(answer(withBasicChallenge(new RegistryError('UNAUTHORIZED', 'who?'))),
      { code: 'UNAUTHORIZED', status: 401, headers: { 'WWW-Authenticate': 'Basic realm="outpost"' } });
    const bearer = { scheme: 'Bearer', realm: 'http://h:1/oauth2/token', service: 'h:1' } as const;
    assert.deepEqual(answer(withChallenge(new RegistryError('UNAUTHORIZED'), { ...bearer, scope: 'repository:a:pull' })).headers,
      { 'WWW-Authenticate': 'Bearer realm="http://h:1/oauth2/token",service="h:1",scope="repository:a:pull"' });
    assert.deepEqual(answer(new UnauthorizedError('who?', null, { ...bearer, scope: null })).headers,
      { 'WWW-Authenticate': 'Bearer realm="http://h:1/oauth2/token",service="h:1"' });
    const denied = new RegistryError('DENIED');
    assert.equal(withChallenge(denied, BASIC_CHALLENGE), denied, 'only UNAUTHORIZED gets a challenge');
    assert.deepEqual(answer(new RegistryError('UNAUTHORIZED')).headers, {}, 'no challenge chosen, none sent');
  });

  it('the throttle says when to come back', () => {
    assert.deepEqual(answer(new ThrottledError('slow down', 4)), { code: 'TOOMANYREQUESTS', status: 429, headers: { 'Retry-After': '4' } });
  });

  it('a 405 lists what is allowed: the route\'s methods, or GET and HEAD for what is still used', () => {
    assert.deepEqual(answer(new MethodNotAllowedError('POST', ['GET', 'HEAD', 'DELETE'])),
      { code: 'METHOD_NOT_ALLOWED', status: 405, headers: { Allow: 'GET, HEAD, DELETE' } });
    for (const code of ['BLOB_REFERENCED', 'MANIFEST_REFERENCED'] as const) {
      assert.deepEqual(answer(new RegistryError(code, 'in use', { digest: 'sha256:a' })), { code, status: 405, headers: { Allow: 'GET, HEAD' } });
    }
  });

  it('an unsatisfiable blob range names the size; an untrusted request closes the connection', () => {
    assert.deepEqual(answer(new BlobRangeError('no', 16, null)), { code: 'RANGE_INVALID', status: 416, headers: { 'Content-Range': 'bytes */16' } });
    assert.deepEqual(answer(new UntrustedRequestError('two Host headers', null)), { code: 'REQUEST_INVALID', status: 400, headers: { Connection: 'close' } });
  });
});

describe('error mapping: what is not a RegistryError', () => {
  it('fastify client errors, SQLite failures and bugs', () => {
    const coded = (code: string, extra: object = {}): Error => Object.assign(new Error(code), { code, ...extra });
    assert.deepEqual(answer(coded('FST_ERR_CTP_BODY_TOO_LARGE')), { code: 'SIZE_INVALID', status: 400, headers: {} });
    assert.deepEqual(answer(coded('ECONNRESET')), { code: 'BLOB_UPLOAD_INVALID', status: 400, headers: {} });
    assert.deepEqual(answer(coded('SQLITE_READONLY_DBMOVED')), { code: 'STORAGE_READ_ONLY', status: 503, headers: {} });
    assert.deepEqual(answer(coded('FST_SOMETHING_ELSE', { statusCode: 400 })), { code: 'REQUEST_INVALID', status: 400, headers: {} });
    assert.deepEqual(answer(new Error('a bug')), { code: 'INTERNAL', status: 500, headers: {} });
  });

  it('parser errors, and their raw answer with the mapped status and headers', () => {
    assert.equal(parserErrorOf(Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW' })).code, 'HEADERS_TOO_LARGE');
    assert.equal(parserErrorOf(new Error('x')).code, 'REQUEST_INVALID');
    const raw = rawErrorResponse(new MethodNotAllowedError('PUT', ['GET']));
    assert.match(raw, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    assert.match(raw, /\r\nAllow: GET\r\n/);
    assert.match(raw, /\r\nConnection: close\r\n/);
  });
});
