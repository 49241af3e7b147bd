import { test, describe, before, after } from 'node:test';
import { createConnectedRegistry, startEdge, tagDigest, tempDir, waitFor } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { FAST_SYNC, GateProxy, edgeStore, mustMgmt, pushImage, startRoot, viaEndpoint, type Root } from './sync-fixture.js';

/**
 * A full reconcile asked for by the parent (a scope change, `resync`) is not forgotten: not when
 * another request comes while one runs (the running one may have read the old scope), not when
 * the node stops before it could finish.
 */
describe('review: reconcile requests are kept until a reconcile after them finishes', () => {
  let root: Root;
  let gate: GateProxy;
  let beta: string;

  before(async () => {
    root = await startRoot();
    await pushImage(root.admin, 'alpha', '1');
    beta = (await pushImage(root.admin, 'beta', '1')).digest;
    gate = await GateProxy.start(root.node.url);
  });

  after(async () => {
    await gate?.close();
    await root?.node.close();
  });

  async function syncedEdge(name: string, dataDir?: string): Promise<{ edge: TestNode; connectionString: string }> {
    const cr = await createConnectedRegistry(root.admin, { name, mode: 'ReadOnly', repositories: ['alpha'], logLevel: 'None' });
    const connectionString = viaEndpoint(cr.connectionString, gate.endpoint);
    const edge = await startEdge(connectionString, { app: FAST_SYNC, ...(dataDir ? { dataDir } : {}) });
    await waitFor('alpha:1 at the edge', async () => (await tagDigest(new TestClient(edge.url), 'alpha', '1')) !== null);
    return { edge, connectionString };
  }

  const scopeApplied = (edge: TestNode) => async (): Promise<boolean> => (await edgeStore(edge).getState('scope')) === JSON.stringify(['alpha', 'beta']);

  test('a scope change that arrives during a reconcile gets a reconcile of its own', async () => {
    const { edge } = await syncedEdge('edgereconcilebusy');
    try {
      // A resync starts a reconcile; the parent's tag list of alpha is held, so it is still
      // running (its catalog read with the old scope) when beta joins the scope.
      const held = gate.rule((method, path) => method === 'GET' && path.startsWith('/v2/alpha/tags/list'), 'hold-answer', 1);
      await mustMgmt(root.admin, 'POST', '/connected-registries/edgereconcilebusy/resync');
      await waitFor('the reconcile reading alpha\'s tags', async () => held.matched === 1);
      await mustMgmt(root.admin, 'PATCH', '/connected-registries/edgereconcilebusy/permissions', { add: ['beta'] });
      await waitFor('the new scope at the edge (by a heartbeat)', scopeApplied(edge));
      held.release();
      await waitFor('beta:1 at the edge', async () => (await tagDigest(new TestClient(edge.url), 'beta', '1')) === beta, 10_000);
    } finally {
      await edge.close();
    }
  });

  test('a scope change whose reconcile could not finish is reconciled after a restart', async () => {
    const dir = await tempDir();
    try {
      const { edge, connectionString } = await syncedEdge('edgereconcilerestart', dir.path);
      // The parent's /v2 fails from now on: the config with beta arrives, its reconcile cannot run.
      const failing = gate.rule((_method, path) => path.startsWith('/v2/'), 'fail');
      await mustMgmt(root.admin, 'PATCH', '/connected-registries/edgereconcilerestart/permissions', { add: ['beta'] });
      await waitFor('the new scope at the edge', scopeApplied(edge));
      await edge.close();
      failing.release();
      const restarted = await startEdge(connectionString, { app: FAST_SYNC, dataDir: dir.path });
      try {
        await waitFor('beta:1 at the restarted edge', async () => (await tagDigest(new TestClient(restarted.url), 'beta', '1')) === beta, 10_000);
      } finally {
        await restarted.close();
      }
    } finally {
      await dir.cleanup();
    }
  });
});
