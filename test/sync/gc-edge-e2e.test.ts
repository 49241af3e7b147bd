import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { GcReport } from '../../src/core/gc-report.js';
import { SYNC_STATE_KEYS } from '../../src/metadata/index.js';
import { createConnectedRegistry, showAtRoot, startEdge, tagDigest, waitFor } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { FAST_SYNC, blobFile, edgeStore, hasRepository, mustMgmt, pushImage, startRoot, type PushedImage, type Root } from './sync-fixture.js';

/**
 * Each node collects its own garbage (docs/operations.md, "Garbage collection"). A ReadOnly edge
 * drops what leaves its scope and what its parent deletes, and its next collection frees the
 * bytes; the root asks an edge for a collection as it asks for a resync (carried in the config,
 * down through the edges between), and the report comes back up in the heartbeats.
 */

/** Edges forget nothing to a grace period in these tests: what is unreferenced goes at once. */
const NO_GRACE = { OUTPOST_GC_GRACE: 'PT0S' };

/** The files of an image (its manifest and blobs) at a node. */
function filesOf(node: TestNode, image: PushedImage): string[] {
  return [image.digest, ...image.blobs].map((digest) => blobFile(node, digest));
}

/** Asks the root for a collection at `name` and waits until the root shows its report; returns it. */
async function collectAt(root: Root, name: string, dryRun = false): Promise<GcReport> {
  const asked = (await mustMgmt(root.admin, 'POST', `/connected-registries/${name}/gc`, { dryRun })) as { requestedAt: string; dryRun: boolean };
  assert.equal(asked.dryRun, dryRun);
  return waitFor(`the report of ${name}'s collection at the root`, async () => {
    const report = (await showAtRoot(root.admin, name)).lastGarbageCollection as GcReport | null;
    return report !== null && report.dryRun === dryRun && report.startedAt >= asked.requestedAt ? report : null;
  }, 30_000);
}

describe('a ReadOnly edge frees the bytes of what leaves it', () => {
  let root: Root;
  let edge: TestNode;
  let atEdge: TestClient;
  let alpha: PushedImage;
  let beta: PushedImage;

  before(async () => {
    root = await startRoot();
    alpha = await pushImage(root.admin, 'alpha', '1');
    beta = await pushImage(root.admin, 'beta', '1');
    const cr = await createConnectedRegistry(root.admin, { name: 'edgegcro', mode: 'ReadOnly', repositories: ['alpha', 'beta'], logLevel: 'Error' });
    edge = await startEdge(cr.connectionString, { app: FAST_SYNC, env: NO_GRACE });
    atEdge = new TestClient(edge.url);
    await waitFor('alpha and beta at the edge', async () =>
      (await tagDigest(atEdge, 'alpha', '1')) === alpha.digest && (await tagDigest(atEdge, 'beta', '1')) === beta.digest);
  });

  after(async () => {
    await edge?.close();
    await root?.node.close();
  });

  test('a repository removed from its scope is dropped, and the collection the root asks for frees its bytes', async () => {
    for (const file of [...filesOf(edge, alpha), ...filesOf(edge, beta)]) assert.ok(existsSync(file), file);
    await mustMgmt(root.admin, 'PATCH', '/connected-registries/edgegcro/permissions', { remove: ['beta'] });
    await waitFor('beta dropped at the edge', async () => !(await hasRepository(atEdge, 'beta')));
    const sync = await edgeStore(edge).lastChangeSeq();

    const report = await collectAt(root, 'edgegcro');
    assert.equal(report.dryRun, false);
    assert.deepEqual(report.manifests, { count: 1, bytes: beta.size });
    assert.equal(report.blobs.count, 2, 'the config and the layer');
    for (const file of filesOf(edge, beta)) assert.ok(!existsSync(file), `freed: ${file}`);
    for (const file of filesOf(edge, alpha)) assert.ok(existsSync(file), `kept: ${file}`);
    assert.equal(await tagDigest(atEdge, 'alpha', '1'), alpha.digest);
    assert.equal(await edgeStore(edge).lastChangeSeq(), sync, 'the collection itself appended nothing');
    assert.equal(await edgeStore(edge).getState(SYNC_STATE_KEYS.gcHandled), (await showAtRoot(root.admin, 'edgegcro') as { garbageCollectionRequest: { requestedAt: string } }).garbageCollectionRequest.requestedAt);
  });

  test('a repository the parent deletes is deleted at the edge, and its next collection frees its bytes', async () => {
    await mustMgmt(root.admin, 'DELETE', '/repositories/alpha');
    await waitFor('alpha deleted at the edge', async () => !(await hasRepository(atEdge, 'alpha')));
    // The edge's own scheduled job, run now (the request path is pinned above).
    const report = await edge.node.jobs.runNow<GcReport>('gc');
    assert.equal(report.manifests.count, 1);
    assert.equal(report.blobs.count, 2);
    for (const file of filesOf(edge, alpha)) assert.ok(!existsSync(file), `freed: ${file}`);
    assert.deepEqual(await edgeStore(edge).referencedBlobDigests(), new Set(), 'nothing left to keep');
  });

  test('the schedule of the resource applies at the edge without a restart', async () => {
    assert.equal(edge.node.jobs.status('gc').nextRunAt, null, 'off by default (garbageCollection.enabled false)');
    await mustMgmt(root.admin, 'PATCH', '/connected-registries/edgegcro', { garbageCollection: { enabled: true, schedule: '0 3 * * *' } });
    const next = await waitFor('the edge schedules its collection', async () => edge.node.jobs.status('gc').nextRunAt);
    const at = new Date(next);
    assert.deepEqual([at.getUTCHours(), at.getUTCMinutes()], [3, 0]);
    assert.ok(next > Date.now() && next <= Date.now() + 24 * 60 * 60 * 1000);
    await mustMgmt(root.admin, 'PATCH', '/connected-registries/edgegcro', { garbageCollection: { enabled: false } });
    await waitFor('the edge stops scheduling it', async () => edge.node.jobs.status('gc').nextRunAt === null);
  });
});

