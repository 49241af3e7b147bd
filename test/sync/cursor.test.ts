import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createConnectedRegistry, startEdge, tagDigest, tempDir, waitFor, type CreatedRegistry } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { FAST_SYNC, assertBlobsServed, edgeStore, pushImage, startRoot, transfers, type Root } from './sync-fixture.js';

/**
 * The cursor (docs/architecture.md, "Pull"): stored with what it applied, so an edge restarted
 * on the same data folder continues after the last change it applied — no full reconcile,
 * nothing downloaded again — and gets what was pushed while it was down. (The order inside one
 * page of changes, a repository deleted and re-created: pull-sync.test.ts.)
 */
describe('an edge restarted on its data folder resumes from its cursor', () => {
  let root: Root;
  let cr: CreatedRegistry;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let edge: TestNode | null = null;

  before(async () => {
    root = await startRoot();
    cr = await createConnectedRegistry(root.admin, { name: 'edgecursor', mode: 'ReadOnly', repositories: ['app', 'web'], logLevel: 'Error' });
    dir = await tempDir();
  });

  after(async () => {
    await edge?.close();
    await root?.node.close();
    await dir?.cleanup();
  });

  test('content pushed while it was down arrives; nothing already there moves again; no full reconcile', async () => {
    const shared = randomBytes(6000);
    const v1 = await pushImage(root.admin, 'app', 'v1', { layers: [shared, randomBytes(100)] });
    await pushImage(root.admin, 'app', 'drift');
    edge = await startEdge(cr.connectionString, { dataDir: dir.path, app: FAST_SYNC });
    let atEdge = new TestClient(edge.url);
    // The first sync is a full reconcile: done when it has stored its cursor.
    await waitFor('first sync', async () => (await edgeStore(edge!).getCursor()) !== null);
    assert.equal(await tagDigest(atEdge, 'app', 'v1'), v1.digest);
    assert.ok((await tagDigest(atEdge, 'app', 'drift')) !== null);

    // Drift behind the agent's back: only a full reconcile (which compares tag lists with the
    // parent) would bring this tag back; following the change log never will.
    await edgeStore(edge).deleteTag({ origin: 'sync', actor: null }, 'app', 'drift');
    const cursorBefore = await edgeStore(edge).getCursor();
    assert.ok(cursorBefore !== null && cursorBefore > 0);
    await edge.close();
    edge = null;

    // While it is down: a new image sharing a layer, a tag move, a tag delete.
    const v2 = await pushImage(root.admin, 'app', 'v2', { layers: [shared, randomBytes(200)] });
    assert.equal((await root.admin.putManifest('app', 'latest', v2.body)).status, 201);
    assert.equal((await root.admin.request('DELETE', '/v2/app/manifests/v1')).status, 202);

    edge = await startEdge(cr.connectionString, { dataDir: dir.path, app: FAST_SYNC });
    atEdge = new TestClient(edge.url);
    await waitFor('the changes made while down', async () =>
      (await tagDigest(atEdge, 'app', 'v2')) === v2.digest && (await tagDigest(atEdge, 'app', 'latest')) === v2.digest
      && (await tagDigest(atEdge, 'app', 'v1')) === null);
    await assertBlobsServed(atEdge, 'app', v2.blobs);

    // Only what was missing moved: v2's manifest, its config and its new layer (a fresh agent counts from 0).
    const moved = transfers(edge);
    assert.equal(moved.manifestsFetched, 1);
    assert.equal(moved.blobsFetched, 2);
    // It went on from its cursor: the drifted tag was not brought back by a reconcile.
    assert.equal(await tagDigest(atEdge, 'app', 'drift'), null);
    assert.ok((await edgeStore(edge).getCursor())! > cursorBefore);
    // v1's manifest is still there (only its tag was deleted) and was never fetched again.
    const res = await atEdge.request('HEAD', `/v2/app/manifests/${v1.digest}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.status, 200);
  });
});
