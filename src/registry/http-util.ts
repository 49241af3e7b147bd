import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { RegistryError } from '../oci/index.js';

/** A method the route does not take (405); the answer lists the ones it does in `Allow`. */
export class MethodNotAllowedError extends RegistryError {
  constructor(method: string, readonly allowed: readonly string[]) {
    super('METHOD_NOT_ALLOWED', `${method} is not allowed here`);
    this.name = 'MethodNotAllowedError';
  }
}

/** A `Range` a blob of `size` bytes cannot satisfy (416); the answer names the size in `Content-Range`. */
export class BlobRangeError extends RegistryError {
  constructor(message: string, readonly size: number, detail: unknown) {
    super('RANGE_INVALID', message, detail);
    this.name = 'BlobRangeError';
  }
}

/** A request whose framing cannot be trusted (REQUEST_INVALID): its answer closes the connection, which may hold more of it. */
export class UntrustedRequestError extends RegistryError {
  constructor(message: string, detail: unknown) {
    super('REQUEST_INVALID', message, detail);
    this.name = 'UntrustedRequestError';
  }
}

/** Where an upload session lives (its `Location`). */
export function uploadLocation(repository: string, id: string): string {
  return `/v2/${repository}/blobs/uploads/${id}`;
}

/** The spec's `Range` of an upload session holding `size` bytes: `0-<last byte>`, and `0-0` when empty (as distribution answers). */
export function uploadRange(size: number): string {
  return `0-${Math.max(0, size - 1)}`;
}

/** A satisfiable byte range, `end` inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses a single `Range: bytes=…` header against a blob of `size` bytes. Returns null when there
 * is no header. Throws BlobRangeError (RANGE_INVALID) for a malformed, multi-part or
 * unsatisfiable range.
 */
export function parseRangeHeader(header: string | undefined, size: number): ByteRange | null {
  if (header === undefined) return null;
  const unsatisfiable = (why: string): RegistryError => new BlobRangeError(why, size, { range: header.slice(0, 100), size });
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) throw unsatisfiable('only a single range of the form bytes=start-end is supported');
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') throw unsatisfiable('empty range');
  let start: number;
  let end: number;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) throw unsatisfiable('empty suffix range');
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== '' && Number(last) < start) throw unsatisfiable('range end before start');
  }
  if (!Number.isSafeInteger(start) || start >= size || end < start) throw unsatisfiable('range not satisfiable');
  return { start, end };
}

/**
 * Parses an upload `Content-Range: <start>-<end>` header (the spec's form, without `bytes`; a
 * `bytes ` prefix is tolerated). Returns null when absent; throws RANGE_INVALID when malformed.
 */
export function parseUploadContentRange(header: string | undefined): ByteRange | null {
  if (header === undefined) return null;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) throw new RegistryError('RANGE_INVALID', 'malformed Content-Range', { contentRange: header.slice(0, 100) });
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw new RegistryError('RANGE_INVALID', 'Content-Range end before start', { contentRange: header });
  return { start, end };
}

/** Reads a request body into memory, refusing more than `limit` bytes with `tooLarge`. For manifests only. */
export async function readBody(request: IncomingMessage, limit: number, tooLarge: () => RegistryError): Promise<Buffer> {
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    request.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      request.resume();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/** `n` and `last` of a paginated list. `n` absent means "all" up to `maxPage`. */
export function parsePagination(query: URLSearchParams, maxPage: number): { limit: number; last: string | undefined } {
  const n = query.get('n');
  const last = query.get('last') ?? undefined;
  if (n === null || n === '') return { limit: maxPage, last };
  if (!/^\d+$/.test(n)) throw new RegistryError('PAGINATION_INVALID', 'n must be a non-negative integer', { n: n.slice(0, 50) });
  return { limit: Math.min(Number(n), maxPage), last };
}

/**
 * Makes a plugin parse `application/json` bodies itself (whatever other plugins registered):
 * an empty body is `{}`, malformed JSON is 400 REQUEST_INVALID in the OCI error format.
 */
export function useJsonBodies(api: FastifyInstance): void {
  api.removeAllContentTypeParsers();
  api.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new RegistryError('REQUEST_INVALID', 'body is not valid JSON'), undefined);
    }
  });
}
