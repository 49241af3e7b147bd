import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createConnectedRegistry, startEdge, tagDigest, waitFor } from '../helpers/hierarchy.js';
import { OCI_MANIFEST, TestClient, sha256 } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { ManualClock } from '../../src/core/clock.js';
import {
  FAST_SYNC, blobFile, detailsAtRoot, edgeStore, getManifest, mustMgmt, pushImage, startGatedEdge, startRoot, type GatedEdge, type Root,
} from './sync-fixture.js';

/**
 * Pushes an image under `tag` at the root whose layer's bytes the root has lost before the
 * manifest arrives (a blob DELETE at an older root, a disk fault): the edge can never fetch it.
 * Returns the manifest digest, the layer and its bytes (to put back).
 */
async function pushImageWithLostLayer(root: Root, tag: string): Promise<{ digest: string; layer: string; bytes: Buffer; body: string }> {
  const bytes = randomBytes(4096);
  const config = JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] }, nonce: tag });
  const configDigest = await root.admin.pushBlob('app', config);
  const layer = await root.admin.pushBlob('app', bytes);
  await rm(blobFile(root.node, layer));
  const body = JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: Buffer.byteLength(config) },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: bytes.length }],
  });
  const res = await root.admin.putManifest('app', tag, body);
  assert.equal(res.status, 201, await res.text());
  return { digest: sha256(body), layer, bytes, body };
}

/**
 * An edge never lets one manifest it cannot complete block the rest of its parent's change log
 * (docs/architecture.md, "Connected node and sync agent"): a blob the parent cannot
 * serve, a manifest this node's registry refuses. It parks the item (durably), moves on, reports
 * it in its status details at the root, retries it later (with backoff and at each full
 * reconcile), and forgets it once it succeeds or the parent deletes it.
 */
describe('an edge parks a change it cannot complete and syncs the rest', () => {
  const clock = new ManualClock(Date.now());
  let root: Root;
  let edge: TestNode;
  let atEdge: TestClient;
  const name = 'edgeparking';

  before(async () => {
    root = await startRoot();
    const cr = await createConnectedRegistry(root.admin, { name, mode: 'ReadOnly', repositories: ['app'], logLevel: 'None' });
    edge = await startEdge(cr.connectionString, { app: { ...FAST_SYNC, clock } });
    atEdge = new TestClient(edge.url);
    await waitFor('the first sync', async () => (await edgeStore(edge).getCursor()) !== null);
  });

  after(async () => {
    await edge?.close();
    await root?.node.close();
  });

  test('a manifest whose blob the parent lost is parked and reported; later changes arrive; it syncs once the blob is back', async () => {
    const victim = await pushImageWithLostLayer(root, 'broken');
    const later = await pushImage(root.admin, 'app', 'later');
    await waitFor('app:later at the edge', async () => (await tagDigest(atEdge, 'app', 'later')) === later.digest);
    assert.equal((await getManifest(atEdge, 'app', victim.digest)).status, 404);
    const detail = await waitFor('the parked item at the root', async () =>
      (await detailsAtRoot(root, name)).find((d) => d.type === 'SyncItemFailed' && d.digest === victim.digest));
    assert.equal(detail.repository, 'app');
    assert.equal(detail.code, 'BLOB_UNKNOWN');
    assert.ok(detail.description.includes(`app:broken@${victim.digest}`), detail.description);

    // Back at the parent: the next retry (backoff, on the agent's clock) completes it.
    const file = blobFile(root.node, victim.layer);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, victim.bytes);
    await waitFor('the parked manifest synced on retry', async () => {
      clock.advance(30_000);
      return (await getManifest(atEdge, 'app', victim.digest)).status === 200;
    });
    assert.equal(await tagDigest(atEdge, 'app', 'broken'), victim.digest);
    await waitFor('the detail cleared at the root', async () =>
      !(await detailsAtRoot(root, name)).some((d) => d.type === 'SyncItemFailed'));
  });

  test('a parked manifest the parent deletes is forgotten, with its status detail', async () => {
    const doomed = await pushImageWithLostLayer(root, 'doomed');
    await waitFor('the parked item at the root', async () =>
      (await detailsAtRoot(root, name)).some((d) => d.type === 'SyncItemFailed' && d.digest === doomed.digest));
    assert.equal((await root.admin.request('DELETE', `/v2/app/manifests/${doomed.digest}`)).status, 202);
    await waitFor('the detail cleared at the root', async () =>
      !(await detailsAtRoot(root, name)).some((d) => d.type === 'SyncItemFailed'));
  });

  test('a manifest this node refuses (MANIFEST_INVALID) is parked; later changes arrive', async () => {
    // Bytes no registry would accept, stored at the root behind its validation (an older root, a fault).
    const garbage = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: 'not a descriptor', layers: 7 });
    const digest = sha256(garbage);
    const file = blobFile(root.node, digest);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, garbage);
    await root.node.node.metadata.putManifest({ origin: 'local', actor: null }, {
      repository: 'app', digest, mediaType: OCI_MANIFEST, size: Buffer.byteLength(garbage), artifactType: null, subject: null,
      annotations: null, blobs: [], manifests: [], tag: 'garbage',
    });
    const later = await pushImage(root.admin, 'app', 'after-garbage');
    await waitFor('app:after-garbage at the edge', async () => (await tagDigest(atEdge, 'app', 'after-garbage')) === later.digest);
    const detail = await waitFor('the parked item at the root', async () =>
      (await detailsAtRoot(root, name)).find((d) => d.type === 'SyncItemFailed' && d.digest === digest));
    assert.equal(detail.code, 'MANIFEST_INVALID');
    assert.equal(detail.tag, 'garbage');
    assert.equal(await tagDigest(atEdge, 'app', 'garbage'), null);
  });

  test('a full reconcile completes past a tag it cannot complete, and retries the parked items', async () => {
    const attempts = async (): Promise<number> => {
      const detail = (await detailsAtRoot(root, name)).find((d) => d.type === 'SyncItemFailed');
      return Number(/\((\d+) attempt/.exec(detail?.description ?? '')?.[1] ?? 0);
    };
    const before = await attempts();
    assert.ok(before >= 1);
    await mustMgmt(root.admin, 'POST', `/connected-registries/${name}/resync`);
    const afterResync = await pushImage(root.admin, 'app', 'after-resync');
    await waitFor('app:after-resync at the edge', async () => (await tagDigest(atEdge, 'app', 'after-resync')) === afterResync.digest);
    // The item the edge cannot complete is still reported (once), not lost by the reconcile.
    const details = (await detailsAtRoot(root, name)).filter((d) => d.type === 'SyncItemFailed');
    assert.equal(details.length, 1, JSON.stringify(details));
    assert.equal(details[0]!.code, 'MANIFEST_INVALID');
    await waitFor('the parked item retried by the reconcile', async () => (await attempts()) > before);
  });
});

