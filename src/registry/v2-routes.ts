import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/index.js';
import type { RegistryDeps, V2Context, RepositoryAccess } from './context.js';
import { parseV2Path, requiredAction, type V2Route } from './route.js';
import { sendError } from './errors-reply.js';
import { BlobSender } from './blob-sender.js';
import { getBlob, deleteBlob } from './blob-handlers.js';
import { startUpload, patchUpload, completeUpload, uploadStatus, cancelUpload } from './upload-handlers.js';
import { getManifest, putManifest, deleteManifest } from './manifest-handlers.js';
import { listTags, listCatalog, listReferrers } from './listing-handlers.js';

type Handler = (ctx: V2Context) => Promise<void>;

/** Which handler serves a method on a kind of route; anything absent is 405. */
export const HANDLERS: Record<V2Route['kind'], Partial<Record<string, Handler>>> = {
  base: { GET: base, HEAD: base },
  catalog: { GET: listCatalog as Handler },
  tags: { GET: listTags as Handler },
  manifest: { GET: getManifest as Handler, HEAD: getManifest as Handler, PUT: putManifest as Handler, DELETE: deleteManifest as Handler },
  blob: { GET: getBlob as Handler, HEAD: getBlob as Handler, DELETE: deleteBlob as Handler },
  'upload-start': { POST: startUpload as Handler },
  upload: { GET: uploadStatus as Handler, PATCH: patchUpload as Handler, PUT: completeUpload as Handler, DELETE: cancelUpload as Handler },
  referrers: { GET: listReferrers as Handler },
};

async function base(ctx: V2Context): Promise<void> {
  await ctx.reply.code(200).type('application/json').send('{}');
}

/** A node without an authorization seam (tests of the registry alone) lets everyone do everything. */
const OPEN_ACCESS: RepositoryAccess = { caller: 'anonymous:', canList: () => true, canRead: () => true };

/**
 * Registers the OCI Distribution API under /v2. One route takes every /v2 request: it parses
 * the path, validates the name, authorizes once, then dispatches by route kind and method.
 * Bodies are left unread for the handlers, which stream them (blobs) or read them bounded (manifests).
 */
export async function registerV2Routes(app: FastifyInstance, services: Omit<RegistryDeps, 'blobSender'>): Promise<void> {
  const deps: RegistryDeps = { ...services, blobSender: new BlobSender() };
  await app.register(async (v2) => {
    // Every body is the handler's to read, whatever its Content-Type (a text/plain blob included).
    v2.removeAllContentTypeParsers();
    v2.addContentTypeParser('*', (_request, _payload, done) => done(null));
    for (const url of ['/v2', '/v2/', '/v2/*']) {
      v2.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], url, handler: (request, reply) => handle(request, reply, deps) });
    }
  });
}

async function handle(request: FastifyRequest, reply: FastifyReply, deps: RegistryDeps): Promise<void> {
  reply.header('Docker-Distribution-API-Version', 'registry/2.0');
  try {
    const url = request.raw.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = (queryStart === -1 ? url : url.slice(0, queryStart)).slice('/v2/'.length);
    const query = new URLSearchParams(queryStart === -1 ? '' : url.slice(queryStart + 1));
    const route = parseV2Path(path);
    const handler = HANDLERS[route.kind][request.method];
    if (!handler) {
      throw new RegistryError('METHOD_NOT_ALLOWED', `${request.method} is not allowed here`, null, {
        Allow: Object.keys(HANDLERS[route.kind]).join(', '),
      });
    }
    const repository = 'name' in route ? route.name : null;
    const access = deps.authorize ? await deps.authorize(request, repository, requiredAction(route, request.method)) : OPEN_ACCESS;
    await handler({ request, reply, route, query, deps, access });
  } catch (err) {
    await sendError(request, reply, err, deps.logger);
  }
}
