import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WRITE_ACTIONS, type RepositoryAccess } from '../auth/index.js';
import type { RegistryDeps, V2Context, V2Handler } from './context.js';
import { parseV2Path, requiredAction, type V2RouteKind, type V2RouteOf } from './route.js';
import { sendError } from './errors-reply.js';
import { MethodNotAllowedError } from './http-util.js';
import { BlobSender } from './blob-sender.js';
import { getBlob, deleteBlob } from './blob-handlers.js';
import { startUpload, patchUpload, completeUpload, uploadStatus, cancelUpload } from './upload-handlers.js';
import { getManifest, putManifest, deleteManifest } from './manifest-handlers.js';
import { listTags, listCatalog, listReferrers } from './listing-handlers.js';

/** For each kind of route, its handlers by method: each handler takes the route of its own kind. */
type HandlerTable = { [K in V2RouteKind]: Partial<Record<string, V2Handler<V2RouteOf<K>>>> };

/** Which handler serves a method on a kind of route; anything absent is 405. */
export const HANDLERS: HandlerTable = {
  base: { GET: base, HEAD: base },
  catalog: { GET: listCatalog },
  tags: { GET: listTags },
  manifest: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest },
  blob: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob },
  'upload-start': { POST: startUpload },
  upload: { GET: uploadStatus, PATCH: patchUpload, PUT: completeUpload, DELETE: cancelUpload },
  referrers: { GET: listReferrers },
};

/**
 * The handler of `method` on `route`, bound to the route (null when the route's kind has none).
 * Generic over the kind, so the table's handler and the route stay of the same kind.
 */
function handlerFor<K extends V2RouteKind>(route: V2RouteOf<K>, method: string): ((ctx: Omit<V2Context, 'route'>) => Promise<void>) | null {
  const handler = HANDLERS[route.kind][method];
  return handler ? (ctx) => handler({ ...ctx, route }) : null;
}

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
    const handler = handlerFor(route, request.method);
    if (!handler) throw new MethodNotAllowedError(request.method, Object.keys(HANDLERS[route.kind]));
    const repository = 'name' in route ? route.name : null;
    const action = requiredAction(route, request.method);
    const access = deps.authorize ? await deps.authorize(request, repository, action) : OPEN_ACCESS;
    // The node's own rule about writes comes after the caller's permissions (a refused client learns nothing first).
    if (repository !== null && action !== null && WRITE_ACTIONS.has(action)) deps.writeRule?.checkWrite(repository, action);
    await handler({ request, reply, query, deps, access });
  } catch (err) {
    await sendError(request, reply, err, deps.logger);
  }
}
