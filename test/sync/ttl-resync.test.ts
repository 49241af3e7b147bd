import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createConnectedRegistry, startEdge, tagDigest, tempDir, waitFor, type CreatedRegistry } from '../helpers/hierarchy.js';
import { TestClient, basicAuth } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { ManualClock } from '../../src/core/clock.js';
import { FAST_SYNC, edgeStore, hasRepository, listTags, mustMgmt, pushImage, startRoot, type Root } from './sync-fixture.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Message TTL and resync (docs/architecture.md, "Sync gateway": message TTL): a child whose cursor is older than what its parent keeps
 * for it gets 410 RESYNC_REQUIRED and reconciles in full; `resync` at the root forces the same.
 * The root's gateway runs on a clock the test moves, so nobody waits a day.
 */
describe('message TTL and resync', () => {
  let root: Root;
  const rootClock = new ManualClock(Date.now());
  let cr: CreatedRegistry;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let edge: TestNode | null = null;

  before(async () => {
    root = await startRoot({ clock: rootClock });
    cr = await createConnectedRegistry(root.admin, { name: 'edgettl', mode: 'ReadOnly', repositories: ['app', 'gone'], syncMessageTtl: 'P1D', logLevel: 'Error' });
    dir = await tempDir();
  });

  after(async () => {
    await edge?.close();
    await root?.node.close();
    await dir?.cleanup();
  });

  /** The edge's cursor read from its parent's gateway, as the edge itself would ask. */
  async function messagesAfter(cursor: number): Promise<{ status: number; code: string | undefined }> {
    const res = await fetch(`${root.node.url}/gateway/v1/${cr.name}/messages?after=${cursor}&wait=0`, {
      headers: { Authorization: basicAuth(cr.tokenName, cr.tokenPassword) },
    });
    const body = (await res.json()) as { errors?: Array<{ code: string }> };
    return { status: res.status, code: body.errors?.[0]?.code };
  }

  test('an edge away longer than its message TTL gets RESYNC_REQUIRED and reconciles in full', async () => {
    const a = await pushImage(root.admin, 'app', 'a');
    const b = await pushImage(root.admin, 'app', 'b');
    await pushImage(root.admin, 'app', 'drift');
    await pushImage(root.admin, 'gone', 'x');
    edge = await startEdge(cr.connectionString, { dataDir: dir.path, app: FAST_SYNC });
    const atEdge = new TestClient(edge.url);
    // The first sync is a full reconcile: done when it has stored its cursor.
    await waitFor('first sync', async () => (await edgeStore(edge!).getCursor()) !== null);
    assert.deepEqual((await listTags(atEdge, 'app')).sort(), ['a', 'b', 'drift']);
    assert.ok(await hasRepository(atEdge, 'gone'));
    // Drift behind the agent's back: only a full reconcile brings this tag back.
    await edgeStore(edge).deleteTag({ origin: 'sync', actor: null }, 'app', 'drift');
    const cursor = (await edgeStore(edge).getCursor())!;
    await edge.close();
    edge = null;

    // While it is away: a tag delete, a tag move, a new tag, a repository delete.
    assert.equal((await root.admin.request('DELETE', '/v2/app/manifests/a')).status, 202);
    const b2 = await pushImage(root.admin, 'app', 'b');
    const c = await pushImage(root.admin, 'app', 'c');
    await mustMgmt(root.admin, 'DELETE', '/repositories/gone');
    assert.deepEqual(await messagesAfter(cursor), { status: 200, code: undefined }, 'within the TTL the log is still followed');

    // More than a day later by the root's clock, the next change after its cursor is expired.
    rootClock.advance(DAY_MS + 60_000);
    assert.deepEqual(await messagesAfter(cursor), { status: 410, code: 'RESYNC_REQUIRED' });

    edge = await startEdge(cr.connectionString, { dataDir: dir.path, app: FAST_SYNC });
    const back = new TestClient(edge.url);
    await waitFor('a full reconcile', async () => JSON.stringify((await listTags(back, 'app')).sort()) === JSON.stringify(['b', 'c', 'drift'])
      && !(await hasRepository(back, 'gone')), 10_000);
    assert.equal(await tagDigest(back, 'app', 'a'), null, 'a tag deleted while it was away is deleted here');
    assert.equal(await tagDigest(back, 'app', 'b'), b2.digest);
    assert.notEqual(b2.digest, b.digest);
    assert.equal(await tagDigest(back, 'app', 'c'), c.digest);
    assert.equal(await hasRepository(back, 'gone'), false, 'a repository deleted while it was away is deleted here');
    // a's manifest is untagged at the root but still there: the edge keeps it too.
    assert.equal((await back.request('HEAD', `/v2/app/manifests/${a.digest}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).status, 200);

    // The change log's times are the store's wall clock: with the root's clock left a day ahead,
    // every new change would look expired at once. Time "returns" for the rest of the file.
    rootClock.set(Date.now());
    const d = await pushImage(root.admin, 'app', 'd');
    await waitFor('app:d after the reconcile', async () => (await tagDigest(back, 'app', 'd')) === d.digest);
  });

  test('resync at the root forces a full reconcile of a running edge', async () => {
    assert.ok(edge, 'the edge of the previous test runs');
    const atEdge = new TestClient(edge.url);
    await edgeStore(edge).deleteTag({ origin: 'sync', actor: null }, 'app', 'drift');
    // Following the change log does not heal drift...
    await pushImage(root.admin, 'app', 'e');
    await waitFor('app:e', async () => (await tagDigest(atEdge, 'app', 'e')) !== null);
    await waitFor('the edge caught up with the root\'s log', async () => (await edgeStore(edge!).getCursor()) === (await root.node.node.metadata.lastChangeSeq()));
    assert.equal(await tagDigest(atEdge, 'app', 'drift'), null);
    // ...a resync does.
    const answer = (await mustMgmt(root.admin, 'POST', `/connected-registries/${cr.name}/resync`)) as { resyncRequestedAt: string };
    assert.ok(answer.resyncRequestedAt);
    await waitFor('drift healed by the resync', async () => (await tagDigest(atEdge, 'app', 'drift')) !== null, 10_000);
    await waitFor('every tag', async () => JSON.stringify((await listTags(atEdge, 'app')).sort()) === JSON.stringify(['b', 'c', 'd', 'drift', 'e']));
  });
});
