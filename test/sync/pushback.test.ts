import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tagDigest, waitFor } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import {
  LinkProxy, assertBlobsServed, edgeStore, getManifest, pushArtifact, pushImage, pushIndex, type Root, startLinkedEdge, type LinkedEdge } from './sync-fixture.js';

/**
 * Push-back from a ReadWrite edge (docs/architecture.md, "Connected node and sync agent": outbox): local writes are carried up in order — an
 * index after its platform manifests, an artifact after its subject, deletes too — and nothing
 * written while the link is down is lost or reordered.
 */
describe('a ReadWrite edge carries its local writes up', () => {
  let linked: LinkedEdge;
  let root: Root;
  let link: LinkProxy;
  let edge: TestNode;
  let atEdge: TestClient;

  before(async () => {
    linked = await startLinkedEdge('edgepushback', 'ReadWrite', { synced: true });
    ({ root, link, edge, atEdge } = linked);
  });

  after(async () => {
    await linked?.close();
  });

  const drained = async (): Promise<boolean> => (await edgeStore(edge).outboxSize()) === 0;

  test('an index with its platforms, and an artifact with its subject, reach the parent whole', async () => {
    const index = await pushIndex(atEdge, 'app', 'multi', [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }]);
    const sbom = await pushArtifact(atEdge, 'app', index.children[0]!, 'application/spdx+json');
    await waitFor('the index at the root', async () => (await tagDigest(root.admin, 'app', 'multi')) === index.digest && (await drained()));
    assert.equal((await getManifest(root.admin, 'app', 'multi')).body, index.body);
    for (const child of index.children) {
      assert.equal((await getManifest(root.admin, 'app', child.digest)).body, child.body);
      await assertBlobsServed(root.admin, 'app', child.blobs);
    }
    const res = await root.admin.request('GET', `/v2/app/referrers/${index.children[0]!.digest}`);
    const referrers = ((await res.json()) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest);
    assert.deepEqual(referrers, [sbom.digest]);
    await assertBlobsServed(root.admin, 'app', sbom.blobs);
  });

  test('a manifest deleted at the edge is deleted at the parent', async () => {
    const image = await pushImage(atEdge, 'app', 'doomed');
    await waitFor('app:doomed at the root', async () => (await tagDigest(root.admin, 'app', 'doomed')) === image.digest && (await drained()));
    assert.equal((await atEdge.request('DELETE', `/v2/app/manifests/${image.digest}`)).status, 202);
    await waitFor('gone at the root', async () => (await getManifest(root.admin, 'app', image.digest)).status === 404);
    assert.equal(await tagDigest(root.admin, 'app', 'doomed'), null);
  });

  test('writes made while the link is down all arrive, in order, once it is back', async () => {
    link.cut();
    const pushed = [];
    for (let i = 0; i < 5; i++) pushed.push(await pushImage(atEdge, 'app', 'moving'));
    for (let i = 0; i < 5; i++) await pushImage(atEdge, 'app', `offline-${i}`);
    assert.equal(await tagDigest(atEdge, 'app', 'moving'), pushed[4]!.digest, 'the edge serves its own writes while the parent is away');
    assert.equal(await tagDigest(root.admin, 'app', 'moving'), null);
    link.restore();
    await waitFor('everything at the root', async () => (await drained()) && (await tagDigest(root.admin, 'app', 'offline-4')) !== null, 10_000);
    // The tag ends where the edge's last write put it, and every intermediate image is there too.
    assert.equal(await tagDigest(root.admin, 'app', 'moving'), pushed[4]!.digest);
    for (const image of pushed) assert.equal((await getManifest(root.admin, 'app', image.digest)).status, 200);
    for (let i = 0; i < 5; i++) assert.ok((await tagDigest(root.admin, 'app', `offline-${i}`)) !== null, `offline-${i}`);
    // And the parent's echo of them changes nothing at the edge.
    assert.equal(await tagDigest(atEdge, 'app', 'moving'), pushed[4]!.digest);
  });
});
