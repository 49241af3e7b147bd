import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient, sha256, OCI_INDEX, OCI_MANIFEST } from '../helpers/oci-client.js';

/**
 * Manifests stay whole: a blob a manifest of the repository uses (config or layer) cannot be
 * deleted from it, nor a manifest an index of the repository lists. The answer is 405 (the
 * spec's answers to a blob DELETE are 202, 404 and 405) with an OCI error naming how many
 * manifests hold on to it and which.
 */

interface ErrorJson {
  errors: Array<{ code: string; message: string; detail: { digest: string; count: number; manifests: string[] } }>;
}

async function refusal(res: Response): Promise<ErrorJson['errors'][number]> {
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'GET, HEAD');
  return ((await res.json()) as ErrorJson).errors[0]!;
}

describe('a blob or manifest that a live manifest uses cannot be deleted', () => {
  let node: TestNode;
  let c: TestClient;

  before(async () => {
    node = await startTestNode();
    c = new TestClient(node.url);
  });
  after(() => node.close());

  test('a layer of a manifest: 405 BLOB_REFERENCED, the blob and the manifest stay readable', async () => {
    const image = await c.pushImage('ref/layer', 'v1', { layers: 2 });
    const error = await refusal(await c.request('DELETE', `/v2/ref/layer/blobs/${image.layers[1]}`));
    assert.equal(error.code, 'BLOB_REFERENCED');
    assert.match(error.message, /1 manifest\b/);
    assert.deepEqual(error.detail, { digest: image.layers[1], count: 1, manifests: [image.digest] });
    assert.equal((await c.request('GET', `/v2/ref/layer/blobs/${image.layers[1]}`)).status, 200);
    assert.equal((await c.request('GET', '/v2/ref/layer/manifests/v1')).status, 200);
  });

  test('the config blob of a manifest: 405 BLOB_REFERENCED', async () => {
    const image = await c.pushImage('ref/config', 'v1');
    const config = (JSON.parse(image.body) as { config: { digest: string } }).config.digest;
    const error = await refusal(await c.request('DELETE', `/v2/ref/config/blobs/${config}`));
    assert.equal(error.code, 'BLOB_REFERENCED');
    assert.equal((await c.request('HEAD', `/v2/ref/config/blobs/${config}`)).status, 200);
  });

  test('a layer shared by several manifests counts them all and lists up to five', async () => {
    const layer = randomBytes(2000);
    const layerDigest = await c.pushBlob('ref/shared', layer);
    const digests: string[] = [];
    for (let i = 0; i < 7; i++) {
      const config = JSON.stringify({ i });
      const configDigest = await c.pushBlob('ref/shared', config);
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
      });
      assert.equal((await c.putManifest('ref/shared', `t${i}`, body)).status, 201);
      digests.push(sha256(body));
    }
    const error = await refusal(await c.request('DELETE', `/v2/ref/shared/blobs/${layerDigest}`));
    assert.match(error.message, /7 manifests\b/);
    assert.equal(error.detail.count, 7);
    assert.equal(error.detail.manifests.length, 5);
    for (const digest of error.detail.manifests) assert.ok(digests.includes(digest));
    // Once no manifest uses it, the blob can go.
    for (const digest of digests) assert.equal((await c.request('DELETE', `/v2/ref/shared/manifests/${digest}`)).status, 202);
    assert.equal((await c.request('DELETE', `/v2/ref/shared/blobs/${layerDigest}`)).status, 202);
    assert.equal((await c.request('GET', `/v2/ref/shared/blobs/${layerDigest}`)).status, 404);
  });

  test('only manifests of the same repository count: elsewhere the blob may be deleted', async () => {
    const image = await c.pushImage('ref/owner', 'v1');
    assert.equal((await c.request('POST', `/v2/ref/other/blobs/uploads/?mount=${image.layers[0]}&from=ref/owner`)).status, 201);
    assert.equal((await c.request('DELETE', `/v2/ref/other/blobs/${image.layers[0]}`)).status, 202);
    assert.equal((await c.request('GET', `/v2/ref/owner/blobs/${image.layers[0]}`)).status, 200);
  });

  test('a child manifest an index lists: 405 MANIFEST_REFERENCED until the index goes; a tag on it can go', async () => {
    const amd = await c.pushImage('ref/multi', 'amd');
    const arm = await c.pushImage('ref/multi', 'arm');
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [amd, arm].map((m) => ({ mediaType: OCI_MANIFEST, digest: m.digest, size: Buffer.byteLength(m.body) })),
    });
    assert.equal((await c.putManifest('ref/multi', 'all', index, OCI_INDEX)).status, 201);
    const error = await refusal(await c.request('DELETE', `/v2/ref/multi/manifests/${amd.digest}`));
    assert.equal(error.code, 'MANIFEST_REFERENCED');
    assert.match(error.message, /1 index\b/);
    assert.deepEqual(error.detail, { digest: amd.digest, count: 1, manifests: [sha256(index)] });
    assert.equal((await c.request('GET', `/v2/ref/multi/manifests/${amd.digest}`)).status, 200);
    assert.equal((await c.request('GET', '/v2/ref/multi/manifests/all')).status, 200);
    // Deleting a tag never breaks a manifest: it may go.
    assert.equal((await c.request('DELETE', '/v2/ref/multi/manifests/amd')).status, 202);
    // The index first, then its children.
    assert.equal((await c.request('DELETE', `/v2/ref/multi/manifests/${sha256(index)}`)).status, 202);
    assert.equal((await c.request('DELETE', `/v2/ref/multi/manifests/${amd.digest}`)).status, 202);
  });

  test('a blob that is not linked is still 404, and an unreferenced one 202', async () => {
    assert.equal((await c.request('DELETE', `/v2/ref/layer/blobs/${sha256('never')}`)).status, 404);
    const loose = await c.pushBlob('ref/loose', 'loose bytes');
    assert.equal((await c.request('DELETE', `/v2/ref/loose/blobs/${loose}`)).status, 202);
  });
});
