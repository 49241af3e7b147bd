import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient, sha256, OCI_MANIFEST, OCI_INDEX, ADMIN_HEADERS } from '../helpers/oci-client.js';
import { rawRequest, type RawResponse } from '../helpers/raw-http.js';

/**
 * Hostile and broken input: every answer is a 4xx with the OCI error JSON, never a 5xx, and the
 * node keeps serving afterwards.
 */

const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
const REPO = 'bad/input';

interface ErrorJson {
  errors: Array<{ code: string; message: string; detail: unknown }>;
}

/** Asserts a response is `status` with an OCI error body whose first code is `code` (one of `code`). */
function expectError(res: RawResponse, status: number, code: string | string[], what = ''): ErrorJson['errors'][number] {
  const label = `${what} -> ${res.status} ${res.body.toString('utf8').slice(0, 300)}`;
  assert.equal(res.status, status, label);
  assert.match(String(res.headers['content-type']), /^application\/json/, label);
  const body = JSON.parse(res.body.toString('utf8')) as ErrorJson;
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, label);
  const first = body.errors[0]!;
  const codes = Array.isArray(code) ? code : [code];
  assert.ok(codes.includes(first.code), `${label}: expected ${codes.join('|')}`);
  assert.equal(typeof first.message, 'string', label);
  assert.ok('detail' in first, `${label}: error has a detail field`);
  return first;
}

/**
 * Any answer below 500. (The shape of 4xx bodies is asserted by the targeted tests above; the
 * fuzz only hunts for server errors, so one known body-format bug does not mask the rest.)
 */
function expectClientSide(res: RawResponse, method: string, what: string): void {
  const label = `${method} ${what} -> ${res.status} ${res.body.toString('utf8').slice(0, 200)}`;
  assert.ok(res.status < 500, label);
}

