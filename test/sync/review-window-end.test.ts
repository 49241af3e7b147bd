import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnectedRegistry, startEdge, waitFor } from '../helpers/hierarchy.js';
import type { TestNode } from '../helpers/test-node.js';
import { ManualClock } from '../../src/core/clock.js';
import { FAST_SYNC, GateProxy, edgeStore, startRoot, viaEndpoint, type Root } from './sync-fixture.js';

const HOUR_MS = 60 * 60 * 1000;

/**
 * In the last second of a sync window the long-poll still waits (the gateway counts whole
 * seconds): a wait rounded down to 0 s would ask the parent again and again until the window
 * closes.
 */
describe('review: the last second of a window is one long-poll, not a busy loop', () => {
  const sixHours = 6 * HOUR_MS;
  const boundary = (Math.floor(Date.now() / sixHours) + 1) * sixHours;
  // Half a second before the window of the occurrence at `boundary` closes.
  const clock = new ManualClock(boundary + HOUR_MS - 500);
  let root: Root;
  let gate: GateProxy;
  let edge: TestNode;

  before(async () => {
    root = await startRoot({ clock });
    gate = await GateProxy.start(root.node.url);
    const cr = await createConnectedRegistry(root.admin, {
      name: 'edgewindowend', mode: 'ReadOnly', repositories: ['app'], syncSchedule: '0 */6 * * *', syncWindow: 'PT1H', logLevel: 'Error',
    });
    edge = await startEdge(viaEndpoint(cr.connectionString, gate.endpoint), { app: { ...FAST_SYNC, clock } });
    await waitFor('the first sync', async () => (await edgeStore(edge).getCursor()) !== null);
  });

  after(async () => {
    await edge?.close();
    await gate?.close();
    await root?.node.close();
  });

  test('at most a couple of message requests in a second', async () => {
    const polls = (): number => gate.requests.filter((r) => r.path.includes('/messages?')).length;
    const before = polls();
    await sleep(1_000);
    const asked = polls() - before;
    assert.ok(asked <= 3, `${asked} message requests in one second`);
  });
});
