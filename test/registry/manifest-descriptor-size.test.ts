import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient, sha256, OCI_INDEX, OCI_MANIFEST } from '../helpers/oci-client.js';
import { createConnectedRegistry, startEdge, tagDigest, waitFor } from '../helpers/hierarchy.js';

/**
 * A descriptor's `size` must be the size of what it points at: a manifest whose config, layer or
 * child manifest declares another size is MANIFEST_INVALID, at the root's PUT and when an edge
 * commits a manifest it pulled (both go through the metadata putManifest transaction).
 */

const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';

interface ErrorJson {
  errors: Array<{ code: string; message: string; detail: { mismatched?: Array<{ digest: string; declared: number; stored: number }> } }>;
}

describe('manifest descriptor sizes must match the stored content', () => {
  let node: TestNode;
  let c: TestClient;
  let config: { digest: string; size: number };
  let layer: { digest: string; size: number };

  const image = (configSize: number, layerSize: number, extra: Record<string, unknown> = {}): string => JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: CONFIG_TYPE, digest: config.digest, size: configSize },
    layers: [{ mediaType: LAYER_TYPE, digest: layer.digest, size: layerSize }],
    ...extra,
  });

  async function refused(res: Response, what: string): Promise<ErrorJson['errors'][number]> {
    const text = await res.text();
    assert.equal(res.status, 400, `${what}: ${text}`);
    const error = (JSON.parse(text) as ErrorJson).errors[0]!;
    assert.equal(error.code, 'MANIFEST_INVALID', what);
    return error;
  }

  before(async () => {
    node = await startTestNode();
    c = new TestClient(node.url);
    const configBody = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    config = { digest: await c.pushBlob('size/app', configBody), size: Buffer.byteLength(configBody) };
    const layerBody = randomBytes(4000);
    layer = { digest: await c.pushBlob('size/app', layerBody), size: layerBody.length };
  });
  after(() => node.close());

  test('a layer declared one byte longer: MANIFEST_INVALID naming it, nothing stored', async () => {
    const body = image(config.size, layer.size + 1);
    const error = await refused(await c.putManifest('size/app', 'bad-layer', body), 'layer + 1');
    assert.deepEqual(error.detail.mismatched, [{ digest: layer.digest, declared: layer.size + 1, stored: layer.size }]);
    assert.match(error.message, new RegExp(`${layer.digest} is ${layer.size} bytes, not ${layer.size + 1}`));
    assert.equal((await c.request('GET', '/v2/size/app/manifests/bad-layer')).status, 404);
    assert.equal((await c.request('GET', `/v2/size/app/manifests/${sha256(body)}`)).status, 404);
  });

  test('a shorter layer, a config with the wrong size, both at once', async () => {
    await refused(await c.putManifest('size/app', 'short', image(config.size, layer.size - 1)), 'layer - 1');
    await refused(await c.putManifest('size/app', 'zero', image(config.size, 0)), 'layer 0');
    const both = await refused(await c.putManifest('size/app', 'both', image(config.size + 5, layer.size * 2)), 'both');
    assert.equal(both.detail.mismatched?.length, 2);
    await refused(await c.putManifest('size/app', sha256(image(config.size + 1, layer.size)), image(config.size + 1, layer.size)), 'by digest');
  });

  test('one digest declared with two sizes is MANIFEST_INVALID', async () => {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: CONFIG_TYPE, digest: config.digest, size: config.size },
      layers: [
        { mediaType: LAYER_TYPE, digest: layer.digest, size: layer.size },
        { mediaType: LAYER_TYPE, digest: layer.digest, size: layer.size + 7 },
      ],
    });
    await refused(await c.putManifest('size/app', 'twice', body), 'two sizes');
  });

  test('a child manifest of an index with the wrong size is MANIFEST_INVALID; the right one is accepted', async () => {
    const child = image(config.size, layer.size);
    assert.equal((await c.putManifest('size/app', 'child', child)).status, 201);
    const index = (size: number): string => JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(child), size, platform: { os: 'linux', architecture: 'amd64' } }],
    });
    const error = await refused(await c.putManifest('size/app', 'index', index(Buffer.byteLength(child) + 1), OCI_INDEX), 'child + 1');
    assert.deepEqual(error.detail.mismatched, [{ digest: sha256(child), declared: Buffer.byteLength(child) + 1, stored: Buffer.byteLength(child) }]);
    assert.equal((await c.putManifest('size/app', 'index', index(Buffer.byteLength(child)), OCI_INDEX)).status, 201);
  });

  test('a non-distributable layer is not held to a size (the registry does not store it)', async () => {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: CONFIG_TYPE, digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', digest: sha256('elsewhere'), size: 123, urls: ['https://example.com/layer'] }],
    });
    assert.equal((await c.putManifest('size/app', 'foreign', body)).status, 201);
  });
});

describe('an edge refuses a pulled manifest whose descriptor sizes disagree with the blobs', () => {
  let root: TestNode;
  let edge: TestNode | null = null;

  before(async () => {
    root = await startTestNode();
  });
  after(async () => {
    await edge?.close();
    await root.close();
  });

  test('a manifest the root accepted before this check never reaches the edge', async () => {
    const admin = new TestClient(root.url);
    const good = await admin.pushImage('app', 'good');
    // A manifest stored at the root before sizes were checked: its layer is declared 1 byte too long.
    const layerBody = randomBytes(1500);
    const layerDigest = await admin.pushBlob('app', layerBody);
    const configBody = JSON.stringify({ legacy: true });
    const configDigest = await admin.pushBlob('app', configBody);
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: CONFIG_TYPE, digest: configDigest, size: Buffer.byteLength(configBody) },
      layers: [{ mediaType: LAYER_TYPE, digest: layerDigest, size: layerBody.length + 1 }],
    });
    const digest = sha256(body);
    // Its bytes in the blob store (through another repository), its metadata as the old code wrote it (no declared sizes).
    await admin.pushBlob('legacy/bytes', body);
    await root.node.metadata.putManifest({ origin: 'local', actor: null }, {
      repository: 'app', digest, mediaType: OCI_MANIFEST, size: Buffer.byteLength(body), artifactType: CONFIG_TYPE,
      subject: null, annotations: null, blobs: [configDigest, layerDigest], manifests: [], tag: 'legacy',
    });
    assert.equal(await tagDigest(admin, 'app', 'legacy'), digest, 'the root serves the legacy manifest');

    const cr = await createConnectedRegistry(admin, { name: 'sizeedge', mode: 'ReadOnly', repositories: ['app'], logLevel: 'None' });
    edge = await startEdge(cr.connectionString, { app: { syncPollSeconds: 1, heartbeatSeconds: 1 } });
    const atEdge = new TestClient(edge.url);
    await waitFor('app:good at the edge', async () => (await tagDigest(atEdge, 'app', 'good')) === good.digest, 20_000);
    // Give the agent time to try the legacy manifest too (it is pulled in the same reconcile).
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.equal(await tagDigest(atEdge, 'app', 'legacy'), null, 'the edge does not take the manifest');
    assert.equal((await atEdge.request('GET', `/v2/app/manifests/${digest}`)).status, 404);
  });
});
