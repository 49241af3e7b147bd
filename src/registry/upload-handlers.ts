import { RegistryError, parseDigest, assertRepositoryName } from '../oci/index.js';
import { UploadRangeError, UploadUnknownError, type UploadSession } from '../storage/index.js';
import type { V2Context } from './context.js';
import type { V2Route } from './route.js';
import { parseUploadContentRange, uploadLocation, uploadRange } from './http-util.js';
import { actorOfCaller } from './registry-writer.js';
import { writeRequestOf } from './write-request.js';

type StartRoute = Extract<V2Route, { kind: 'upload-start' }>;
type UploadRoute = Extract<V2Route, { kind: 'upload' }>;

async function replySession(ctx: V2Context, session: UploadSession, status: 202 | 204): Promise<void> {
  await ctx.reply
    .code(status)
    .header('Location', uploadLocation(session.repository, session.id))
    .header('Range', uploadRange(session.size))
    .header('Docker-Upload-UUID', session.id)
    .header('Content-Length', 0)
    .send();
}

async function replyCommitted(ctx: V2Context, name: string, digest: string): Promise<void> {
  await ctx.reply
    .code(201)
    .header('Location', `/v2/${name}/blobs/${digest}`)
    .header('Docker-Content-Digest', digest)
    .header('Content-Length', 0)
    .send();
}

/** Repositories holding a digest that a mount without `from` looks through, a page at a time, for one the caller may read. */
const MOUNT_SEARCH_LIMIT = 1000;
const MOUNT_SEARCH_PAGE = 100;

/**
 * Where a mount may take blob `digest` from: a repository the caller may read (content/read,
 * as the spec says: "a repository that the client has read access to") that links it — `from`,
 * or without `from` the first such repository by name among the first MOUNT_SEARCH_LIMIT
 * holding it. Null otherwise, whether or not an unreadable repository holds the digest, so the
 * caller learns nothing about repositories it may not read: it gets an ordinary session.
 */
async function mountSource(ctx: V2Context<StartRoute>, digest: string, from: string | null): Promise<{ size: number } | null> {
  const { access, deps } = ctx;
  if (from !== null) {
    assertRepositoryName(from);
    return access.canRead(from) ? deps.metadata.getBlobLink(from, digest) : null;
  }
  let last: string | undefined;
  for (let seen = 0; seen < MOUNT_SEARCH_LIMIT; seen += MOUNT_SEARCH_PAGE) {
    const page = await deps.metadata.blobLinksOf(digest, { limit: MOUNT_SEARCH_PAGE, ...(last !== undefined ? { last } : {}) });
    const readable = page.find((link) => access.canRead(link.repository));
    if (readable) return { size: readable.size };
    if (page.length < MOUNT_SEARCH_PAGE) return null;
    last = page[page.length - 1]!.repository;
  }
  return null;
}

/**
 * POST /blobs/uploads/: a cross-repository mount (`mount`, optional `from`), a monolithic upload
 * (`digest` with the body), or the start of a session (202). A mount of a blob that is not
 * available to the caller falls back to a new session, as the spec requires.
 */
export async function startUpload(ctx: V2Context<StartRoute>): Promise<void> {
  const { route, query, deps, request } = ctx;
  const mount = query.get('mount');
  const actor = actorOfCaller(ctx.access.caller);
  if (mount !== null) {
    parseDigest(mount);
    // Held from before the bytes are looked for until the link commits: garbage collection cannot
    // delete them in between (storage/blob-gate.ts).
    const mounted = await deps.gate.holding([mount], async () => {
      const source = await mountSource(ctx, mount, query.get('from'));
      if (!source || !(await deps.blobs.stat(mount))) return false;
      await deps.writer.linkBlob(actor, route.name, mount, source.size, writeRequestOf(ctx.request));
      return true;
    });
    if (mounted) {
      await replyCommitted(ctx, route.name, mount);
      return;
    }
  }
  const digest = query.get('digest');
  if (digest !== null) {
    parseDigest(digest);
    // Held across the store (which may find the bytes already there) and the link.
    const stored = await deps.gate.holding([digest], async () => {
      const put = await deps.blobs.put(request.raw, digest, declaredLength(ctx));
      await deps.writer.linkBlob(actor, route.name, put.digest, put.size, writeRequestOf(ctx.request));
      return put;
    });
    await replyCommitted(ctx, route.name, stored.digest);
    return;
  }
  // A POST without digest must not carry data; drain anything sent so the connection stays usable.
  request.raw.resume();
  // Owned by the caller: one identity can hold only so many open sessions (TOOMANYREQUESTS past that).
  const session = await deps.uploads.create(route.name, ctx.access.caller);
  await replySession(ctx, session, 202);
}

