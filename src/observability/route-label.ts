import type { FastifyRequest } from 'fastify';
import { v2RouteKindOf } from '../registry/route.js';

/**
 * The route a request is counted under, never its raw path (names, tags and digests would make a
 * series per image): `v2:<kind>` for the /v2 API (`v2:manifest`, `v2:blob`, `v2:upload`,
 * `v2:upload-start`, `v2:tags`, `v2:catalog`, `v2:referrers`, `v2:base`; `v2:unknown` for a path
 * outside it), fastify's route template elsewhere (`/gateway/v1/:cr/messages`), and
 * `unmatched` for a request no route took (a 404).
 */
export function routeLabel(request: FastifyRequest): string {
  const template = request.routeOptions.url;
  if (template === undefined) return 'unmatched';
  if (template === '/v2' || template.startsWith('/v2/')) {
    const url = request.url;
    const query = url.indexOf('?');
    const path = (query === -1 ? url : url.slice(0, query)).slice('/v2/'.length);
    return `v2:${v2RouteKindOf(path) ?? 'unknown'}`;
  }
  return template;
}

/** The /v2 route kinds blob data is received on: their requests in progress are the uploads in flight. */
export const UPLOAD_ROUTES: ReadonlySet<string> = new Set(['v2:upload', 'v2:upload-start']);
