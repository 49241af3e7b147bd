import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { createConnectedRegistry, startEdge, tagDigest, waitFor } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { FAST_SYNC, edgeStore, getManifest, mustMgmt, pushImage, startRoot, type Root } from '../sync/sync-fixture.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * What retention deletes at the root reaches a connected node through the change log like any
 * other delete (docs/operations.md, "Retention"): two real nodes, the root on a clock the test
 * moves by days, the edge syncing continuously. The edge runs no retention of its own.
 */
describe('retention at the root reaches an edge through sync', () => {
  const clock = new ManualClock(Date.UTC(2026, 4, 1, 8));
  let root: Root;
  let edge: TestNode;
  let atEdge: TestClient;

  before(async () => {
    root = await startRoot({ clock });
    const cr = await createConnectedRegistry(root.admin, { name: 'edgeret', mode: 'ReadOnly', repositories: ['app'], logLevel: 'None' });
    edge = await startEdge(cr.connectionString, { app: FAST_SYNC });
    atEdge = new TestClient(edge.url);
  });

  after(async () => {
    await edge?.close();
    await root?.node.close();
  });

  test('an untagged manifest deleted by retention at the root is deleted at the edge; tagged ones stay', async () => {
    const old = await pushImage(root.admin, 'app', 'latest');
    const current = await pushImage(root.admin, 'app', 'latest');
    await waitFor('both manifests at the edge', async () => (await tagDigest(atEdge, 'app', 'latest')) === current.digest
      && (await getManifest(atEdge, 'app', old.digest)).status === 200);

    const atEdgeDeleted: Array<{ digest: string; origin: string; actor: string | null }> = [];
    edge.node.events.subscribe(['manifest-deleted'], (e) => atEdgeDeleted.push({ digest: e.digest, origin: e.origin, actor: e.actor }));
    clock.advance(8 * DAY_MS);
    await mustMgmt(root.admin, 'PATCH', '/config/retention', { status: 'enabled', days: 7 });
    await waitFor('retention at the root', async () => (await getManifest(root.admin, 'app', old.digest)).status === 404);
    await waitFor('the delete at the edge', async () => (await getManifest(atEdge, 'app', old.digest)).status === 404);
    assert.equal(await tagDigest(atEdge, 'app', 'latest'), current.digest);
    assert.equal((await getManifest(atEdge, 'app', current.digest)).status, 200);

    // Applied from its parent's change log (origin sync), not decided at the edge; and in the
    // edge's own log, for the children it serves.
    assert.deepEqual(atEdgeDeleted, [{ digest: old.digest, origin: 'sync', actor: null }]);
    const rows = await edgeStore(edge).changesSince(0, 1000);
    assert.deepEqual(rows.filter((r) => r.kind === 'manifest-delete').map((r) => r.digest), [old.digest]);
    assert.equal(edge.node.jobs.list().some((job) => job.name === 'retention'), false, 'a connected node runs no retention job');
  });
});
