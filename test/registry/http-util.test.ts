import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRangeHeader, parseUploadContentRange, parsePagination } from '../../src/registry/http-util.js';
import { parseV2Path, requiredAction } from '../../src/registry/route.js';
import { RegistryError } from '../../src/oci/index.js';

function code(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return err instanceof RegistryError ? err.code : 'other';
  }
}

test('byte ranges', () => {
  assert.equal(parseRangeHeader(undefined, 10), null);
  assert.deepEqual(parseRangeHeader('bytes=0-4', 10), { start: 0, end: 4 });
  assert.deepEqual(parseRangeHeader('bytes=5-', 10), { start: 5, end: 9 });
  assert.deepEqual(parseRangeHeader('bytes=-3', 10), { start: 7, end: 9 });
  assert.deepEqual(parseRangeHeader('bytes=8-100', 10), { start: 8, end: 9 });
  for (const bad of ['bytes=10-', 'bytes=5-2', 'bytes=abc', 'items=0-1', 'bytes=0-1,3-4', 'bytes=-0', 'bytes=-']) {
    assert.equal(code(() => parseRangeHeader(bad, 10)), 'RANGE_INVALID', bad);
  }
});

test('upload Content-Range', () => {
  assert.deepEqual(parseUploadContentRange('0-99'), { start: 0, end: 99 });
  assert.deepEqual(parseUploadContentRange('bytes 100-199/*'), { start: 100, end: 199 });
  assert.equal(code(() => parseUploadContentRange('9-1')), 'RANGE_INVALID');
  assert.equal(code(() => parseUploadContentRange('x')), 'RANGE_INVALID');
});

test('pagination', () => {
  assert.deepEqual(parsePagination(new URLSearchParams('n=5&last=b'), 100), { limit: 5, last: 'b' });
  assert.deepEqual(parsePagination(new URLSearchParams(''), 100), { limit: 100, last: undefined });
  assert.equal(code(() => parsePagination(new URLSearchParams('n=-1'), 100)), 'PAGINATION_INVALID');
  assert.equal(code(() => parsePagination(new URLSearchParams('n=abc'), 100)), 'PAGINATION_INVALID');
});

test('paths', () => {
  assert.deepEqual(parseV2Path('a/b/c/manifests/latest'), { kind: 'manifest', name: 'a/b/c', reference: 'latest' });
  assert.deepEqual(parseV2Path('a/blobs/uploads/'), { kind: 'upload-start', name: 'a' });
  assert.deepEqual(parseV2Path('a/blobs/uploads/123'), { kind: 'upload', name: 'a', id: '123' });
  assert.deepEqual(parseV2Path('x/blobs/uploads'), { kind: 'upload-start', name: 'x' });
  assert.deepEqual(parseV2Path('tags/tags/list'), { kind: 'tags', name: 'tags' });
  assert.deepEqual(parseV2Path('_catalog'), { kind: 'catalog' });
  assert.equal(parseV2Path('a/referrers/sha256%3Aab').kind, 'referrers');
  assert.equal(code(() => parseV2Path('../etc/manifests/x')), 'NAME_INVALID');
  assert.equal(code(() => parseV2Path('a/nothing/here')), 'NOT_FOUND');
  assert.equal(requiredAction({ kind: 'blob', name: 'a', digest: 'd' }, 'DELETE'), 'delete');
  assert.equal(requiredAction({ kind: 'manifest', name: 'a', reference: 'r' }, 'PUT'), 'push-manifest');
  assert.equal(requiredAction({ kind: 'upload', name: 'a', id: 'u' }, 'PATCH'), 'push');
  // Every call on a session is a write to its repository, its status GET and DELETE included.
  for (const method of ['GET', 'PUT', 'DELETE']) assert.equal(requiredAction({ kind: 'upload', name: 'a', id: 'u' }, method), 'push', method);
  assert.equal(requiredAction({ kind: 'tags', name: 'a' }, 'GET'), 'list');
  assert.equal(requiredAction({ kind: 'catalog' }, 'GET'), null);
});
