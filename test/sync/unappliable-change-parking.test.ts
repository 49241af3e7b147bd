import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createConnectedRegistry, startEdge, tagDigest, waitFor } from '../helpers/hierarchy.js';
import { OCI_MANIFEST, TestClient, sha256 } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { ManualClock } from '../../src/core/clock.js';
import {
  FAST_SYNC, blobFile, detailsAtRoot, edgeStore, getManifest, pushImage, startRoot, type Root,
} from './sync-fixture.js';

/**
 * Pushes an image under `tag` at the root whose layer's bytes the root has lost before the
 * manifest arrives (a blob DELETE at an older root, a disk fault): the edge can never fetch it.
 * Returns the manifest digest, the layer and its bytes (to put back).
 */
async function pushImageWithLostLayer(root: Root, tag: string): Promise<{ digest: string; layer: string; bytes: Buffer; body: string }> {
  const bytes = randomBytes(4096);
  const config = JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] }, nonce: tag });
  const configDigest = await root.admin.pushBlob('app', config);
  const layer = await root.admin.pushBlob('app', bytes);
  await rm(blobFile(root.node, layer));
  const body = JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: Buffer.byteLength(config) },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: bytes.length }],
  });
  const res = await root.admin.putManifest('app', tag, body);
  assert.equal(res.status, 201, await res.text());
  return { digest: sha256(body), layer, bytes, body };
}

/**
 * An edge never lets one manifest it cannot complete block the rest of its parent's change log
 * (docs/architecture.md, "Parked items"): it parks the item (durably), moves on, reports it in
 * its status details at the root, retries it later, and forgets it once it succeeds. The other
 * cases — a manifest this registry refuses, one the parent deletes, a full reconcile past it, a
 * parent failing one item with 5xx — are pinned on a fake parent (pull-sync.test.ts).
 */
describe('an edge parks a change it cannot complete and syncs the rest', () => {
  const clock = new ManualClock(Date.now());
  let root: Root;
  let edge: TestNode;
  let atEdge: TestClient;
  const name = 'edgeparking';

  before(async () => {
    root = await startRoot();
    const cr = await createConnectedRegistry(root.admin, { name, mode: 'ReadOnly', repositories: ['app'], logLevel: 'None' });
    edge = await startEdge(cr.connectionString, { app: { ...FAST_SYNC, clock } });
    atEdge = new TestClient(edge.url);
    await waitFor('the first sync', async () => (await edgeStore(edge).getCursor()) !== null);
  });

  after(async () => {
    await edge?.close();
    await root?.node.close();
  });

  test('a manifest whose blob the parent lost is parked and reported; later changes arrive; it syncs once the blob is back', async () => {
    const victim = await pushImageWithLostLayer(root, 'broken');
    const later = await pushImage(root.admin, 'app', 'later');
    await waitFor('app:later at the edge', async () => (await tagDigest(atEdge, 'app', 'later')) === later.digest);
    assert.equal((await getManifest(atEdge, 'app', victim.digest)).status, 404);
    const detail = await waitFor('the parked item at the root', async () =>
      (await detailsAtRoot(root, name)).find((d) => d.type === 'SyncItemFailed' && d.digest === victim.digest));
    assert.equal(detail.repository, 'app');
    assert.equal(detail.code, 'BLOB_UNKNOWN');
    assert.ok(detail.description.includes(`app:broken@${victim.digest}`), detail.description);

    // Back at the parent: the next retry (backoff, on the agent's clock) completes it.
    const file = blobFile(root.node, victim.layer);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, victim.bytes);
    await waitFor('the parked manifest synced on retry', async () => {
      clock.advance(30_000);
      return (await getManifest(atEdge, 'app', victim.digest)).status === 200;
    });
    assert.equal(await tagDigest(atEdge, 'app', 'broken'), victim.digest);
    await waitFor('the detail cleared at the root', async () =>
      !(await detailsAtRoot(root, name)).some((d) => d.type === 'SyncItemFailed'));
  });
});
