import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient, sha256, errorCode, OCI_MANIFEST, OCI_INDEX } from '../helpers/oci-client.js';

let node: TestNode;
let c: TestClient;

before(async () => {
  node = await startTestNode();
  c = new TestClient(node.url);
});
after(async () => node.close());

describe('base and errors', () => {
  test('GET /v2/ answers 200 with the API version header', async () => {
    const res = await c.request('GET', '/v2/');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });
  test('unknown endpoints are 404 with OCI error JSON', async () => {
    const res = await c.request('GET', '/v2/repo/nothing/here');
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'NOT_FOUND');
  });
  test('a method a route does not serve is 405 with Allow', async () => {
    const res = await c.request('POST', '/v2/repo/tags/list');
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET');
    assert.equal(await errorCode(res), 'METHOD_NOT_ALLOWED');
  });
});

describe('blobs', () => {
  test('monolithic POST with digest, then GET and HEAD with the right headers', async () => {
    const data = randomBytes(5000);
    const digest = await c.pushBlob('blobs/mono', data);
    const head = await c.request('HEAD', `/v2/blobs/mono/blobs/${digest}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '5000');
    assert.equal(head.headers.get('docker-content-digest'), digest);
    const get = await c.request('GET', `/v2/blobs/mono/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);
  });
  test('sha512 digests are verified and served', async () => {
    const data = randomBytes(100);
    const digest = `sha512:${createHash('sha512').update(data).digest('hex')}`;
    const res = await c.request('POST', `/v2/blobs/sha512/blobs/uploads/?digest=${digest}`, { body: data });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const get = await c.request('GET', `/v2/blobs/sha512/blobs/${digest}`);
    assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);
  });
  test('a wrong digest is DIGEST_INVALID and nothing is stored', async () => {
    const claimed = sha256('something else');
    const res = await c.request('POST', `/v2/blobs/bad/blobs/uploads/?digest=${claimed}`, { body: 'hello' });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'DIGEST_INVALID');
    assert.equal((await c.request('HEAD', `/v2/blobs/bad/blobs/${claimed}`)).status, 404);
    assert.equal((await c.request('HEAD', `/v2/blobs/bad/blobs/${sha256('hello')}`)).status, 404);
  });
  test('ranges: 206 with Content-Range, suffix ranges, 416 when unsatisfiable', async () => {
    const data = randomBytes(1000);
    const digest = await c.pushBlob('blobs/range', data);
    const part = await c.request('GET', `/v2/blobs/range/blobs/${digest}`, { headers: { Range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 100-199/1000');
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), data.subarray(100, 200));
    const suffix = await c.request('GET', `/v2/blobs/range/blobs/${digest}`, { headers: { Range: 'bytes=-10' } });
    assert.deepEqual(Buffer.from(await suffix.arrayBuffer()), data.subarray(990));
    const beyond = await c.request('GET', `/v2/blobs/range/blobs/${digest}`, { headers: { Range: 'bytes=1000-' } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), 'bytes */1000');
    assert.equal(await errorCode(beyond), 'RANGE_INVALID');
  });
  test('a blob is visible only in repositories that hold it', async () => {
    const digest = await c.pushBlob('blobs/owner', 'private bytes');
    const res = await c.request('GET', `/v2/blobs/other/blobs/${digest}`);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'BLOB_UNKNOWN');
  });
  test('DELETE of a blob removes it from the repository', async () => {
    const digest = await c.pushBlob('blobs/del', 'to delete');
    assert.equal((await c.request('DELETE', `/v2/blobs/del/blobs/${digest}`)).status, 202);
    assert.equal((await c.request('HEAD', `/v2/blobs/del/blobs/${digest}`)).status, 404);
    const again = await c.request('DELETE', `/v2/blobs/del/blobs/${digest}`);
    assert.equal(again.status, 404);
    assert.equal(await errorCode(again), 'BLOB_UNKNOWN');
  });
  test('an empty blob can be pushed and read', async () => {
    const digest = await c.pushBlob('blobs/empty', '');
    const res = await c.request('GET', `/v2/blobs/empty/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '0');
  });
});

describe('upload sessions', () => {
  async function start(repo: string): Promise<string> {
    const res = await c.request('POST', `/v2/${repo}/blobs/uploads/`);
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('range'), '0-0');
    assert.ok(res.headers.get('docker-upload-uuid'));
    return res.headers.get('location')!;
  }

  test('POST then PUT with the whole body', async () => {
    const location = await start('up/post-put');
    const data = randomBytes(3000);
    const res = await c.request('PUT', `${location}?digest=${sha256(data)}`, { body: data, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/up/post-put/blobs/${sha256(data)}`);
    assert.equal((await c.request('HEAD', `/v2/up/post-put/blobs/${sha256(data)}`)).status, 200);
  });

  test('chunked PATCHes with Content-Range, status GET, out-of-order chunk 416, then PUT', async () => {
    const location = await start('up/chunked');
    const data = randomBytes(10_000);
    const first = await c.request('PATCH', location, { body: data.subarray(0, 4000), headers: { 'Content-Range': '0-3999', 'Content-Type': 'application/octet-stream' } });
    assert.equal(first.status, 202);
    assert.equal(first.headers.get('range'), '0-3999');
    const status = await c.request('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-3999');
    assert.equal(status.headers.get('location'), location);
    const repeated = await c.request('PATCH', location, { body: data.subarray(0, 4000), headers: { 'Content-Range': '0-3999', 'Content-Type': 'application/octet-stream' } });
    assert.equal(repeated.status, 416);
    assert.equal(await errorCode(repeated), 'RANGE_INVALID');
    const skipped = await c.request('PATCH', location, { body: data.subarray(5000, 6000), headers: { 'Content-Range': '5000-5999', 'Content-Type': 'application/octet-stream' } });
    assert.equal(skipped.status, 416);
    const second = await c.request('PATCH', location, { body: data.subarray(4000), headers: { 'Content-Range': '4000-9999', 'Content-Type': 'application/octet-stream' } });
    assert.equal(second.status, 202);
    const done = await c.request('PUT', `${location}?digest=${sha256(data)}`);
    assert.equal(done.status, 201);
    const get = await c.request('GET', `/v2/up/chunked/blobs/${sha256(data)}`);
    assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);
  });

  test('a streamed PATCH without Content-Range, then PUT with the last chunk', async () => {
    const location = await start('up/stream');
    const data = randomBytes(7000);
    assert.equal((await c.request('PATCH', location, { body: data.subarray(0, 5000) })).status, 202);
    const done = await c.request('PUT', `${location}?digest=${sha256(data)}`, { body: data.subarray(5000), headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(done.status, 201);
  });

  test('a PUT with a wrong digest is refused and keeps the session', async () => {
    const location = await start('up/wrong');
    await c.request('PATCH', location, { body: 'abc' });
    const bad = await c.request('PUT', `${location}?digest=${sha256('xyz')}`);
    assert.equal(bad.status, 400);
    assert.equal(await errorCode(bad), 'DIGEST_INVALID');
    assert.equal((await c.request('GET', location)).status, 204);
    assert.equal((await c.request('PUT', `${location}?digest=${sha256('abc')}`)).status, 201);
  });

  test('DELETE cancels a session; it is unknown afterwards', async () => {
    const location = await start('up/cancel');
    assert.equal((await c.request('DELETE', location)).status, 204);
    const res = await c.request('GET', location);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'BLOB_UPLOAD_UNKNOWN');
  });

  test('a session belongs to its repository', async () => {
    const location = await start('up/mine');
    const res = await c.request('GET', location.replace('up/mine', 'up/yours'));
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'BLOB_UPLOAD_UNKNOWN');
  });

  test('cross-repository mount with from, without from, and fallback to a session', async () => {
    const digest = await c.pushBlob('mount/source', 'shared layer');
    const mounted = await c.request('POST', `/v2/mount/target/blobs/uploads/?mount=${digest}&from=mount/source`);
    assert.equal(mounted.status, 201);
    assert.equal(mounted.headers.get('docker-content-digest'), digest);
    assert.equal((await c.request('HEAD', `/v2/mount/target/blobs/${digest}`)).status, 200);
    const anywhere = await c.request('POST', `/v2/mount/third/blobs/uploads/?mount=${digest}`);
    assert.equal(anywhere.status, 201);
    const wrongSource = await c.request('POST', `/v2/mount/fourth/blobs/uploads/?mount=${digest}&from=mount/empty`);
    assert.equal(wrongSource.status, 202);
    assert.ok(wrongSource.headers.get('location')?.includes('/v2/mount/fourth/blobs/uploads/'));
    const missing = await c.request('POST', `/v2/mount/fourth/blobs/uploads/?mount=${sha256('never pushed')}&from=mount/source`);
    assert.equal(missing.status, 202);
  });
});

