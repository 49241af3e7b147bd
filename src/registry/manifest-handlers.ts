import { RegistryError, MAX_MANIFEST_BYTES } from '../oci/index.js';
import type { V2Context } from './context.js';
import type { V2Route } from './route.js';
import { readBody } from './http-util.js';
import { accepts } from './manifest-service.js';
import { actorOfCaller } from './registry-writer.js';

type ManifestRoute = Extract<V2Route, { kind: 'manifest' }>;

/** GET and HEAD of a manifest by tag or digest, with content negotiation on `Accept`. */
export async function getManifest(ctx: V2Context<ManifestRoute>): Promise<void> {
  const { route, deps, request, reply } = ctx;
  const { record, body } = await deps.manifests.get(route.name, route.reference);
  if (!accepts(request.headers.accept, record.mediaType)) {
    throw new RegistryError('MANIFEST_UNKNOWN', `the manifest is ${record.mediaType}, which the Accept header does not list`, {
      mediaType: record.mediaType,
    });
  }
  reply
    .code(200)
    .header('Content-Type', record.mediaType)
    .header('Content-Length', body.length)
    .header('Docker-Content-Digest', record.digest)
    .header('ETag', `"${record.digest}"`);
  await reply.send(request.method === 'HEAD' ? undefined : body);
}

/** PUT of a manifest by tag or digest. */
export async function putManifest(ctx: V2Context<ManifestRoute>): Promise<void> {
  const { route, deps, request, reply } = ctx;
  const body = await readBody(request.raw, MAX_MANIFEST_BYTES, () =>
    new RegistryError('MANIFEST_TOO_LARGE', `manifests are limited to ${MAX_MANIFEST_BYTES} bytes`),
  );
  const result = await deps.manifests.put(route.name, route.reference, body, request.headers['content-type'], actorOfCaller(ctx.access.caller));
  reply
    .code(201)
    .header('Location', `/v2/${route.name}/manifests/${result.digest}`)
    .header('Docker-Content-Digest', result.digest)
    .header('Content-Length', 0);
  if (result.subject) reply.header('OCI-Subject', result.subject);
  await reply.send();
}

/** DELETE of a tag, or of a manifest (with its tags) by digest; a child an index lists is refused (405 MANIFEST_REFERENCED). */
export async function deleteManifest(ctx: V2Context<ManifestRoute>): Promise<void> {
  await ctx.deps.manifests.delete(ctx.route.name, ctx.route.reference, actorOfCaller(ctx.access.caller));
  await ctx.reply.code(202).header('Content-Length', 0).send();
}