describe('a collection asked of an edge two levels down, and its report, travel through the edge between', () => {
  let root: Root;
  let site: TestNode;
  let line: TestNode;
  let image: PushedImage;

  before(async () => {
    root = await startRoot();
    image = await pushImage(root.admin, 'app', '1');
    const siteCr = await createConnectedRegistry(root.admin, { name: 'gcsite', mode: 'ReadWrite', repositories: ['app'], logLevel: 'Error' });
    site = await startEdge(siteCr.connectionString, { app: FAST_SYNC, env: NO_GRACE });
    await waitFor('the site reports its login server', async () => (await showAtRoot(root.admin, 'gcsite')).loginServer !== null);
    const lineCr = await createConnectedRegistry(root.admin, { name: 'gcline', mode: 'ReadOnly', parent: 'gcsite', repositories: ['app'], logLevel: 'Error' });
    line = await startEdge(lineCr.connectionString, { app: FAST_SYNC, env: NO_GRACE });
    await waitFor('app:1 at level 2', async () => (await tagDigest(new TestClient(line.url), 'app', '1')) === image.digest);
  });

  after(async () => {
    await line?.close();
    await site?.close();
    await root?.node.close();
  });

  test('a dry run at level 2 reports what it would free, relayed up to the root; it frees nothing', async () => {
    const report = await collectAt(root, 'gcline', true);
    assert.equal(report.dryRun, true);
    assert.equal(report.freedBytes, 0, 'everything there is referenced');
    for (const file of filesOf(line, image)) assert.ok(existsSync(file));
  });

  test('a ReadWrite edge\'s collection sends nothing up: a swept link is no change for its outbox', async () => {
    const atSite = new TestClient(site.url);
    const lone = await atSite.pushBlob('app', 'a blob no manifest will ever use');
    const store = edgeStore(site);
    assert.equal(await store.outboxSize(), 0, 'a blob link alone is no change');
    const rootHead = await root.node.node.metadata.lastChangeSeq();

    const report = await collectAt(root, 'gcsite');
    assert.equal(report.links.count, 1);
    assert.equal(report.blobs.count, 1);
    assert.equal(await store.getBlobLink('app', lone), null);
    assert.ok(!existsSync(blobFile(site, lone)));
    assert.equal(await store.outboxSize(), 0, 'nothing to push up');
    assert.equal(await root.node.node.metadata.lastChangeSeq(), rootHead, 'the root\'s log did not move');
    for (const file of filesOf(site, image)) assert.ok(existsSync(file), 'the synced image is kept');
  });
});
