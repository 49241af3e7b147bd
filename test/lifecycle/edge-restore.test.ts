import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { OUTPOST_VERSION } from '../../src/config/version.js';
import { SYNC_STATE_KEYS } from '../../src/metadata/index.js';
import { backupNode } from '../../src/lifecycle/backup.js';
import { restoreNode } from '../../src/lifecycle/restore.js';
import { resolveNodeConfig } from '../../src/config/node-config.js';
import { startNode, type RunningNode } from '../../src/server/start-node.js';
import { CHANGE_SEQUENCE_JUMP } from '../../src/lifecycle/restore.js';
import { createConnectedRegistry, showAtRoot, startEdge, tagDigest, tempDir, waitFor } from '../helpers/hierarchy.js';
import { TEST_ADMIN_PASSWORD, TestClient } from '../helpers/oci-client.js';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import {
  FAST_SYNC, GateProxy, LinkProxy, assertBlobsServed, edgeStore, listTags, pushImage, startRoot, transfers, viaEndpoint, type Root,
} from '../sync/sync-fixture.js';

/**
 * Restores in a hierarchy. An edge backed up while it syncs, then lost, then restored into a new
 * data folder and started with the same connection string (in place of the original): it is the
 * same instance to its parent (no deactivate needed), it resumes from the cursor of its backup —
 * no full reconcile — and fetches only what changed since, never the blobs it already had. A
 * parent restored in place: its children, whose cursors may be past its backup, reconcile once
 * and miss nothing written to it after the restore.
 */
