import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnectedRegistry, showAtRoot, startEdge, tagDigest, waitFor, type CreatedRegistry } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { ManualClock } from '../../src/core/clock.js';
import { OFFLINE_AFTER_SECONDS } from '../../src/metadata/index.js';
import { FAST_SYNC, mustMgmt, pushImage, startRoot, type Root } from './sync-fixture.js';

const HOUR_MS = 60 * 60 * 1000;
/** Long enough for an agent polling every second to have fetched anything there was. */
const QUIET_MS = 1_000;

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
 * Scheduled sync (docs/architecture.md, "Connected node and sync agent"): at each cron occurrence (UTC) for the window's length, then
 * nothing until the next one; the root shows the edge Offline outside its window.
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
    await sleep(QUIET_MS);
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
    await sleep(QUIET_MS);
    assert.equal(await tagDigest(atEdge, 'app', 'v3'), null, 'a push after the window closed waits for the next one');
    assert.ok((await tagDigest(atEdge, 'app', 'v2')) !== null, 'between windows the edge serves what it has');
    clock.advance((OFFLINE_AFTER_SECONDS + 1) * 1000);
    assert.equal(await state(), 'Offline');

    // Six hours later the next window opens.
    clock.set(boundary + 6 * HOUR_MS + 1_000);
    await waitFor('app:v3 in the next window', async () => (await tagDigest(atEdge, 'app', 'v3')) === v3.digest, 5_000);
  });
});

describe('a schedule change takes effect without a restart', () => {
  const boundary = nextSixHourBoundary();
  const clock = new ManualClock(boundary - 2 * HOUR_MS);
  let root: Root;
  let cr: CreatedRegistry;
  let edge: TestNode;

  before(async () => {
    root = await start(clock);
    cr = await createConnectedRegistry(root.admin, { name: 'edgeresched', mode: 'ReadOnly', repositories: ['app'], logLevel: 'Error' });
    edge = await startEdge(cr.connectionString, { app: { ...FAST_SYNC, clock } });
  });

  after(async () => {
    await edge?.close();
    await root?.node.close();
  });

  test('continuous → windowed → continuous', async () => {
    const atEdge = new TestClient(edge.url);
    const v1 = await pushImage(root.admin, 'app', 'v1');
    await waitFor('continuous sync', async () => (await tagDigest(atEdge, 'app', 'v1')) === v1.digest);

    // Now only from each 6-hour boundary for an hour: the edge, two hours before one, stops.
    await mustMgmt(root.admin, 'PATCH', `/connected-registries/${cr.name}`, { syncSchedule: '0 */6 * * *', syncWindow: 'PT1H' });
    await waitFor('the agent stops outside the new window', async () => edge.node.agent!.currentState === 'OutsideWindow', 5_000);
    const v2 = await pushImage(root.admin, 'app', 'v2');
    await sleep(QUIET_MS);
    assert.equal(await tagDigest(atEdge, 'app', 'v2'), null);

    // In the window it syncs, and learns that it is continuous again: it keeps syncing after the window's end.
    clock.set(boundary + 1_000);
    await waitFor('app:v2 in the window', async () => (await tagDigest(atEdge, 'app', 'v2')) === v2.digest, 5_000);
    await mustMgmt(root.admin, 'PATCH', `/connected-registries/${cr.name}`, { syncSchedule: '* * * * *', syncWindow: null });
    await sleep(QUIET_MS);
    clock.set(boundary + 2 * HOUR_MS);
    const v3 = await pushImage(root.admin, 'app', 'v3');
    await waitFor('app:v3 after the old window\'s end', async () => (await tagDigest(atEdge, 'app', 'v3')) === v3.digest, 5_000);
    assert.notEqual(edge.node.agent!.currentState, 'OutsideWindow');
  });
});

describe('a schedule without a window syncs once per occurrence, until caught up', () => {
  const boundary = nextSixHourBoundary();
  const clock = new ManualClock(boundary - 10 * 60_000);
  let root: Root;
  let edge: TestNode;

  before(async () => {
    root = await start(clock);
    const cr = await createConnectedRegistry(root.admin, { name: 'edgecatchup', mode: 'ReadOnly', repositories: ['app'], syncSchedule: '0 */6 * * *', logLevel: 'Error' });
    edge = await startEdge(cr.connectionString, { app: { ...FAST_SYNC, clock } });
  });

  after(async () => {
    await edge?.close();
    await root?.node.close();
  });

  test('nothing before the occurrence; at it, everything so far; nothing more until the next one', async () => {
    const atEdge = new TestClient(edge.url);
    const v1 = await pushImage(root.admin, 'app', 'v1');
    await waitFor('the agent waits for the occurrence', async () => edge.node.agent!.currentState === 'OutsideWindow');
    await sleep(QUIET_MS);
    assert.equal(await tagDigest(atEdge, 'app', 'v1'), null);

    clock.set(boundary + 1_000);
    await waitFor('app:v1 at the occurrence', async () => (await tagDigest(atEdge, 'app', 'v1')) === v1.digest, 5_000);
    await waitFor('caught up: the agent waits again', async () => edge.node.agent!.currentState === 'OutsideWindow', 5_000);
    const v2 = await pushImage(root.admin, 'app', 'v2');
    clock.advance(30 * 60_000);
    await sleep(QUIET_MS);
    assert.equal(await tagDigest(atEdge, 'app', 'v2'), null, 'a push after the catch-up waits for the next occurrence');

    clock.set(boundary + 6 * HOUR_MS + 1_000);
    await waitFor('app:v2 at the next occurrence', async () => (await tagDigest(atEdge, 'app', 'v2')) === v2.digest, 5_000);
  });
});