/**
 * A parent that answers but fails one item again and again with a server error (its storage
 * cannot read that blob) is not a link that is down: after a few sessions in a row end on the
 * same message, that item is parked like one the parent refuses, and the log goes on.
 */
describe('an edge parks a change the parent fails to serve again and again', () => {
  const clock = new ManualClock(Date.now());
  let gated: GatedEdge;

  before(async () => {
    gated = await startGatedEdge('edgeserverfail', 'ReadOnly', { ...FAST_SYNC, clock });
  });

  after(async () => {
    await gated?.close();
  });

  test('a blob the parent answers 5xx for, session after session, is parked; later changes arrive', async () => {
    const { root, gate, atEdge } = gated;
    const layer = randomBytes(2048);
    const failing = gate.rule((method, path) => method === 'GET' && path.endsWith(`/blobs/${sha256(layer)}`), 'fail');
    const image = await pushImage(root.admin, 'app', 'flaky', { layers: [layer] });
    const later = await pushImage(root.admin, 'app', 'after-flaky');
    await waitFor('app:after-flaky at the edge', async () => {
      clock.advance(1_000); // the waits between sessions
      return (await tagDigest(atEdge, 'app', 'after-flaky')) === later.digest;
    });
    assert.ok(failing.matched >= 5, `asked ${failing.matched} times before parking`);
    const detail = await waitFor('the parked item at the root', async () =>
      (await detailsAtRoot(root, 'edgeserverfail')).find((d) => d.type === 'SyncItemFailed' && d.digest === image.digest));
    assert.equal(detail.code, 'UNAVAILABLE');
    failing.release();
    await waitFor('the parked item completed on retry', async () => {
      clock.advance(30_000);
      return (await tagDigest(atEdge, 'app', 'flaky')) === image.digest;
    });
  });
});