describe('restores in a hierarchy', () => {
  let root: Root | undefined;
  let gate: GateProxy | undefined;
  let link: LinkProxy | undefined;
  const nodes: Array<{ close(): Promise<void> }> = [];
  const edges: TestNode[] = [];
  const dirs: Array<{ cleanup(): Promise<void> }> = [];

  after(async () => {
    for (const edge of edges) await edge.close();
    for (const node of nodes) await node.close();
    await gate?.close();
    await link?.close();
    await root?.node.close();
    for (const dir of dirs) await dir.cleanup();
  });

  async function newDir(): Promise<string> {
    const dir = await tempDir('outpost-edge-backup-');
    dirs.push(dir);
    return dir.path;
  }

  test('backed up while syncing, restored elsewhere: same instance, first poll after its cursor, only the new blobs fetched', async () => {
    root = await startRoot();
    gate = await GateProxy.start(root.node.url);
    const cr = await createConnectedRegistry(root.admin, { name: 'edge-restored', mode: 'ReadOnly', repositories: ['app'], logLevel: 'None' });
    const connectionString = viaEndpoint(cr.connectionString, gate.endpoint);
    const shared = randomBytes(64 * 1024);
    const v1 = await pushImage(root.admin, 'app', 'v1', { layers: [shared, randomBytes(1000)] });

    const originalDir = await newDir();
    const original = await startEdge(connectionString, { dataDir: originalDir, app: FAST_SYNC });
    edges.push(original);
    await waitFor('the edge to sync v1', async () => (await tagDigest(new TestClient(original.url), 'app', 'v1')) === v1.digest);
    // A first sync is a full reconcile: its tags show before it stores the cursor at its end.
    const cursor = await waitFor('the edge to store its cursor', () => edgeStore(original).getCursor());
    const instanceId = await edgeStore(original).getState(SYNC_STATE_KEYS.instanceId);
    assert.ok(cursor !== null && instanceId !== null);

    // The backup runs beside the running edge (its agent holds long-polls open meanwhile).
    const backup = join(await newDir(), 'edge-backup');
    const summary = await backupNode({ dataDir: originalDir, storage: 'filesystem', to: backup, outpostVersion: OUTPOST_VERSION, clock: systemClock });
    assert.deepEqual(summary.sync, { cursor, instanceId }, 'the backup holds the edge\'s cursor and instance id');

    // The edge's machine is lost; meanwhile the root gets a new image sharing a layer with v1.
    await original.close();
    edges.splice(edges.indexOf(original), 1);
    const v2 = await pushImage(root.admin, 'app', 'v2', { layers: [shared, randomBytes(3000)] });

    const restoredDir = join(await newDir(), 'data');
    await restoreNode({ from: backup, dataDir: restoredDir, storage: 'filesystem', clock: systemClock });
    const seen = gate.requests.length;
    const restored = await startEdge(connectionString, { dataDir: restoredDir, app: FAST_SYNC });
    edges.push(restored);
    const atRestored = new TestClient(restored.url);
    await waitFor('the restored edge to sync v2', async () => (await tagDigest(atRestored, 'app', 'v2')) === v2.digest);
    assert.equal(await tagDigest(atRestored, 'app', 'v1'), v1.digest);
    await assertBlobsServed(atRestored, 'app', [...v1.blobs, ...v2.blobs]);

    // The same instance to the parent: it activated without a deactivate at the root.
    assert.equal(await edgeStore(restored).getState(SYNC_STATE_KEYS.instanceId), instanceId);
    assert.equal(((await showAtRoot(root.admin, 'edge-restored')) as { activation: { status: string } }).activation.status, 'Active');

    // It went on from its cursor: its first poll asked for what came after it, and no full
    // reconcile (which starts by reading the parent's head) ran.
    const requests = gate.requests.slice(seen).map((r) => r.path);
    const polls = requests.filter((path) => path.startsWith('/gateway/v1/edge-restored/messages?'));
    assert.ok(polls.length > 0);
    assert.equal(new URLSearchParams(polls[0]!.split('?')[1]).get('after'), String(cursor), `the first poll: ${polls[0]}`);
    assert.deepEqual(requests.filter((path) => path.startsWith('/gateway/v1/edge-restored/head')), [], 'no full reconcile');

    // Only v2's manifest, config and new layer moved; the blobs it had (v1's, the shared layer) did not.
    const v2Config = (JSON.parse(v2.body) as { config: { size: number } }).config.size;
    assert.deepEqual(transfers(restored), { manifestsFetched: 1, blobsFetched: 2, blobBytesFetched: v2Config + 3000 });
    for (const blob of v1.blobs) {
      assert.deepEqual(requests.filter((path) => path.includes(`/blobs/${blob}`)), [], `${blob} of v1 was not fetched again`);
    }
  });

  test("a root restored in place: its edge, whose cursor is past the backup, reconciles once and misses nothing written after the restore", async () => {
    const rootDir = await newDir();
    const first = await startTestNode({ dataDir: rootDir });
    nodes.push(first);
    const port = new URL(first.url).port;
    const admin = new TestClient(first.url);
    link = await LinkProxy.start(first.url);
    const cr = await createConnectedRegistry(admin, { name: 'edge-of-restored', mode: 'ReadOnly', repositories: ['app'], logLevel: 'None' });
    const edge = await startEdge(viaEndpoint(cr.connectionString, link.endpoint), { app: FAST_SYNC });
    edges.push(edge);
    const atEdge = new TestClient(edge.url);
    await pushImage(admin, 'app', 'v1');
    await waitFor('the edge to sync v1', async () => (await tagDigest(atEdge, 'app', 'v1')) !== null);

    const backup = join(await newDir(), 'root-backup');
    await backupNode({ dataDir: rootDir, storage: 'filesystem', to: backup, outpostVersion: OUTPOST_VERSION, clock: systemClock });
    // After the backup the root takes more pushes, which the edge applies: its cursor goes past the backup.
    for (const tag of ['v2', 'v3', 'v4']) await pushImage(admin, 'app', tag);
    await waitFor('the edge to sync v4', async () => (await tagDigest(atEdge, 'app', 'v4')) !== null);

    // The root is lost and restored in place (same address); the edge cannot reach it meanwhile.
    link.cut();
    await first.close();
    nodes.splice(nodes.indexOf(first), 1);
    const restoredDir = join(await newDir(), 'data');
    const summary = await restoreNode({ from: backup, dataDir: restoredDir, storage: 'filesystem', clock: systemClock });
    const backupHead = summary.changeLogHead - CHANGE_SEQUENCE_JUMP;
    const edgeCursor = (await edgeStore(edge).getCursor())!;
    assert.ok(edgeCursor > backupHead, `the edge's cursor ${edgeCursor} is past the backup's log (${backupHead})`);
    const restored: RunningNode = await startNode(resolveNodeConfig(
      { host: '127.0.0.1', port, dataDir: restoredDir, logLevel: 'Error' }, { OUTPOST_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD }));
    nodes.push(restored);
    const restoredAdmin = new TestClient(restored.url);
    // Clients push to the restored root before the edge is back: more changes than the edge's
    // cursor is ahead by, so a log that handed out the same numbers again would lie under it.
    const written: string[] = [];
    for (let i = 0; i <= edgeCursor - backupHead; i++) {
      written.push(`w${i}`);
      await pushImage(restoredAdmin, 'app', `w${i}`);
    }

    link.restore();
    const expected = await listTags(restoredAdmin, 'app');
    assert.deepEqual(expected, ['v1', ...written].sort());
    await waitFor('the edge to converge on the restored root', async () => JSON.stringify(await listTags(atEdge, 'app')) === JSON.stringify(expected), 30_000);
    for (const tag of expected) assert.equal(await tagDigest(atEdge, 'app', tag), await tagDigest(restoredAdmin, 'app', tag), tag);
    assert.ok((await edgeStore(edge).getCursor())! >= summary.changeLogHead, 'the edge follows the restored log after its jump');
  });
});
