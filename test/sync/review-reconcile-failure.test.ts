import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnectedRegistry, startEdge, tagDigest, waitFor } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { FAST_SYNC, GateProxy, mustMgmt, pushImage, startRoot, viaEndpoint, type Root } from './sync-fixture.js';

/**
 * A reconcile that fails on one tag ends only once its other tags' work has stopped: otherwise a
 * tag still being looked at could be set from an old answer after the next session had already
 * set it to the parent's newer one, behind the cursor, where no message would mend it.
 */
describe('review: a failed reconcile leaves nothing running behind it', () => {
  let root: Root;
  let gate: GateProxy;
  let edge: TestNode;
  let atEdge: TestClient;

  before(async () => {
    root = await startRoot();
    await pushImage(root.admin, 'app', 't1');
    await pushImage(root.admin, 'app', 't2');
    gate = await GateProxy.start(root.node.url);
    const cr = await createConnectedRegistry(root.admin, { name: 'edgereconcilefail', mode: 'ReadOnly', repositories: ['app'], logLevel: 'None' });
    edge = await startEdge(viaEndpoint(cr.connectionString, gate.endpoint), { app: FAST_SYNC });
    atEdge = new TestClient(edge.url);
    await waitFor('app:t1 and app:t2 at the edge', async () => (await tagDigest(atEdge, 'app', 't1')) !== null && (await tagDigest(atEdge, 'app', 't2')) !== null);
  });

  after(async () => {
    await edge?.close();
    await gate?.close();
    await root?.node.close();
  });

  test('an old answer about t1 arriving after the failure does not move t1 back', async () => {
    const isHead = (tag: string) => (method: string, path: string): boolean => method === 'HEAD' && path === `/v2/app/manifests/${tag}`;
    // The next reconcile: the parent's answer about t1 (the old digest) is held; t2 fails.
    const t1 = gate.rule(isHead('t1'), 'hold-answer', 1);
    const t2 = gate.rule(isHead('t2'), 'hold-fail', 1);
    await mustMgmt(root.admin, 'POST', '/connected-registries/edgereconcilefail/resync');
    await waitFor('the reconcile asking about t1 and t2', async () => t1.matched === 1 && t2.matched === 1);
    const moved = await pushImage(root.admin, 'app', 't1');
    t2.release();
    // The next session reconciles again, with the parent's answers as they are now.
    await waitFor('app:t1 moved at the edge', async () => (await tagDigest(atEdge, 'app', 't1')) === moved.digest, 10_000);
    t1.release();
    await sleep(1_000);
    assert.equal(await tagDigest(atEdge, 'app', 't1'), moved.digest);
  });
});
