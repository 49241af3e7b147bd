import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseV2Path, v2RouteKindOf } from '../../src/registry/route.js';

/**
 * The kind of a /v2 path as metrics and logs label it (v2RouteKindOf, string comparisons only)
 * is the kind parseV2Path's patterns give the same path: checked against those patterns, written
 * out here, over every path of up to five segments from a vocabulary of the API's own words.
 */

const ORACLE: Array<[RegExp, string]> = [
  [/^(.+)\/manifests\/([^/]+)$/, 'manifest'],
  [/^(.+)\/blobs\/uploads\/?$/, 'upload-start'],
  [/^(.+)\/blobs\/uploads\/([^/]+)$/, 'upload'],
  [/^(.+)\/blobs\/([^/]+)$/, 'blob'],
  [/^(.+)\/tags\/list$/, 'tags'],
  [/^(.+)\/referrers\/([^/]+)$/, 'referrers'],
];

function oracle(path: string): string | null {
  if (path === '' || path === '/') return 'base';
  if (path === '_catalog') return 'catalog';
  for (const [pattern, kind] of ORACLE) if (pattern.test(path)) return kind;
  return null;
}

describe('the kind of a /v2 path', () => {
  test('is what the patterns say, for every path of up to five segments of the API\'s words', () => {
    const words = ['', 'a', 'manifests', 'blobs', 'uploads', 'tags', 'list', 'referrers', '_catalog', 'sha256:abc'];
    let paths = [''];
    const all = new Set<string>(['', '/']);
    for (let depth = 1; depth <= 5; depth++) {
      paths = paths.flatMap((p) => words.map((w) => (p === '' && depth === 1 ? w : `${p}/${w}`)));
      for (const p of paths) all.add(p);
    }
    assert.ok(all.size > 100_000);
    const kinds = new Map<string, number>();
    for (const path of all) {
      const expected = oracle(path);
      assert.equal(v2RouteKindOf(path), expected, JSON.stringify(path));
      kinds.set(String(expected), (kinds.get(String(expected)) ?? 0) + 1);
    }
    // Every kind was met (the vocabulary reaches all of them).
    for (const kind of ['base', 'catalog', 'manifest', 'upload-start', 'upload', 'blob', 'tags', 'referrers', 'null']) assert.ok(kinds.has(kind), kind);
  });

  test('agrees with parseV2Path on valid paths', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    for (const path of ['', '_catalog', 'app/manifests/v1', 'org/app/manifests/v1', 'app/blobs/uploads/', 'app/blobs/uploads',
      'app/blobs/uploads/3f2b', `app/blobs/${digest}`, 'app/tags/list', `app/referrers/${digest}`, 'tags/tags/list', 'manifests/manifests/manifests']) {
      assert.equal(v2RouteKindOf(path), parseV2Path(path).kind, path);
    }
  });
});
