import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createConnectedRegistry, startEdge, waitFor } from '../helpers/hierarchy.js';
import type { TestNode } from '../helpers/test-node.js';
import { FAST_SYNC, GateProxy, edgeStore, startRoot, viaEndpoint, type Root } from './sync-fixture.js';

/**
 * Stopping a connected node does not wait for its parent: a heartbeat (or config fetch) the
 * parent does not answer is abandoned at once, not after the request's 30 s timeout.
 */
describe('review: stopping an edge does not wait for a parent that does not answer', () => {
  let root: Root;
  let gate: GateProxy;
  let edge: TestNode;

  before(async () => {
    root = await startRoot();
    gate = await GateProxy.start(root.node.url);
    const cr = await createConnectedRegistry(root.admin, { name: 'edgestop', mode: 'ReadOnly', repositories: ['app'], logLevel: 'None' });
    edge = await startEdge(viaEndpoint(cr.connectionString, gate.endpoint), { app: FAST_SYNC });
    await waitFor('the first sync', async () => (await edgeStore(edge).getCursor()) !== null);
  });

  after(async () => {
    await gate?.close();
    await root?.node.close();
  });

  test('a heartbeat held by the parent', async () => {
    const held = gate.rule((method, path) => method === 'PUT' && path.endsWith('/status'), 'hold');
    await waitFor('a heartbeat held', async () => held.matched > 0, 5_000);
    const started = Date.now();
    await edge.close();
    const took = Date.now() - started;
    assert.ok(took < 3_000, `closing took ${took} ms`);
  });
});