describe('bad input gets a 4xx OCI error, never a 5xx', () => {
  let node: TestNode;
  let client: TestClient;
  let configDigest: string;
  let configSize: number;
  let layerDigest: string;
  let layerSize: number;
  let blob: Buffer;
  let blobDigest: string;

  const req = (method: string, path: string, init: Parameters<typeof rawRequest>[3] = {}): Promise<RawResponse> =>
    rawRequest(node.url, method, path, { ...init, headers: { ...ADMIN_HEADERS, ...init.headers } });
  const putManifest = (reference: string, body: string | Buffer, contentType: string | null = OCI_MANIFEST, repo = REPO): Promise<RawResponse> =>
    req('PUT', `/v2/${repo}/manifests/${reference}`, { body, headers: contentType === null ? {} : { 'Content-Type': contentType } });
  const manifest = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: CONFIG_TYPE, digest: configDigest, size: configSize },
    layers: [{ mediaType: LAYER_TYPE, digest: layerDigest, size: layerSize }],
    ...overrides,
  });
  const stillServing = async (): Promise<void> => {
    const res = await req('GET', '/v2/');
    assert.equal(res.status, 200, 'the node still answers /v2/');
  };

  before(async () => {
    node = await startTestNode();
    client = new TestClient(node.url);
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    configDigest = await client.pushBlob(REPO, config);
    configSize = Buffer.byteLength(config);
    const layer = randomBytes(3000);
    layerDigest = await client.pushBlob(REPO, layer);
    layerSize = layer.length;
    blob = randomBytes(100);
    blobDigest = await client.pushBlob(REPO, blob);
    // A valid manifest, so a good tag exists and the positive path is known to work.
    const ok = await putManifest('good', JSON.stringify(manifest()));
    assert.equal(ok.status, 201, ok.body.toString());
  });

  after(async () => {
    await node.close();
  });

  test('malformed manifest bodies are MANIFEST_INVALID', async () => {
    const bodies: Array<[string, string | Buffer]> = [
      ['truncated JSON', '{"schemaVersion":2,'],
      ['empty body', ''],
      ['JSON null', 'null'],
      ['JSON array', '[]'],
      ['JSON string', '"manifest"'],
      ['not JSON at all', 'hello world'],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
      ['schemaVersion 1', JSON.stringify(manifest({ schemaVersion: 1 }))],
      ['schemaVersion "2"', JSON.stringify(manifest({ schemaVersion: '2' }))],
      ['schemaVersion missing', JSON.stringify(manifest({ schemaVersion: undefined }))],
      ['config missing', JSON.stringify(manifest({ config: undefined }))],
      ['config not an object', JSON.stringify(manifest({ config: 'sha256:abc' }))],
      ['layers not an array', JSON.stringify(manifest({ layers: {} }))],
      ['layer is null', JSON.stringify(manifest({ layers: [null] }))],
      ['mediaType not a string', JSON.stringify(manifest({ mediaType: 42 }))],
      ['annotations not strings', JSON.stringify(manifest({ annotations: { a: 1 } }))],
      ['subject malformed', JSON.stringify(manifest({ subject: { digest: 'nope' } }))],
      ['artifactType not a string', JSON.stringify(manifest({ artifactType: ['x'] }))],
      ['deeply nested JSON', '['.repeat(100_000) + ']'.repeat(100_000)],
    ];
    for (const [what, body] of bodies) {
      expectError(await putManifest('bad', body), 400, 'MANIFEST_INVALID', what);
    }
    // The good tag was not replaced by any of them.
    const good = await req('GET', `/v2/${REPO}/manifests/good`);
    assert.equal(good.status, 200);
    assert.equal(sha256(good.body), sha256(JSON.stringify(manifest())));
    const bad = await req('GET', `/v2/${REPO}/manifests/bad`);
    expectError(bad, 404, 'MANIFEST_UNKNOWN', 'no tag "bad" was created');
    await stillServing();
  });

  test('unknown or mismatched Content-Type for a manifest is refused', async () => {
    const noMediaType = JSON.stringify(manifest({ mediaType: undefined }));
    // An unknown type with a body that names none: the server cannot store it as a manifest.
    for (const type of ['text/plain', 'application/json', 'application/vnd.example.thing+json', 'application/octet-stream']) {
      const res = await putManifest('ct', noMediaType, type);
      expectError(res, res.status === 415 ? 415 : 400, ['MANIFEST_INVALID', 'UNSUPPORTED'], `Content-Type ${type}`);
    }
    // The body says image manifest, the header says something else.
    for (const type of [OCI_INDEX, 'text/plain', 'application/vnd.docker.distribution.manifest.v2+json']) {
      expectError(await putManifest('ct', JSON.stringify(manifest()), type), 400, 'MANIFEST_INVALID', `mediaType/Content-Type mismatch ${type}`);
    }
    // An index body with an image-manifest Content-Type.
    const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    expectError(await putManifest('ct', index, OCI_MANIFEST), 400, 'MANIFEST_INVALID', 'index body, manifest Content-Type');
    // A manifest media type Outpost does not store (schema 1).
    const v1 = JSON.stringify({ schemaVersion: 1, name: REPO, tag: 'ct', fsLayers: [] });
    const res = await putManifest('ct', v1, 'application/vnd.docker.distribution.manifest.v1+prettyjws');
    expectError(res, res.status === 415 ? 415 : 400, ['MANIFEST_INVALID', 'UNSUPPORTED'], 'schema 1 content type');
    expectError(await req('GET', `/v2/${REPO}/manifests/ct`), 404, 'MANIFEST_UNKNOWN');
    await stillServing();
  });

  test('a Content-Type that is not a media type at all gets an OCI error, not the framework\'s JSON', async () => {
    for (const type of ['garbage', ';;;', '/']) {
      const res = await putManifest('ct', JSON.stringify(manifest()), type);
      expectError(res, res.status === 415 ? 415 : 400, ['MANIFEST_INVALID', 'UNSUPPORTED'], `unparsable Content-Type ${type}`);
    }
    await stillServing();
  });

  test('descriptors with bad digests or sizes are MANIFEST_INVALID', async () => {
    const config = (patch: Record<string, unknown>): string =>
      JSON.stringify(manifest({ config: { mediaType: CONFIG_TYPE, digest: configDigest, size: configSize, ...patch } }));
    const layer = (patch: Record<string, unknown>): string =>
      JSON.stringify(manifest({ layers: [{ mediaType: LAYER_TYPE, digest: layerDigest, size: layerSize, ...patch }] }));
    const cases: Array<[string, string]> = [
      ['config digest sha256:xyz', config({ digest: 'sha256:xyz' })],
      ['config digest md5', config({ digest: `md5:${'a'.repeat(32)}` })],
      ['config digest upper-case hex', config({ digest: configDigest.toUpperCase().replace('SHA256', 'sha256') })],
      ['config digest too short', config({ digest: configDigest.slice(0, -1) })],
      ['config digest a number', config({ digest: 12 })],
      ['config size negative', config({ size: -1 })],
      ['config size a string', config({ size: String(configSize) })],
      ['config size fractional', config({ size: 1.5 })],
      ['config size beyond 2^53', config({ size: 2 ** 60 })],
      ['config size missing', config({ size: undefined })],
      ['config mediaType missing', config({ mediaType: undefined })],
      ['layer digest no algorithm', layer({ digest: layerDigest.slice('sha256:'.length) })],
      ['layer digest empty', layer({ digest: '' })],
      ['layer size null', layer({ size: null })],
    ];
    for (const [what, body] of cases) {
      expectError(await putManifest('desc', body), 400, 'MANIFEST_INVALID', what);
    }
    const indexCase = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: 'sha256:nothex', size: 10 }] });
    expectError(await putManifest('desc', indexCase, OCI_INDEX), 400, 'MANIFEST_INVALID', 'index child with bad digest');
    await stillServing();
  });

  test('manifests over 4 MiB are 413, with or without Content-Length', async () => {
    const padding = 'x'.repeat(4 * 1024 * 1024);
    const big = JSON.stringify(manifest({ annotations: { padding } }));
    expectError(await putManifest('big', big), 413, 'MANIFEST_TOO_LARGE', 'declared length');

    // Chunked, so the limit must be enforced while reading.
    const chunks = [Buffer.from(big.slice(0, 1024 * 1024)), Buffer.from(big.slice(1024 * 1024))];
    const res = await fetch(new URL(`/v2/${REPO}/manifests/big`, node.url), {
      method: 'PUT',
      headers: { ...ADMIN_HEADERS, 'Content-Type': OCI_MANIFEST },
      body: new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(chunk);
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as ErrorJson).errors[0]?.code, 'MANIFEST_TOO_LARGE');
    expectError(await req('GET', `/v2/${REPO}/manifests/big`), 404, 'MANIFEST_UNKNOWN');
    await stillServing();
  });

  test('manifests referencing missing blobs or children are MANIFEST_BLOB_UNKNOWN', async () => {
    const missing = sha256(randomBytes(16));
    expectError(
      await putManifest('missing', JSON.stringify(manifest({ config: { mediaType: CONFIG_TYPE, digest: missing, size: 16 } }))),
      404, 'MANIFEST_BLOB_UNKNOWN', 'missing config',
    );
    expectError(
      await putManifest('missing', JSON.stringify(manifest({ layers: [{ mediaType: LAYER_TYPE, digest: missing, size: 16 }] }))),
      404, 'MANIFEST_BLOB_UNKNOWN', 'missing layer',
    );
    // A blob that exists, but only in another repository, is not linked here.
    const other = await putManifest('missing', JSON.stringify(manifest()), OCI_MANIFEST, 'bad/other');
    expectError(other, 404, 'MANIFEST_BLOB_UNKNOWN', 'blobs of another repository');
    const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: missing, size: 100 }] });
    expectError(await putManifest('missing', index, OCI_INDEX), 404, 'MANIFEST_BLOB_UNKNOWN', 'index with a missing child');
    expectError(await req('GET', `/v2/${REPO}/manifests/missing`), 404, 'MANIFEST_UNKNOWN');
    await stillServing();
  });

  test('a digest reference that does not match the body is DIGEST_INVALID', async () => {
    const body = JSON.stringify(manifest({ annotations: { n: '1' } }));
    const wrong = sha256(body + ' ');
    expectError(await putManifest(wrong, body), 400, 'DIGEST_INVALID', 'digest of other bytes');
    expectError(await req('GET', `/v2/${REPO}/manifests/${sha256(body)}`), 404, 'MANIFEST_UNKNOWN', 'nothing stored');
    expectError(await putManifest('sha256:xyz', body), 400, 'DIGEST_INVALID', 'malformed digest reference');
    expectError(await putManifest(`md5:${'0'.repeat(32)}`, body), 400, 'DIGEST_INVALID', 'md5 reference');
    // Invalid tags: refused on PUT, simply unknown on GET.
    const longTag = 't'.repeat(129);
    const putTag = await putManifest(longTag, body);
    assert.ok(putTag.status === 400, `tag of 129 chars -> ${putTag.status}`);
    expectError(await req('GET', `/v2/${REPO}/manifests/${longTag}`), 404, 'MANIFEST_UNKNOWN', 'GET with an invalid tag');
    expectError(await req('GET', `/v2/${REPO}/manifests/.hidden`), 404, 'MANIFEST_UNKNOWN', 'GET tag starting with a dot');
    await stillServing();
  });

  const BAD_DIGESTS = [
    'sha256:xyz',
    `md5:${'a'.repeat(32)}`,
    `sha256:${'A'.repeat(64)}`,
    `SHA256:${'a'.repeat(64)}`,
    `sha256:${'a'.repeat(63)}`,
    `sha256:${'a'.repeat(65)}`,
    `sha512:${'a'.repeat(64)}`,
    'sha256:',
    'sha256',
  ];

  test('bad digests in blob URLs, digest= and mount= are DIGEST_INVALID', async () => {
    for (const digest of BAD_DIGESTS) {
      const path = encodeURIComponent(digest).replace(/%3A/g, ':');
      for (const method of ['GET', 'DELETE']) {
        expectError(await req(method, `/v2/${REPO}/blobs/${path}`), 400, 'DIGEST_INVALID', `${method} blob ${digest}`);
      }
      const head = await req('HEAD', `/v2/${REPO}/blobs/${path}`);
      assert.equal(head.status, 400, `HEAD blob ${digest}`);
      expectError(
        await req('POST', `/v2/${REPO}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, { body: blob, headers: { 'Content-Type': 'application/octet-stream' } }),
        400, 'DIGEST_INVALID', `monolithic digest=${digest}`,
      );
      expectError(
        await req('POST', `/v2/${REPO}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=bad/other`),
        400, 'DIGEST_INVALID', `mount=${digest}`,
      );
      const session = await req('POST', `/v2/${REPO}/blobs/uploads/`);
      assert.equal(session.status, 202);
      const location = String(session.headers.location);
      expectError(
        await req('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`, { body: blob, headers: { 'Content-Type': 'application/octet-stream' } }),
        400, 'DIGEST_INVALID', `complete with digest=${digest}`,
      );
      assert.equal((await req('DELETE', location)).status, 204);
    }
    // mount= with a malformed source repository.
    expectError(await req('POST', `/v2/${REPO}/blobs/uploads/?mount=${blobDigest}&from=NOT..valid`), 400, 'NAME_INVALID', 'mount from a bad name');
    await stillServing();
  });

  test('a wrong digest on upload completion is DIGEST_INVALID and stores nothing', async () => {
    const data = randomBytes(5000);
    const actual = sha256(data);
    const claimed = sha256(randomBytes(5000));

    // Monolithic POST.
    expectError(
      await req('POST', `/v2/${REPO}/blobs/uploads/?digest=${claimed}`, { body: data, headers: { 'Content-Type': 'application/octet-stream' } }),
      400, 'DIGEST_INVALID', 'monolithic with the wrong digest',
    );
    // Chunked: PATCH then PUT.
    const start = await req('POST', `/v2/${REPO}/blobs/uploads/`);
    assert.equal(start.status, 202);
    const location = String(start.headers.location);
    const patch = await req('PATCH', location, { body: data, headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${data.length - 1}` } });
    assert.equal(patch.status, 202);
    expectError(await req('PUT', `${location}?digest=${claimed}`), 400, 'DIGEST_INVALID', 'chunked with the wrong digest');
    // Missing digest parameter.
    expectError(await req('PUT', location), 400, 'DIGEST_INVALID', 'complete without digest');

    for (const digest of [actual, claimed]) {
      const head = await req('HEAD', `/v2/${REPO}/blobs/${digest}`);
      assert.equal(head.status, 404, `blob ${digest} must not be stored`);
    }
    // The session is intact: completing it with the right digest works.
    const status = await req('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.range, `0-${data.length - 1}`);
    const done = await req('PUT', `${location}?digest=${actual}`);
    assert.equal(done.status, 201, done.body.toString());
    const get = await req('GET', `/v2/${REPO}/blobs/${actual}`);
    assert.equal(get.status, 200);
    assert.ok(get.body.equals(data));
  });

  test('bad repository names are NAME_INVALID', async () => {
    const names = [
      'UPPER',
      'Upper/case',
      'a//b',
      '../etc',
      '..',
      '%2e%2e/x',
      'a/%2e%2e/b',
      'a/./b',
      './a',
      'a/',
      '-a',
      'a-',
      'a/-b',
      '_a',
      'a..b',
      'a:b',
      'a%2fb',
      'x'.repeat(256),
      `${'abcdefgh/'.repeat(28)}abcdefgh`,
    ];
    for (const name of names) {
      for (const [method, suffix] of [
        ['GET', 'manifests/latest'],
        ['PUT', 'manifests/latest'],
        ['GET', `blobs/${blobDigest}`],
        ['POST', 'blobs/uploads/'],
        ['GET', 'tags/list'],
      ] as const) {
        const res = await req(method, `/v2/${name}/${suffix}`, method === 'PUT' ? { body: JSON.stringify(manifest()), headers: { 'Content-Type': OCI_MANIFEST } } : {});
        expectError(res, 400, 'NAME_INVALID', `${method} /v2/${name.slice(0, 40)}/${suffix}`);
      }
    }
    // A name of exactly 255 characters is valid (and simply unknown).
    const longest = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    assert.equal(longest.length, 255);
    expectError(await req('GET', `/v2/${longest}/tags/list`), 404, 'NAME_UNKNOWN', '255-char name');
    // Traversal-looking paths that are not routes at all.
    for (const path of ['/v2/../../etc/passwd', '/v2/%2e%2e/%2e%2e/etc/passwd', '/v2/..%2f..%2fetc/tags/list']) {
      const res = await req('GET', path);
      assert.ok(res.status >= 400 && res.status < 500, `${path} -> ${res.status}`);
      assert.doesNotMatch(res.body.toString(), /root:/);
    }
    await stillServing();
  });

  test('bad ranges on blob GET are 416 with Content-Range bytes */size', async () => {
    const size = blob.length;
    for (const range of ['bytes=abc', 'bytes=10-5', `bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, 'bytes=0-1,5-6', 'bytes=-0', 'items=0-1', 'bytes=', `bytes=99999999999999999999-`]) {
      const res = await req('GET', `/v2/${REPO}/blobs/${blobDigest}`, { headers: { Range: range } });
      expectError(res, 416, 'RANGE_INVALID', `Range: ${range}`);
      assert.equal(res.headers['content-range'], `bytes */${size}`, range);
    }
    // Valid ranges still work, including an end past the size (clamped) and a suffix.
    const partial = await req('GET', `/v2/${REPO}/blobs/${blobDigest}`, { headers: { Range: `bytes=10-${size + 50}` } });
    assert.equal(partial.status, 206);
    assert.equal(partial.headers['content-range'], `bytes 10-${size - 1}/${size}`);
    assert.ok(partial.body.equals(blob.subarray(10)));
    const suffix = await req('GET', `/v2/${REPO}/blobs/${blobDigest}`, { headers: { Range: 'bytes=-7' } });
    assert.equal(suffix.status, 206);
    assert.ok(suffix.body.equals(blob.subarray(size - 7)));
    await stillServing();
  });

  test('out-of-order PATCH is 416 and leaves the session usable', async () => {
    const start = await req('POST', `/v2/${REPO}/blobs/uploads/`);
    const location = String(start.headers.location);
    const first = randomBytes(10);
    const ok = await req('PATCH', location, { body: first, headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-9' } });
    assert.equal(ok.status, 202);
    assert.equal(ok.headers.range, '0-9');

    const gap = await req('PATCH', location, { body: randomBytes(10), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '20-29' } });
    expectError(gap, 416, 'RANGE_INVALID', 'PATCH past the end');
    assert.equal(gap.headers.range, '0-9');
    const overlap = await req('PATCH', location, { body: randomBytes(10), headers: { 'Content-Range': '5-14' } });
    expectError(overlap, 416, 'RANGE_INVALID', 'PATCH overlapping');
    const mismatch = await req('PATCH', location, { body: randomBytes(10), headers: { 'Content-Range': '10-99' } });
    expectError(mismatch, 416, 'RANGE_INVALID', 'Content-Range longer than the body');
    const malformed = await req('PATCH', location, { body: randomBytes(10), headers: { 'Content-Range': 'ten-twenty' } });
    expectError(malformed, 416, 'RANGE_INVALID', 'malformed Content-Range');
    const backwards = await req('PATCH', location, { body: randomBytes(10), headers: { 'Content-Range': '19-10' } });
    expectError(backwards, 416, 'RANGE_INVALID', 'Content-Range end before start');
    const finalGap = await req('PUT', `${location}?digest=${sha256(first)}`, { body: randomBytes(5), headers: { 'Content-Range': '30-34' } });
    expectError(finalGap, 416, 'RANGE_INVALID', 'final PUT chunk past the end');

    const status = await req('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.range, '0-9', 'nothing of the refused chunks was kept');
    const second = randomBytes(10);
    const next = await req('PATCH', location, { body: second, headers: { 'Content-Range': '10-19' } });
    assert.equal(next.status, 202);
    const all = Buffer.concat([first, second]);
    const done = await req('PUT', `${location}?digest=${sha256(all)}`);
    assert.equal(done.status, 201, done.body.toString());
  });

  test('unknown and malformed upload ids are BLOB_UPLOAD_UNKNOWN', async () => {
    const ids = [randomUUID(), 'not-a-uuid', randomUUID().toUpperCase(), '..%2F..%2Fetc%2Fpasswd', '%2e%2e', `${randomUUID()}x`, '0'];
    for (const id of ids) {
      for (const method of ['GET', 'PATCH', 'PUT', 'DELETE']) {
        const path = `/v2/${REPO}/blobs/uploads/${id}${method === 'PUT' ? `?digest=${sha256(blob)}` : ''}`;
        expectError(await req(method, path, method === 'PATCH' || method === 'PUT' ? { body: blob } : {}), 404, 'BLOB_UPLOAD_UNKNOWN', `${method} upload ${id}`);
      }
    }
    // A real session used through another repository's URL.
    const start = await req('POST', `/v2/${REPO}/blobs/uploads/`);
    const id = String(start.headers['docker-upload-uuid']);
    expectError(await req('GET', `/v2/bad/other/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN', 'session of another repository');
    expectError(await req('PUT', `/v2/bad/other/blobs/uploads/${id}?digest=${sha256('')}`), 404, 'BLOB_UPLOAD_UNKNOWN', 'complete via another repository');
    assert.equal((await req('GET', `/v2/${REPO}/blobs/uploads/${id}`)).status, 204);
    // A cancelled session is gone.
    assert.equal((await req('DELETE', `/v2/${REPO}/blobs/uploads/${id}`)).status, 204);
    expectError(await req('GET', `/v2/${REPO}/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN', 'cancelled session');
    await stillServing();
  });

  test('hostile mounts fall back to a session or a 4xx, never take what they should not, never a 5xx', async () => {
    const manifestDigest = sha256(JSON.stringify(manifest()));
    const cases: Array<[string, string]> = [
      ['from a repository that does not exist', `mount=${blobDigest}&from=no/such/repo`],
      ['from the target itself, blob absent', `mount=${sha256('absent')}&from=${REPO}`],
      ['a manifest digest (not a blob of any repository)', `mount=${manifestDigest}&from=${REPO}`],
      ['a manifest digest without from', `mount=${manifestDigest}`],
      ['a digest no repository holds, without from', `mount=${sha256(randomBytes(8))}`],
      ['the longest valid from', `mount=${blobDigest}&from=${'a'.repeat(127)}/${'b'.repeat(127)}`],
      ['two mount parameters', `mount=${sha256('x')}&mount=${blobDigest}&from=bad/none`],
    ];
    for (const [what, query] of cases) {
      const res = await req('POST', `/v2/mount/target/blobs/uploads/?${query}`);
      assert.equal(res.status, 202, `${what} -> ${res.status} ${res.body.toString()}`);
      assert.match(String(res.headers.location), /^\/v2\/mount\/target\/blobs\/uploads\/[0-9a-f-]{36}$/, what);
      assert.equal((await req('DELETE', String(res.headers.location))).status, 204);
    }
    expectError(await req('GET', `/v2/mount/target/blobs/${manifestDigest}`), 404, 'BLOB_UNKNOWN', 'no manifest bytes mounted as a blob');
    for (const from of ['', '%20', 'a%2F..%2Fb', '..', 'UPPER']) {
      expectError(await req('POST', `/v2/mount/target/blobs/uploads/?mount=${blobDigest}&from=${from}`), 400, 'NAME_INVALID', `from=${from}`);
    }
    await stillServing();
  });

  test('deletes that would break a manifest are 405 with Allow, and break nothing', async () => {
    const referenced = await req('DELETE', `/v2/${REPO}/blobs/${layerDigest}`);
    expectError(referenced, 405, 'BLOB_REFERENCED', 'layer of the good manifest');
    assert.equal(referenced.headers.allow, 'GET, HEAD');
    expectError(await req('DELETE', `/v2/${REPO}/blobs/${configDigest}`), 405, 'BLOB_REFERENCED', 'config of the good manifest');
    // The manifest's own digest is not a blob of the repository.
    expectError(await req('DELETE', `/v2/${REPO}/blobs/${sha256(JSON.stringify(manifest()))}`), 404, 'BLOB_UNKNOWN', 'a manifest digest as a blob');
    const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(JSON.stringify(manifest())), size: Buffer.byteLength(JSON.stringify(manifest())) }] });
    assert.equal((await putManifest('holds-good', index, OCI_INDEX)).status, 201);
    const child = await req('DELETE', `/v2/${REPO}/manifests/${sha256(JSON.stringify(manifest()))}`);
    expectError(child, 405, 'MANIFEST_REFERENCED', 'a child an index lists');
    assert.equal(child.headers.allow, 'GET, HEAD');
    assert.equal((await req('DELETE', `/v2/${REPO}/manifests/${sha256(index)}`)).status, 202);
    assert.equal((await req('GET', `/v2/${REPO}/manifests/good`)).status, 200);
    assert.equal((await req('GET', `/v2/${REPO}/blobs/${layerDigest}`)).status, 200);
    await stillServing();
  });

  test('descriptor sizes that are not the stored size are MANIFEST_INVALID', async () => {
    const layer = (size: number): string => JSON.stringify(manifest({ layers: [{ mediaType: LAYER_TYPE, digest: layerDigest, size }] }));
    const config = (size: number): string => JSON.stringify(manifest({ config: { mediaType: CONFIG_TYPE, digest: configDigest, size } }));
    const cases: Array<[string, string]> = [
      ['layer size + 1', layer(layerSize + 1)],
      ['layer size - 1', layer(layerSize - 1)],
      ['layer size 0', layer(0)],
      ['layer size 2^53 - 1', layer(Number.MAX_SAFE_INTEGER)],
      ['config size + 1', config(configSize + 1)],
      ['config size 0', config(0)],
      ['one layer twice with two sizes', JSON.stringify(manifest({ layers: [{ mediaType: LAYER_TYPE, digest: layerDigest, size: layerSize }, { mediaType: LAYER_TYPE, digest: layerDigest, size: layerSize + 1 }] }))],
      ['config digest as a layer with another size', JSON.stringify(manifest({ layers: [{ mediaType: LAYER_TYPE, digest: configDigest, size: configSize + 3 }] }))],
    ];
    for (const [what, body] of cases) expectError(await putManifest('sizes', body), 400, 'MANIFEST_INVALID', what);
    const good = JSON.stringify(manifest());
    const index = (size: number): string => JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(good), size }] });
    for (const size of [0, Buffer.byteLength(good) - 1, Buffer.byteLength(good) + 1]) {
      expectError(await putManifest('sizes', index(size), OCI_INDEX), 400, 'MANIFEST_INVALID', `index child size ${size}`);
    }
    expectError(await req('GET', `/v2/${REPO}/manifests/sizes`), 404, 'MANIFEST_UNKNOWN', 'nothing stored');
    await stillServing();
  });

  test('bad n in tags/list and _catalog is 400', async () => {
    for (const n of ['abc', '-1', '1.5', '1e3', '0x10', '+5', '%20', '%ff']) {
      expectError(await req('GET', `/v2/${REPO}/tags/list?n=${n}`), 400, 'PAGINATION_INVALID', `tags n=${n}`);
      expectError(await req('GET', `/v2/_catalog?n=${n}`), 400, 'PAGINATION_INVALID', `catalog n=${n}`);
    }
    // Valid but odd values are fine.
    for (const query of ['n=0', 'n=99999999999999999999', 'n=1&last=%ff', `last=${'z'.repeat(1000)}`]) {
      const tags = await req('GET', `/v2/${REPO}/tags/list?${query}`);
      assert.equal(tags.status, 200, `tags ${query}: ${tags.body.toString()}`);
      const catalog = await req('GET', `/v2/_catalog?${query}`);
      assert.equal(catalog.status, 200, `catalog ${query}: ${catalog.body.toString()}`);
    }
    expectError(await req('GET', '/v2/never/pushed/tags/list'), 404, 'NAME_UNKNOWN', 'tags of an unknown repository');
  });

  test('methods a route does not take are 405 with Allow', async () => {
    const cases: Array<[string, string]> = [
      ['POST', `/v2/${REPO}/manifests/good`],
      ['PATCH', `/v2/${REPO}/manifests/good`],
      ['PUT', `/v2/${REPO}/blobs/${blobDigest}`],
      ['POST', `/v2/${REPO}/blobs/${blobDigest}`],
      ['PUT', `/v2/${REPO}/tags/list`],
      ['DELETE', `/v2/${REPO}/tags/list`],
      ['POST', '/v2/_catalog'],
      ['DELETE', '/v2/'],
      ['GET', `/v2/${REPO}/blobs/uploads/`],
      ['POST', `/v2/${REPO}/referrers/${blobDigest}`],
    ];
    for (const [method, path] of cases) {
      const res = await req(method, path, method === 'PUT' || method === 'POST' || method === 'PATCH' ? { body: '{}' } : {});
      expectError(res, 405, 'METHOD_NOT_ALLOWED', `${method} ${path}`);
      assert.ok(typeof res.headers.allow === 'string' && res.headers.allow.length > 0, `${method} ${path} has Allow`);
      assert.ok(!res.headers.allow.split(', ').includes(method), `Allow of ${path} does not list ${method}`);
    }
    // Nothing was changed by them.
    const good = await req('GET', `/v2/${REPO}/manifests/good`);
    assert.equal(good.status, 200);
  });

  test('unknown paths are 404', async () => {
    for (const path of ['/v2/foo', '/v2/foo/bar', `/v2/${REPO}/blobs`, `/v2/${REPO}/manifests/`, `/v2/${REPO}/unknown/thing`, '/v3/', '/', '/v2_catalog', '/v2/_catalog/x', '/favicon.ico']) {
      expectError(await req('GET', path), 404, ['NOT_FOUND', 'NAME_UNKNOWN'], path);
    }
  });

  test('malformed percent-encoding in a path is a 400 OCI error', async () => {
    expectError(await req('GET', '/v2/%zz/tags/list'), 400, ['REQUEST_INVALID', 'NAME_INVALID'], 'malformed percent-encoding in a name');
    expectError(await req('GET', `/v2/${REPO}/manifests/%zz`), 400, 'REQUEST_INVALID', 'malformed percent-encoding in a reference');
    expectError(await req('GET', `/v2/${REPO}/blobs/sha256%3`), 400, ['REQUEST_INVALID', 'DIGEST_INVALID'], 'truncated percent-encoding in a digest');
    await stillServing();
  });

  test('fuzz: random manifest bodies, mutated manifests and random paths never get a 5xx', async () => {
    // Seeded so a failure can be replayed; a fresh seed each run widens coverage over time.
    let seed = Number(process.env.OUTPOST_FUZZ_SEED ?? Date.now() % 1_000_000);
    const firstSeed = seed;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
    const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    const contentTypes = [OCI_MANIFEST, OCI_INDEX, 'application/vnd.docker.distribution.manifest.v2+json', 'application/json', 'text/plain', 'application/octet-stream', '', 'a/b; charset=utf-8', ';;;'];
    const junkValues: unknown[] = [null, true, 0, -1, 1e308, 2 ** 53, 'x', '', 'sha256:', [], {}, [null], { digest: 'sha256:0' }, 'ü'.repeat(50), layerDigest];

    const context = (): string => `(fuzz seed ${firstSeed})`;

    // 1. Random bytes as manifest bodies.
    for (let i = 0; i < 120; i++) {
      const body = bytes(Math.floor(rand() * 600));
      const type = pick(contentTypes);
      const res = await putManifest(`fuzz${i}`, body, type === '' ? null : type);
      expectClientSide(res, 'PUT', `random manifest #${i} ${context()}`);
      assert.notEqual(res.status, 201, `random bytes accepted as a manifest ${context()}`);
    }

    // 2. Valid manifests with one field replaced by junk (closer to what parsers trip on).
    for (let i = 0; i < 80; i++) {
      const doc = manifest() as Record<string, unknown> & { config: Record<string, unknown>; layers: Array<Record<string, unknown>> };
      const target = pick(['root', 'config', 'layer'] as const);
      const value = pick(junkValues);
      if (target === 'root') doc[pick(['schemaVersion', 'mediaType', 'config', 'layers', 'annotations', 'subject', 'artifactType', 'manifests'])] = value;
      else if (target === 'config') doc.config[pick(['mediaType', 'digest', 'size', 'annotations', 'urls', 'platform'])] = value;
      else doc.layers[0]![pick(['mediaType', 'digest', 'size', 'annotations', 'urls'])] = value;
      const res = await putManifest(`mut${i}`, JSON.stringify(doc), pick(contentTypes) || null);
      expectClientSide(res, 'PUT', `mutated manifest #${i} ${JSON.stringify(doc).slice(0, 200)} ${context()}`);
    }

    // 3. Random paths and methods.
    const segments = ['v2', REPO, 'manifests', 'blobs', 'uploads', 'tags', 'list', '_catalog', 'referrers', '..', '.', '', '%2e', '%2F', '%00', '%ff', '%', 'latest', blobDigest, 'sha256:', randomUUID(), 'A', '~', '!', "'", '(', ')', '*', '@', '$', ';', '=', '+', ',', '[', ']'];
    for (let i = 0; i < 200; i++) {
      const parts = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => pick(segments));
      const path = `/${rand() < 0.8 ? 'v2/' : ''}${parts.join('/')}${rand() < 0.3 ? `?${pick(['n', 'last', 'digest', 'mount', 'from'])}=${pick(segments)}` : ''}`;
      const method = pick(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS']);
      const res = await req(method, path, method === 'PUT' || method === 'POST' || method === 'PATCH' ? { body: bytes(Math.floor(rand() * 64)) } : {});
      expectClientSide(res, method, `${path} ${context()}`);
    }
    await stillServing();
  });

  test('the node still serves the good image at the end', async () => {
    const res = await req('GET', '/v2/');
    assert.equal(res.status, 200);
    const good = await req('GET', `/v2/${REPO}/manifests/good`);
    assert.equal(good.status, 200);
    assert.equal(good.headers['docker-content-digest'], sha256(JSON.stringify(manifest())));
    const blobRes = await req('GET', `/v2/${REPO}/blobs/${blobDigest}`);
    assert.equal(blobRes.status, 200);
    assert.ok(blobRes.body.equals(blob));
  });
});
