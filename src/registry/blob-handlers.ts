import type { OutgoingHttpHeaders } from 'node:http';
import { RegistryError, parseDigest } from '../oci/index.js';
import type { V2Context } from './context.js';
import type { V2Route } from './route.js';
import { parseRangeHeader } from './http-util.js';

type BlobRoute = Extract<V2Route, { kind: 'blob' }>;

/** GET and HEAD of a blob, with single byte ranges (206) and 416 when unsatisfiable. */
export async function getBlob(ctx: V2Context<BlobRoute>): Promise<void> {
  const { route, deps, request, reply } = ctx;
  parseDigest(route.digest);
  const link = await deps.metadata.getBlobLink(route.name, route.digest);
  const stat = link ? await deps.blobs.stat(route.digest) : null;
  if (!stat) throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: route.digest });
  const range = parseRangeHeader(request.headers.range, stat.size);
  reply.header('Docker-Content-Digest', route.digest);
  reply.header('ETag', `"${route.digest}"`);
  reply.header('Accept-Ranges', 'bytes');
  reply.header('Cache-Control', 'max-age=31536000');
  reply.header('Content-Type', 'application/octet-stream');
  if (range) {
    reply.code(206);
    reply.header('Content-Range', `bytes ${range.start}-${range.end}/${stat.size}`);
    reply.header('Content-Length', range.end - range.start + 1);
  } else {
    reply.code(200);
    reply.header('Content-Length', stat.size);
  }
  if (request.method === 'HEAD' || stat.size === 0) {
    await reply.send();
    return;
  }
  const file = await deps.blobs.openForRead(route.digest);
  // From here the handler owns the socket: headers are final and the body is streamed by hand.
  reply.hijack();
  reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  const complete = await deps.blobSender.send(file, reply.raw, range?.start ?? 0, range?.end ?? stat.size - 1);
  if (!complete) deps.logger.debug({ digest: route.digest }, 'blob download interrupted');
}

/** DELETE of a blob: removes the repository's link; the bytes go at the next garbage collection. */
export async function deleteBlob(ctx: V2Context<BlobRoute>): Promise<void> {
  const { route, deps, reply } = ctx;
  parseDigest(route.digest);
  if (!(await deps.metadata.unlinkBlob(route.name, route.digest))) {
    throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: route.digest });
  }
  await reply.code(202).header('Content-Length', 0).send();
}
