import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnectedRegistry, startEdge, tagDigest, waitFor } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { ManualClock } from '../../src/core/clock.js';
import { FAST_SYNC, GateProxy, edgeStore, pushImage, startLinkedEdge, startRoot, viaEndpoint, type LinkedEdge, type Root } from './sync-fixture.js';

const HOUR_MS = 60 * 60 * 1000;

/**
 * A scheduled ReadWrite edge without a window syncs once per occurrence: its pull loop drains the
 * outbox before the session ends while the outbox loop may be draining it already. The two must
 * not push the same change at once (each would upload the same blobs and move the pushed mark,
 * one of them back).
 */
describe('review: one outbox drain at a time', () => {
  const sixHours = 6 * HOUR_MS;
  const boundary = (Math.floor(Date.now() / sixHours) + 1) * sixHours;
  const clock = new ManualClock(boundary - 10 * 60_000);
  let root: Root;
  let gate: GateProxy;
  let edge: TestNode;

  before(async () => {
    root = await startRoot({ clock });
    gate = await GateProxy.start(root.node.url);
    const cr = await createConnectedRegistry(root.admin, { name: 'edgeonedrain', mode: 'ReadWrite', repositories: ['app'], syncSchedule: '0 */6 * * *', logLevel: 'Error' });
    edge = await startEdge(viaEndpoint(cr.connectionString, gate.endpoint), { app: { ...FAST_SYNC, clock } });
  });

  after(async () => {
    await edge?.close();
    await gate?.close();
    await root?.node.close();
  });

  test('the pull loop\'s drain waits for the outbox loop\'s', async () => {
    await waitFor('the agent waits for the occurrence', async () => edge.node.agent!.currentState === 'OutsideWindow');
    const image = await pushImage(new TestClient(edge.url), 'app', 'local');
    // The first blob upload to reach the parent is held: the outbox loop's drain stops there.
    const upload = gate.rule((method, path) => method === 'PUT' && path.includes('/blobs/uploads/'), 'hold');
    clock.set(boundary + 1_000);
    await waitFor('the outbox loop uploading', async () => upload.matched > 0, 5_000);
    // Meanwhile the pull loop catches up (nothing at the root) and drains too.
    await sleep(1_000);
    const mounts = gate.requests.filter((r) => r.method === 'POST' && r.path.includes('mount=')).map((r) => r.path);
    assert.deepEqual(mounts.filter((path, i) => mounts.indexOf(path) !== i), [], 'a blob upload started twice');
    upload.release();
    await waitFor('app:local at the root', async () => (await tagDigest(root.admin, 'app', 'local')) === image.digest, 5_000);
    await waitFor('the outbox empty', async () => (await edgeStore(edge).outboxSize()) === 0, 5_000);
    const manifestPuts = gate.requests.filter((r) => r.method === 'PUT' && r.path === '/v2/app/manifests/local');
    assert.equal(manifestPuts.length, 1);
  });
});

/**
 * Every committed write wakes a ReadWrite edge's outbox loop (the parent's messages too, hundreds
 * in a reconcile); a wake must not leave the interrupted 5 s wait's timer behind.
 */
describe('review: outbox wake-ups leave no timers behind', () => {
  let linked: LinkedEdge;

  before(async () => {
    linked = await startLinkedEdge('edgewakeups', 'ReadWrite', { synced: true });
  });

  after(async () => {
    await linked?.close();
  });

  test('200 wake-ups, no more timers', async () => {
    const agent = linked.edge.node.agent!;
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    for (let i = 0; i < 200; i++) {
      agent.localWrite();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const grown = timers() - before;
    assert.ok(grown < 20, `${grown} more timers after 200 wake-ups`);
  });
});
