import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseDigest,
  isValidRepositoryName,
  isValidTag,
  parseReference,
  parseManifest,
  digestOf,
  RegistryError,
  MAX_MANIFEST_BYTES,
  errorBody,
} from '../../src/oci/index.js';
import { httpStatusOf } from '../../src/registry/error-mapping.js';

const D = digestOf('x');

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof RegistryError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('digests', () => {
  test('accepts sha256 and sha512 of the right length', () => {
    assert.equal(parseDigest(D).algorithm, 'sha256');
    assert.equal(parseDigest(digestOf('x', 'sha512')).algorithm, 'sha512');
  });
  test('refuses unknown algorithms, wrong lengths and upper-case hex', () => {
    for (const bad of ['md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256:abc', D.toUpperCase(), `sha256:${'A'.repeat(64)}`, 'sha256', '', `sha512:${'a'.repeat(64)}`]) {
      assert.equal(code(() => parseDigest(bad)), 'DIGEST_INVALID', bad);
    }
  });
});

describe('names and references', () => {
  test('repository grammar', () => {
    for (const ok of ['a', 'library/ubuntu', 'a/b/c/d', 'a.b_c__d-e--f', 'x0/y1']) assert.ok(isValidRepositoryName(ok), ok);
    for (const bad of ['', 'A', 'a//b', '/a', 'a/', '../a', 'a/../b', 'a/./b', '-a', 'a-', 'a___b', 'a..b', 'a b', 'a%2fb', 'x'.repeat(256)]) {
      assert.ok(!isValidRepositoryName(bad), bad);
    }
  });
  test('tags are 1–128 characters of [A-Za-z0-9_.-], not starting with . or -', () => {
    assert.ok(isValidTag('v1.0_RC-1'));
    assert.ok(isValidTag('a'.repeat(128)));
    assert.ok(!isValidTag('a'.repeat(129)));
    assert.ok(!isValidTag('.hidden'));
    assert.ok(!isValidTag('-x'));
  });
  test('a reference is a digest when it has a colon', () => {
    assert.deepEqual(parseReference(D), { kind: 'digest', digest: D });
    assert.deepEqual(parseReference('latest'), { kind: 'tag', tag: 'latest' });
    assert.equal(code(() => parseReference('sha256:zz')), 'DIGEST_INVALID');
    assert.equal(code(() => parseReference('bad tag')), 'MANIFEST_INVALID');
  });
});

describe('manifest parsing', () => {
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D, size: 1 };
  const image = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [{ ...config, mediaType: 'application/vnd.oci.image.layer.v1.tar' }] };
  const parse = (doc: unknown, contentType?: string) => parseManifest(Buffer.from(JSON.stringify(doc)), contentType);

  test('an image manifest lists config and layers as blobs and its config type as artifactType', () => {
    const parsed = parse(image, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(parsed.kind, 'image');
    assert.equal(parsed.blobs.length, 2);
    assert.equal(parsed.artifactType, config.mediaType);
    assert.equal(parsed.subject, null);
  });
  test('artifactType and subject are read', () => {
    const parsed = parse({ ...image, artifactType: 'application/x-sbom', subject: config });
    assert.equal(parsed.artifactType, 'application/x-sbom');
    assert.equal(parsed.subject?.digest, D);
  });
  test('an index lists its children', () => {
    const parsed = parse({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...config, mediaType: image.mediaType }] });
    assert.equal(parsed.kind, 'index');
    assert.deepEqual(parsed.manifests.map((m) => m.digest), [D]);
    assert.deepEqual(parsed.blobs, []);
  });
  test('docker schema2 manifest and list are accepted', () => {
    assert.equal(parse({ ...image, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' }).kind, 'image');
    assert.equal(parse({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', manifests: [] }).kind, 'index');
  });
  test('without mediaType the Content-Type decides', () => {
    const { mediaType: _omit, ...bare } = image;
    assert.equal(parse(bare, 'application/vnd.oci.image.manifest.v1+json; charset=utf-8').mediaType, image.mediaType);
  });
  test('foreign layers with urls need not be in the registry', () => {
    const foreign = { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: digestOf('y'), size: 1, urls: ['https://example.invalid/l'] };
    assert.equal(parse({ ...image, layers: [foreign] }).blobs.length, 1);
  });
  test('refuses malformed manifests with MANIFEST_INVALID', () => {
    const bad: Array<[string, unknown, string?]> = [
      ['not json', '{', undefined],
      ['array', [], undefined],
      ['schema 1', { ...image, schemaVersion: 1 }],
      ['type mismatch', image, 'application/vnd.docker.distribution.manifest.v2+json'],
      ['unknown type', { ...image, mediaType: 'text/plain' }],
      ['bad digest', { ...image, config: { ...config, digest: 'sha256:nope' } }],
      ['negative size', { ...image, config: { ...config, size: -1 } }],
      ['layers not array', { ...image, layers: {} }],
      ['missing config', { ...image, config: undefined }],
      ['bad annotations', { ...image, annotations: { a: 1 } }],
    ];
    for (const [why, doc, type] of bad) {
      const body = typeof doc === 'string' ? Buffer.from(doc) : Buffer.from(JSON.stringify(doc));
      assert.equal(code(() => parseManifest(body, type)), 'MANIFEST_INVALID', why);
    }
  });
  test('refuses manifests over 4 MiB', () => {
    assert.equal(code(() => parseManifest(Buffer.alloc(MAX_MANIFEST_BYTES + 1, 32), undefined)), 'MANIFEST_TOO_LARGE');
  });
});

test('errors serialize as OCI error JSON with a status per code', () => {
  const err = new RegistryError('BLOB_UNKNOWN', 'nope', { digest: D });
  assert.equal(httpStatusOf(err.code), 404);
  assert.deepEqual(errorBody(err), { errors: [{ code: 'BLOB_UNKNOWN', message: 'nope', detail: { digest: D } }] });
});
