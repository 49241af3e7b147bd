import { RegistryError, MediaType } from '../oci/index.js';
import type { V2Context } from './context.js';
import type { V2Route } from './route.js';
import { parsePagination } from './http-util.js';

/** The largest page served when a client gives no `n` (more follows through `Link`). */
const MAX_PAGE = 10_000;

function nextLink(path: string, last: string, n: number): string {
  return `<${path}?last=${encodeURIComponent(last)}&n=${n}>; rel="next"`;
}

/** GET tags/list with `n` and `last`, in lexical order, with a `Link` to the next page. */
export async function listTags(ctx: V2Context<Extract<V2Route, { kind: 'tags' }>>): Promise<void> {
  const { route, deps, query, reply } = ctx;
  const page = parsePagination(query, MAX_PAGE);
  // Fetch one more than asked to know whether a next page exists.
  const limit = page.limit === 0 ? 0 : page.limit + 1;
  const tags = await deps.metadata.listTags(route.name, { limit, ...(page.last !== undefined ? { last: page.last } : {}) });
  if (tags === null) throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name: route.name });
  const more = tags.length > page.limit;
  const shown = tags.slice(0, page.limit);
  if (more && shown.length > 0) reply.header('Link', nextLink(`/v2/${route.name}/tags/list`, shown[shown.length - 1]!, page.limit));
  await reply.code(200).send({ name: route.name, tags: shown });
}

/** GET /v2/_catalog with `n` and `last`; only repositories the caller may read are listed. */
export async function listCatalog(ctx: V2Context<Extract<V2Route, { kind: 'catalog' }>>): Promise<void> {
  const { deps, query, reply, access } = ctx;
  const page = parsePagination(query, MAX_PAGE);
  const shown: string[] = [];
  let cursor = page.last;
  let more = false;
  // Filtering may drop names, so read in batches until the page is full or the store runs out.
  while (page.limit > 0) {
    const batch = await deps.metadata.listRepositories({ limit: page.limit + 1, ...(cursor !== undefined ? { last: cursor } : {}) });
    for (const name of batch) {
      if (!access.canList(name)) continue;
      if (shown.length === page.limit) {
        more = true;
        break;
      }
      shown.push(name);
    }
    if (more || batch.length < page.limit + 1) break;
    cursor = batch[batch.length - 1];
  }
  if (more) reply.header('Link', nextLink('/v2/_catalog', shown[shown.length - 1]!, page.limit));
  await reply.code(200).send({ repositories: shown });
}

/** GET referrers/<digest>: an OCI index of the manifests whose subject is the digest. */
export async function listReferrers(ctx: V2Context<Extract<V2Route, { kind: 'referrers' }>>): Promise<void> {
  const { route, deps, query, reply } = ctx;
  const artifactType = query.get('artifactType') ?? undefined;
  const records = await deps.manifests.referrers(route.name, route.digest, artifactType);
  if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType');
  const manifests = records.map((record) => ({
    mediaType: record.mediaType,
    digest: record.digest,
    size: record.size,
    ...(record.artifactType ? { artifactType: record.artifactType } : {}),
    ...(record.annotations ? { annotations: record.annotations } : {}),
  }));
  await reply
    .code(200)
    .header('Content-Type', MediaType.OciIndex)
    .send(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests })));
}