function declaredLength(ctx: V2Context): number | undefined {
  const header = ctx.request.headers['content-length'];
  return header === undefined ? undefined : Number(header);
}

/**
 * The session of an upload URL, which must name the session's own repository (authorization ran
 * for push on that repository, whatever the method, status GET included). A session of another
 * repository gets exactly the answer of an id that does not exist, so an id says nothing about
 * repositories the caller may not write.
 */
async function sessionOf(ctx: V2Context<UploadRoute>): Promise<UploadSession> {
  const session = await ctx.deps.uploads.get(ctx.route.id);
  if (session.repository !== ctx.route.name) throw new UploadUnknownError(ctx.route.id);
  return session;
}

/** PATCH: append a chunk. With Content-Range the chunk must start where the session ends (416 otherwise). */
export async function patchUpload(ctx: V2Context<UploadRoute>): Promise<void> {
  const session = await sessionOf(ctx);
  const range = parseUploadContentRange(ctx.request.headers['content-range']);
  const length = declaredLength(ctx);
  if (range && length !== undefined && range.end - range.start + 1 !== length) {
    ctx.request.raw.resume();
    throw new UploadRangeError('Content-Range does not match Content-Length', session, { contentRange: ctx.request.headers['content-range'], length });
  }
  const updated = await ctx.deps.uploads.append(session.id, ctx.request.raw, range?.start);
  await replySession(ctx, updated, 202);
}

/** PUT: the last (optional) chunk and the digest; commits the blob. */
export async function completeUpload(ctx: V2Context<UploadRoute>): Promise<void> {
  const session = await sessionOf(ctx);
  const digest = ctx.query.get('digest');
  if (digest === null) {
    ctx.request.raw.resume();
    throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
  }
  parseDigest(digest);
  const range = parseUploadContentRange(ctx.request.headers['content-range']);
  if (range && range.start !== session.size) {
    ctx.request.raw.resume();
    throw new UploadRangeError('chunk does not start where the upload ends', session, { expected: session.size, got: range.start });
  }
  const hasBody = (declaredLength(ctx) ?? 0) > 0 || ctx.request.headers['transfer-encoding'] !== undefined;
  // Held across the completion (which may find the bytes already there) and the link.
  const stored = await ctx.deps.gate.holding([digest], async () => {
    const done = await ctx.deps.uploads.complete(session.id, digest, hasBody ? ctx.request.raw : undefined);
    await ctx.deps.writer.linkBlob(actorOfCaller(ctx.access.caller), ctx.route.name, done.digest, done.size, writeRequestOf(ctx.request));
    return done;
  });
  await replyCommitted(ctx, ctx.route.name, stored.digest);
}

/** GET: where the session is (204 with Range and Location). */
export async function uploadStatus(ctx: V2Context<UploadRoute>): Promise<void> {
  await replySession(ctx, await sessionOf(ctx), 204);
}

/** DELETE: cancel the session. */
export async function cancelUpload(ctx: V2Context<UploadRoute>): Promise<void> {
  const session = await sessionOf(ctx);
  await ctx.deps.uploads.cancel(session.id);
  await ctx.reply.code(204).send();
}