describe('manifests', () => {
  test('PUT by tag, GET and HEAD by tag and by digest with exact headers', async () => {
    const image = await c.pushImage('man/basic', 'v1', { layers: 2 });
    for (const ref of ['v1', image.digest]) {
      const res = await c.request('GET', `/v2/man/basic/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(res.headers.get('docker-content-digest'), image.digest);
      assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(image.body)));
      assert.equal(await res.text(), image.body);
      const head = await c.request('HEAD', `/v2/man/basic/manifests/${ref}`);
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(image.body)));
    }
  });

  test('PUT by digest; a digest that does not match the body is DIGEST_INVALID', async () => {
    const image = await c.pushImage('man/bydigest', 'tmp');
    const ok = await c.putManifest('man/bydigest', image.digest, image.body);
    assert.equal(ok.status, 201);
    assert.equal(ok.headers.get('location'), `/v2/man/bydigest/manifests/${image.digest}`);
    const bad = await c.putManifest('man/bydigest', sha256('other'), image.body);
    assert.equal(bad.status, 400);
    assert.equal(await errorCode(bad), 'DIGEST_INVALID');
  });

  test('a manifest whose blobs are missing is MANIFEST_BLOB_UNKNOWN', async () => {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('nope'), size: 4 },
      layers: [],
    });
    const res = await c.putManifest('man/missing', 'v1', body);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'MANIFEST_BLOB_UNKNOWN');
    assert.equal((await c.request('GET', '/v2/man/missing/manifests/v1')).status, 404);
  });

  test('image index: children must exist; all platforms are served', async () => {
    const amd = await c.pushImage('man/index', 'amd64');
    const arm = await c.pushImage('man/index', 'arm64');
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: amd.digest, size: Buffer.byteLength(amd.body), platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: OCI_MANIFEST, digest: arm.digest, size: Buffer.byteLength(arm.body), platform: { os: 'linux', architecture: 'arm64' } },
      ],
    });
    assert.equal((await c.putManifest('man/index', 'multi', index, OCI_INDEX)).status, 201);
    const res = await c.request('GET', '/v2/man/index/manifests/multi', { headers: { Accept: `${OCI_INDEX}, ${OCI_MANIFEST}` } });
    assert.equal(res.headers.get('content-type'), OCI_INDEX);
    const orphan = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('x'), size: 1 }] });
    const bad = await c.putManifest('man/index', 'orphan', orphan, OCI_INDEX);
    assert.equal(bad.status, 404);
    assert.equal(await errorCode(bad), 'MANIFEST_BLOB_UNKNOWN');
  });

  test('docker schema2 manifest and manifest list round-trip with their media types', async () => {
    const config = await c.pushBlob('man/docker', '{"architecture":"amd64","os":"linux"}');
    const layer = await c.pushBlob('man/docker', 'layer');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 37, digest: config },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 5, digest: layer }],
    });
    assert.equal((await c.putManifest('man/docker', 'v2', manifest, 'application/vnd.docker.distribution.manifest.v2+json')).status, 201);
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [{ mediaType: 'application/vnd.docker.distribution.manifest.v2+json', size: manifest.length, digest: sha256(manifest), platform: { architecture: 'amd64', os: 'linux' } }],
    });
    assert.equal((await c.putManifest('man/docker', 'list', list, 'application/vnd.docker.distribution.manifest.list.v2+json')).status, 201);
    const res = await c.request('GET', '/v2/man/docker/manifests/list', { headers: { Accept: 'application/vnd.docker.distribution.manifest.list.v2+json' } });
    assert.equal(res.headers.get('content-type'), 'application/vnd.docker.distribution.manifest.list.v2+json');
    assert.equal(res.headers.get('docker-content-digest'), sha256(list));
  });

  test('content negotiation: a client that accepts only other manifest types gets MANIFEST_UNKNOWN', async () => {
    await c.pushImage('man/negotiate', 'v1');
    const res = await c.request('GET', '/v2/man/negotiate/manifests/v1', { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'MANIFEST_UNKNOWN');
    const any = await c.request('GET', '/v2/man/negotiate/manifests/v1', { headers: { Accept: '*/*' } });
    assert.equal(any.status, 200);
  });

  test('tag moves point to the newest manifest', async () => {
    const first = await c.pushImage('man/move', 'latest');
    const second = await c.pushImage('man/move', 'latest');
    assert.notEqual(first.digest, second.digest);
    const res = await c.request('HEAD', '/v2/man/move/manifests/latest');
    assert.equal(res.headers.get('docker-content-digest'), second.digest);
    assert.equal((await c.request('HEAD', `/v2/man/move/manifests/${first.digest}`)).status, 200);
  });

  test('DELETE of a tag keeps the manifest; DELETE by digest removes the manifest and its tags', async () => {
    const image = await c.pushImage('man/delete', 'a');
    await c.putManifest('man/delete', 'b', image.body);
    assert.equal((await c.request('DELETE', '/v2/man/delete/manifests/a')).status, 202);
    assert.equal((await c.request('GET', '/v2/man/delete/manifests/a')).status, 404);
    assert.equal((await c.request('GET', `/v2/man/delete/manifests/${image.digest}`)).status, 200);
    assert.equal((await c.request('DELETE', `/v2/man/delete/manifests/${image.digest}`)).status, 202);
    assert.equal((await c.request('GET', '/v2/man/delete/manifests/b')).status, 404);
    const again = await c.request('DELETE', `/v2/man/delete/manifests/${image.digest}`);
    assert.equal(again.status, 404);
    assert.equal(await errorCode(again), 'MANIFEST_UNKNOWN');
  });

  test('manifests over 4 MiB are refused with 413', async () => {
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, annotations: { big: 'x'.repeat(4 * 1024 * 1024) } });
    const res = await c.putManifest('man/large', 'v1', body);
    assert.equal(res.status, 413);
    assert.equal(await errorCode(res), 'MANIFEST_TOO_LARGE');
  });
});

describe('referrers', () => {
  test('a manifest with subject answers OCI-Subject and is listed, filtered by artifactType', async () => {
    const subject = await c.pushImage('ref/app', 'v1');
    const emptyConfig = await c.pushBlob('ref/app', '{}');
    const artifact = async (artifactType: string, note: string) => {
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyConfig, size: 2 },
        layers: [],
        subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: Buffer.byteLength(subject.body) },
        annotations: { note },
      });
      const res = await c.putManifest('ref/app', sha256(body), body);
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('oci-subject'), subject.digest);
      return sha256(body);
    };
    const sbom = await artifact('application/vnd.example.sbom', 'sbom');
    const sig = await artifact('application/vnd.example.signature', 'sig');

    const all = await c.request('GET', `/v2/ref/app/referrers/${subject.digest}`);
    assert.equal(all.status, 200);
    assert.equal(all.headers.get('content-type'), OCI_INDEX);
    assert.equal(all.headers.get('oci-filters-applied'), null);
    const index = (await all.json()) as { manifests: Array<{ digest: string; artifactType: string; annotations: Record<string, string> }> };
    assert.deepEqual(index.manifests.map((m) => m.digest).sort(), [sbom, sig].sort());
    assert.equal(index.manifests.find((m) => m.digest === sbom)?.annotations.note, 'sbom');

    const filtered = await c.request('GET', `/v2/ref/app/referrers/${subject.digest}?artifactType=application/vnd.example.signature`);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    const only = (await filtered.json()) as { manifests: Array<{ digest: string }> };
    assert.deepEqual(only.manifests.map((m) => m.digest), [sig]);

    const none = await c.request('GET', `/v2/ref/app/referrers/${sha256('no referrers')}`);
    assert.equal(none.status, 200);
    assert.deepEqual(((await none.json()) as { manifests: unknown[] }).manifests, []);
    const bad = await c.request('GET', '/v2/ref/app/referrers/sha256:zz');
    assert.equal(bad.status, 400);
  });
});

describe('discovery', () => {
  test('tags/list in lexical order with n, last and Link', async () => {
    const image = await c.pushImage('disc/tags', 'b');
    for (const tag of ['c', 'a', 'B', 'd']) await c.putManifest('disc/tags', tag, image.body);
    const all = await c.request('GET', '/v2/disc/tags/tags/list');
    assert.deepEqual(await all.json(), { name: 'disc/tags', tags: ['B', 'a', 'b', 'c', 'd'] });
    const page = await c.request('GET', '/v2/disc/tags/tags/list?n=2&last=a');
    assert.deepEqual(((await page.json()) as { tags: string[] }).tags, ['b', 'c']);
    assert.equal(page.headers.get('link'), '</v2/disc/tags/tags/list?last=c&n=2>; rel="next"');
    const lastPage = await c.request('GET', '/v2/disc/tags/tags/list?n=2&last=c');
    assert.deepEqual(((await lastPage.json()) as { tags: string[] }).tags, ['d']);
    assert.equal(lastPage.headers.get('link'), null);
    const zero = await c.request('GET', '/v2/disc/tags/tags/list?n=0');
    assert.deepEqual(((await zero.json()) as { tags: string[] }).tags, []);
  });
  test('tags/list of an unknown repository is NAME_UNKNOWN', async () => {
    const res = await c.request('GET', '/v2/disc/nothing/tags/list');
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'NAME_UNKNOWN');
  });
  test('_catalog with n, last and Link walks every repository once', async () => {
    for (const name of ['cat/x', 'cat/y', 'cat/z']) await c.pushImage(name, 'v1');
    const seen: string[] = [];
    let url: string | null = '/v2/_catalog?n=2';
    let pages = 0;
    while (url && pages < 100) {
      const res: Response = await c.request('GET', url);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { repositories: string[] };
      assert.ok(body.repositories.length <= 2);
      seen.push(...body.repositories);
      url = /<([^>]+)>/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
      pages++;
    }
    assert.deepEqual(seen, [...seen].sort());
    assert.equal(new Set(seen).size, seen.length);
    for (const name of ['cat/x', 'cat/y', 'cat/z']) assert.ok(seen.includes(name), name);
  });
});
