import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createConnectedRegistry, showAtRoot, startEdge, tagDigest, waitFor, type CreatedRegistry } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { ManualClock } from '../../src/core/clock.js';
import { OFFLINE_AFTER_SECONDS } from '../../src/metadata/index.js';
import { FAST_SYNC, pushImage, startRoot, type Root } from './sync-fixture.js';

const HOUR_MS = 60 * 60 * 1000;

/**
 * The first 6-hour boundary (UTC) after now: windows of `0 *\/6 * * *` open there. The clocks
 * stay within hours of the real time, because the change log's times are real (a message TTL of
 * days is never crossed by accident).
 */
function nextSixHourBoundary(): number {
  const sixHours = 6 * HOUR_MS;
  return (Math.floor(Date.now() / sixHours) + 1) * sixHours;
}

/** One clock for the root (gateway, connection state) and the edge (its schedule). */
async function start(clock: ManualClock): Promise<Root> {
  return startRoot({ clock });
}

/**
 * Scheduled sync (docs/architecture.md, "Sessions and windows"): at each cron occurrence (UTC)
 * for the window's length, then nothing until the next one; the root shows the edge Offline
 * outside its window. That the agent does not contact its parent at all outside its windows, a
 * schedule without a window, schedule changes and the window's last second are pinned on a fake
 * parent (session-runner.test.ts).
 */
describe('a scheduled edge syncs only inside its window', () => {
  const boundary = nextSixHourBoundary();
  const clock = new ManualClock(boundary - 10 * 60_000);
  let root: Root;
  let cr: CreatedRegistry;
  let edge: TestNode;
  let atEdge: TestClient;

  before(async () => {
    root = await start(clock);
    cr = await createConnectedRegistry(root.admin, {
      name: 'edgewindow', mode: 'ReadOnly', repositories: ['app'], syncSchedule: '0 */6 * * *', syncWindow: 'PT1H', logLevel: 'Error',
    });
  });

  after(async () => {
    await edge?.close();
    await root?.node.close();
  });

  const state = async (): Promise<string> => String((await showAtRoot(root.admin, cr.name)).connectionState);

  test('before its window: nothing syncs, and the root shows it Offline once heartbeats are overdue', async () => {
    await pushImage(root.admin, 'app', 'v1');
    edge = await startEdge(cr.connectionString, { app: { ...FAST_SYNC, clock } });
    atEdge = new TestClient(edge.url);
    await waitFor('the agent waits for its window', async () => edge.node.agent!.currentState === 'OutsideWindow');
    assert.equal(await tagDigest(atEdge, 'app', 'v1'), null);
    // It activated at start, but outside its window it never reports a status: Offline all along.
    assert.equal(await state(), 'Offline');
    clock.advance((OFFLINE_AFTER_SECONDS + 1) * 1000);
    assert.equal(await state(), 'Offline');
  });

  test('inside the window it syncs (including pushes made during it), and shows Online', async () => {
    clock.set(boundary + 1_000);
    await waitFor('app:v1 once the window opens', async () => (await tagDigest(atEdge, 'app', 'v1')) !== null, 5_000);
    const v2 = await pushImage(root.admin, 'app', 'v2');
    await waitFor('app:v2 during the window', async () => (await tagDigest(atEdge, 'app', 'v2')) === v2.digest, 5_000);
    await waitFor('Online at the root', async () => ['Online', 'Syncing'].includes(await state()));
  });

  test('past the window\'s end it stops again, until the next occurrence', async () => {
    clock.set(boundary + HOUR_MS + 1_000);
    await waitFor('the agent leaves the window', async () => edge.node.agent!.currentState === 'OutsideWindow', 5_000);
    const v3 = await pushImage(root.admin, 'app', 'v3');
    assert.equal(await tagDigest(atEdge, 'app', 'v3'), null, 'a push after the window closed waits for the next one');
    assert.ok((await tagDigest(atEdge, 'app', 'v2')) !== null, 'between windows the edge serves what it has');
    clock.advance((OFFLINE_AFTER_SECONDS + 1) * 1000);
    assert.equal(await state(), 'Offline');

    // Six hours later the next window opens.
    clock.set(boundary + 6 * HOUR_MS + 1_000);
    await waitFor('app:v3 in the next window', async () => (await tagDigest(atEdge, 'app', 'v3')) === v3.digest, 5_000);
  });
});
