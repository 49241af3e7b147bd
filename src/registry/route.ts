import { RegistryError, assertRepositoryName } from '../oci/index.js';
import type { RepositoryAction } from '../auth/index.js';

/** The fields of each kind of /v2 route. */
interface V2RouteFields {
  base: object;
  catalog: object;
  tags: { name: string };
  manifest: { name: string; reference: string };
  blob: { name: string; digest: string };
  'upload-start': { name: string };
  upload: { name: string; id: string };
  referrers: { name: string; digest: string };
}

export type V2RouteKind = keyof V2RouteFields;

/** The route of one kind. */
export type V2RouteOf<K extends V2RouteKind> = { kind: K } & V2RouteFields[K];

/**
 * What a `/v2/...` path addresses. Parsed once per request, before any handler runs. Built from
 * a table of kinds, so that code generic over the kind (the handler table) keeps kind and route
 * together without casts.
 */
export type V2Route = { [K in V2RouteKind]: V2RouteOf<K> }[V2RouteKind];

// Order matters: `uploads` must be tried before the generic blob pattern.
const PATTERNS: Array<[RegExp, V2RouteKind, (m: RegExpExecArray) => V2Route]> = [
  [/^(.+)\/manifests\/([^/]+)$/, 'manifest', (m) => ({ kind: 'manifest', name: m[1]!, reference: decode(m[2]!) })],
  [/^(.+)\/blobs\/uploads\/?$/, 'upload-start', (m) => ({ kind: 'upload-start', name: m[1]! })],
  [/^(.+)\/blobs\/uploads\/([^/]+)$/, 'upload', (m) => ({ kind: 'upload', name: m[1]!, id: decode(m[2]!) })],
  [/^(.+)\/blobs\/([^/]+)$/, 'blob', (m) => ({ kind: 'blob', name: m[1]!, digest: decode(m[2]!) })],
  [/^(.+)\/tags\/list$/, 'tags', (m) => ({ kind: 'tags', name: m[1]! })],
  [/^(.+)\/referrers\/([^/]+)$/, 'referrers', (m) => ({ kind: 'referrers', name: m[1]!, digest: decode(m[2]!) })],
];

function decode(component: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    throw new RegistryError('REQUEST_INVALID', 'malformed percent-encoding in path');
  }
}

/**
 * Parses the path after `/v2/` (no query string). Throws NAME_INVALID for a repository name
 * outside the spec's grammar and NOT_FOUND for paths that are not part of the API.
 */
export function parseV2Path(path: string): V2Route {
  if (path === '' || path === '/') return { kind: 'base' };
  if (path === '_catalog') return { kind: 'catalog' };
  for (const [pattern, , build] of PATTERNS) {
    const match = pattern.exec(path);
    if (!match) continue;
    const route = build(match);
    // Names are validated as sent: the grammar has no '%', so an encoded name is simply invalid.
    if ('name' in route) assertRepositoryName(route.name);
    return route;
  }
  throw new RegistryError('NOT_FOUND', 'no such API endpoint', { path: path.slice(0, 300) });
}

/** The repository action a method on a route needs, or null for routes without a repository. */
export function requiredAction(route: V2Route, method: string): RepositoryAction | null {
  if (route.kind === 'base' || route.kind === 'catalog') return null;
  if (route.kind === 'tags') return 'list';
  // Everything about an upload session is writing to its repository: its status GET too.
  if (route.kind === 'upload' || route.kind === 'upload-start') return 'push';
  const reading = method === 'GET' || method === 'HEAD';
  if (reading) return 'pull';
  if (method === 'DELETE' && (route.kind === 'manifest' || route.kind === 'blob')) return 'delete';
  return route.kind === 'manifest' ? 'push-manifest' : 'push';
}

/**
 * The kind of route a path after `/v2/` (no query string) addresses, by the same rules as
 * parseV2Path's patterns but without validating or decoding anything: null for a path outside the
 * API. For labels that must never carry a name or a digest (metrics, logs), computed on every
 * request when metrics are on: string comparisons at the path's end, no regular expression
 * (test/registry/route-kind.test.ts holds it to the patterns).
 */
export function v2RouteKindOf(path: string): V2RouteKind | null {
  if (path === '' || path === '/') return 'base';
  if (path === '_catalog') return 'catalog';
  // `<name>/blobs/uploads` with or without the final slash.
  const end = path.endsWith('/') ? path.length - 1 : path.length;
  if (endsAfterName(path, '/blobs/uploads', end)) return 'upload-start';
  // Every other kind ends with a segment that is not empty.
  const last = path.lastIndexOf('/');
  if (last === path.length - 1) return null;
  if (endsAfterName(path, '/manifests', last)) return 'manifest';
  if (endsAfterName(path, '/blobs/uploads', last)) return 'upload';
  if (endsAfterName(path, '/blobs', last)) return 'blob';
  if (endsAfterName(path, '/referrers', last)) return 'referrers';
  if (endsAfterName(path, '/tags/list', path.length)) return 'tags';
  return null;
}

/** Whether `path` has `suffix` ending at `end`, after at least one character (the name). */
function endsAfterName(path: string, suffix: string, end: number): boolean {
  const at = end - suffix.length;
  return at >= 1 && path.startsWith(suffix, at);
}
