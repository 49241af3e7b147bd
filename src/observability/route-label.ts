import type { FastifyRequest } from 'fastify';
import { v2RouteKindOf, type V2RouteKind } from '../registry/route.js';

/** The label of each /v2 route kind, made once (a label built per request would be a string allocated per request). */
const V2_LABELS: Readonly<Record<V2RouteKind | 'unknown', string>> = {
  base: 'v2:base', catalog: 'v2:catalog', tags: 'v2:tags', manifest: 'v2:manifest', blob: 'v2:blob',
  'upload-start': 'v2:upload-start', upload: 'v2:upload', referrers: 'v2:referrers', unknown: 'v2:unknown',
};

/** The methods the /v2 route takes (registry/v2-routes.ts); any other is no route's. */
const V2_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The route a request is counted under, never its raw path (names, tags and digests would make a
 * series per image): `v2:<kind>` for the /v2 API (`v2:manifest`, `v2:blob`, `v2:upload`,
 * `v2:upload-start`, `v2:tags`, `v2:catalog`, `v2:referrers`, `v2:base`; `v2:unknown` for a path
 * outside it), fastify's route template elsewhere (`/gateway/v1/:cr/messages`), and
 * `unmatched` for a request no route took (a 404).
 *
 * Every request pays for this when metrics are on, so the /v2 API (one route takes all of
 * `/v2`, `/v2/` and `/v2/*`) is told from its URL alone; fastify's `routeOptions`, which builds
 * an object on each read, is only read for the other routes.
 */
export function routeLabel(request: FastifyRequest): string {
  const url = request.url;
  if (V2_METHODS.has(request.method) && url.startsWith('/v2') && (url.length === 3 || url.charCodeAt(3) === 0x2f /* / */ || url.charCodeAt(3) === 0x3f /* ? */)) {
    const query = url.indexOf('?');
    const path = query === -1 ? url.slice(4) : url.slice(4, Math.max(4, query));
    return V2_LABELS[v2RouteKindOf(path) ?? 'unknown'];
  }
  const template = request.routeOptions.url;
  return template === undefined ? 'unmatched' : template;
}

/** The /v2 route kinds blob data is received on: their requests in progress are the uploads in flight. */
export const UPLOAD_ROUTES: ReadonlySet<string> = new Set([V2_LABELS.upload, V2_LABELS['upload-start']]);
