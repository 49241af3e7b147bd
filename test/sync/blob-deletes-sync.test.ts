import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { tagDigest, waitFor } from '../helpers/hierarchy.js';
import { TestClient, sha256 } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { GateProxy, detailsAtRoot, edgeStore, getManifest, pushImage, startGatedEdge, type GatedEdge, type Root } from './sync-fixture.js';

const blobStatus = async (client: TestClient, digest: string): Promise<number> =>
  (await client.request('HEAD', `/v2/app/blobs/${digest}`)).status;

/**
 * Blob deletes travel like other changes (docs/architecture.md, "Connected node and sync agent"):
 * a blob DELETE at a ReadWrite edge is carried up to the parent, a blob DELETE at the parent
 * reaches its children, and a parent that refuses one (405, 404) answers for good. A blob a
 * client deletes at the edge while a manifest that needs it is being pulled never ends the
 * sync session.
 */
describe('blob deletes between an edge and its parent', () => {
  let gated: GatedEdge;
  let root: Root;
  let gate: GateProxy;
  let edge: TestNode;
  let atEdge: TestClient;

  before(async () => {
    gated = await startGatedEdge('edgeblobdel', 'ReadWrite');
    ({ root, gate, edge, atEdge } = gated);
  });

  afterEach(() => gate.releaseAll());

  after(async () => {
    await gated?.close();
  });

  const drained = async (): Promise<boolean> => (await edgeStore(edge).outboxSize()) === 0;

  /** An image pushed at the root, synced to the edge, then deleted at the root (its blobs stay linked at both). */
  async function unreferencedLayer(tag: string): Promise<string> {
    const image = await pushImage(root.admin, 'app', tag);
    await waitFor(`app:${tag} at the edge`, async () => (await tagDigest(atEdge, 'app', tag)) === image.digest);
    assert.equal((await root.admin.request('DELETE', `/v2/app/manifests/${image.digest}`)).status, 202);
    await waitFor('the manifest delete at the edge', async () => (await getManifest(atEdge, 'app', image.digest)).status === 404);
    const layer = image.blobs[1]!;
    assert.equal(await blobStatus(atEdge, layer), 200);
    assert.equal(await blobStatus(root.admin, layer), 200);
    return layer;
  }

  test('a blob deleted at the edge is deleted at the parent', async () => {
    const layer = await unreferencedLayer('edge-deletes');
    assert.equal((await atEdge.request('DELETE', `/v2/app/blobs/${layer}`)).status, 202);
    await waitFor('the blob gone at the root', async () => (await blobStatus(root.admin, layer)) === 404 && (await drained()));
    assert.equal(await blobStatus(atEdge, layer), 404);
  });

  test('a blob deleted at the parent is deleted at the edge', async () => {
    const layer = await unreferencedLayer('root-deletes');
    assert.equal((await root.admin.request('DELETE', `/v2/app/blobs/${layer}`)).status, 202);
    await waitFor('the blob gone at the edge', async () => (await blobStatus(atEdge, layer)) === 404);
  });

  test('a blob delete the parent refuses (405) is final: reported at the root, and later writes go up', async () => {
    const layer = await unreferencedLayer('refused');
    const refuse = gate.rule((method, path) => method === 'DELETE' && path.endsWith(`/blobs/${layer}`), { status: 405, code: 'UNSUPPORTED' });
    assert.equal((await atEdge.request('DELETE', `/v2/app/blobs/${layer}`)).status, 202);
    const later = await pushImage(atEdge, 'app', 'after-refusal');
    await waitFor('the later write at the root', async () => (await tagDigest(root.admin, 'app', 'after-refusal')) === later.digest && (await drained()));
    assert.equal(refuse.matched, 1, 'asked once, not retried');
    const detail = await waitFor('the refusal at the root', async () =>
      (await detailsAtRoot(root, 'edgeblobdel')).find((d) => d.type === 'OutboxRejected' && d.digest === layer));
    assert.equal(detail.code, 'UNSUPPORTED');
    assert.equal(detail.repository, 'app');
    refuse.release();
  });

  test('a blob deleted at the edge between the prefetch and the commit of a manifest that needs it does not end the session', async () => {
    // The edge's client has the layer (an upload, no manifest yet); the root pushes a manifest
    // with it and a second layer, which the link holds: the edge has prefetched all but that.
    const shared = randomBytes(3000);
    const sharedDigest = await atEdge.pushBlob('app', shared);
    const slowLayer = randomBytes(3000);
    const hold = gate.rule((method, path) => method === 'GET' && path.endsWith(`/blobs/${sha256(slowLayer)}`), 'hold');
    const image = await pushImage(root.admin, 'app', 'racing', { layers: [shared, slowLayer] });
    await waitFor('the edge fetching the held layer', async () => hold.matched >= 1);
    assert.equal((await atEdge.request('DELETE', `/v2/app/blobs/${sharedDigest}`)).status, 202);
    const activations = (): number => gate.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/activate')).length;
    const before = activations();
    hold.release();
    const later = await pushImage(root.admin, 'app', 'after-race');
    await waitFor('app:after-race at the edge', async () => (await tagDigest(atEdge, 'app', 'after-race')) === later.digest);
    assert.equal(activations(), before, 'the sync session ended and started over');
    // The manifest is either complete at the edge or parked and reported: never half there.
    const state = await waitFor('the racing manifest applied or reported', async () => {
      if ((await getManifest(atEdge, 'app', image.digest)).status === 200) return 'applied';
      return (await detailsAtRoot(root, 'edgeblobdel')).some((d) => d.type === 'SyncItemFailed' && d.digest === image.digest) ? 'parked' : null;
    });
    assert.ok(state === 'applied' || state === 'parked');
  });
});
