import type { OutgoingHttpHeaders } from 'node:http';
import { RegistryError, parseDigest } from '../oci/index.js';
import type { V2Context } from './context.js';
import type { V2Route } from './route.js';
import { parseRangeHeader, type ByteRange } from './http-util.js';
import { actorOfCaller } from './registry-writer.js';
import { writeRequestOf } from './write-request.js';

type BlobRoute = Extract<V2Route, { kind: 'blob' }>;

/** GET and HEAD of a blob, with single byte ranges (206) and 416 when unsatisfiable. */
export async function getBlob(ctx: V2Context<BlobRoute>): Promise<void> {
  const { route, deps, request, reply } = ctx;
  parseDigest(route.digest);
  const unknown = (): RegistryError => new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: route.digest });
  if (!(await deps.metadata.getBlobLink(route.name, route.digest))) throw unknown();
  if (request.method === 'HEAD') {
    // A client looking whether a blob is here is about to push a manifest naming it: the link's
    // grace period starts over, so garbage collection leaves it for that push. Best effort: a
    // read still answers on a disk that takes no writes (the protection is then only shorter).
    await deps.writer.touchBlobLink(route.name, route.digest).catch((err: unknown) =>
      deps.logger.debug({ err, digest: route.digest }, 'refreshing a blob link after a HEAD failed'));
    const stat = await deps.blobs.stat(route.digest);
    if (!stat) throw unknown();
    setBlobHeaders(ctx, stat.size);
    await reply.send();
    return;
  }
  // A GET opens the file once: the handle gives the size (no separate stat on the hot path).
  const file = await deps.blobs.openForRead(route.digest);
  let range: ByteRange | null;
  try {
    range = setBlobHeaders(ctx, file.size);
  } catch (err) {
    await file.close();
    throw err;
  }
  if (file.size === 0) {
    await file.close();
    await reply.send();
    return;
  }
  // From here the handler owns the socket: headers are final and the body is streamed by hand.
  reply.hijack();
  reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  const complete = await deps.blobSender.send(file, reply.raw, range?.start ?? 0, range?.end ?? file.size - 1);
  if (!complete) deps.logger.debug({ digest: route.digest }, 'blob download interrupted');
}

/** Status and headers of a blob answer of `size` bytes; returns the requested range (RANGE_INVALID when unsatisfiable). */
function setBlobHeaders(ctx: V2Context<BlobRoute>, size: number): ByteRange | null {
  const { route, request, reply } = ctx;
  const range = parseRangeHeader(request.headers.range, size);
  reply.header('Docker-Content-Digest', route.digest);
  reply.header('ETag', `"${route.digest}"`);
  reply.header('Accept-Ranges', 'bytes');
  reply.header('Cache-Control', 'max-age=31536000');
  reply.header('Content-Type', 'application/octet-stream');
  if (range) {
    reply.code(206);
    reply.header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    reply.header('Content-Length', range.end - range.start + 1);
  } else {
    reply.code(200);
    reply.header('Content-Length', size);
  }
  return range;
}

/**
 * DELETE of a blob: removes the repository's link; the bytes go at the next garbage collection.
 * A blob a manifest of the repository uses is refused (405 BLOB_REFERENCED).
 */
export async function deleteBlob(ctx: V2Context<BlobRoute>): Promise<void> {
  const { route, deps, reply } = ctx;
  parseDigest(route.digest);
  const unlinked = await deps.writer.unlinkBlob(actorOfCaller(ctx.access.caller), route.name, route.digest, writeRequestOf(ctx.request));
  if (!unlinked) throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: route.digest });
  await reply.code(202).header('Content-Length', 0).send();
}
