import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createConnectedRegistry, startEdge, tagDigest, waitFor } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import {
  FAST_SYNC, assertBlobsServed, edgeStore, getManifest, hasRepository, listTags, mustMgmt, pushArtifact, pushImage, pushIndex, startRoot, transfers, type Root,
} from './sync-fixture.js';

/**
 * Continuous sync (docs/architecture.md, "Connected node and sync agent"): what a root holds reaches a ReadOnly edge within about a
 * second — tags, images, indexes with every platform, artifacts and their referrers, verified
 * blobs — without moving any blob twice; and every kind of change propagates.
 */
describe('continuous sync root → edge', () => {
  let root: Root;
  let edge: TestNode;
  let atEdge: TestClient;

  before(async () => {
    root = await startRoot();
    const cr = await createConnectedRegistry(root.admin, { name: 'edgeprop', mode: 'ReadOnly', repositories: ['apps/*', 'web'], logLevel: 'Error' });
    // The agent's own defaults (25 s long-polls): a push wakes the held poll at once.
    edge = await startEdge(cr.connectionString);
    atEdge = new TestClient(edge.url);
  });

  after(async () => {
    await edge?.close();
    await root?.node.close();
  });

  test('a push at the root is pullable at the edge in under 2 s, with every blob verified', async () => {
    await waitFor('the first sync', async () => (await edgeStore(edge).getCursor()) !== null);
    let image!: Awaited<ReturnType<typeof pushImage>>;
    for (const tag of ['v5', 'v4', 'v3', 'v2', 'v1']) {
      image = await pushImage(root.admin, 'apps/api', tag, { layers: [randomBytes(4096), randomBytes(8192)] });
      const pushed = Date.now();
      await waitFor(`apps/api:${tag} at the edge`, async () => (await tagDigest(atEdge, 'apps/api', tag)) === image.digest, 5_000);
      const latency = Date.now() - pushed;
      assert.ok(latency < 2_000, `propagation took ${latency} ms`);
    }
    // Repositories outside the scope never come, however busy.
    await pushImage(root.admin, 'private/secret', 'v1');
    const after = await pushImage(root.admin, 'apps/api', 'after-private');
    await waitFor('apps/api:after-private', async () => (await tagDigest(atEdge, 'apps/api', 'after-private')) === after.digest);
    assert.equal(await hasRepository(atEdge, 'private/secret'), false);
    assert.equal((await getManifest(atEdge, 'private/secret', 'v1')).status, 404);
    const served = await getManifest(atEdge, 'apps/api', 'v1');
    assert.equal(served.status, 200);
    assert.equal(served.body, image.body);
    await assertBlobsServed(atEdge, 'apps/api', image.blobs);
  });

  test('blobs already at the edge are never transferred again', async () => {
    const shared = [randomBytes(3000), randomBytes(3001)];
    const first = await pushImage(root.admin, 'apps/cache', 'one', { layers: shared });
    await waitFor('apps/cache:one', async () => (await tagDigest(atEdge, 'apps/cache', 'one')) === first.digest);

    // A second tag of the same image: no blob, no manifest moves.
    let before = transfers(edge);
    const retag = await root.admin.putManifest('apps/cache', 'also-one', first.body);
    assert.equal(retag.status, 201);
    await waitFor('apps/cache:also-one', async () => (await tagDigest(atEdge, 'apps/cache', 'also-one')) === first.digest);
    let now = transfers(edge);
    assert.equal(now.blobsFetched - before.blobsFetched, 0);
    assert.equal(now.manifestsFetched - before.manifestsFetched, 0);

    // A new image sharing both layers: only its config and its new layer move.
    before = now;
    const fresh = randomBytes(5000);
    const second = await pushImage(root.admin, 'apps/cache', 'two', { layers: [...shared, fresh] });
    await waitFor('apps/cache:two', async () => (await tagDigest(atEdge, 'apps/cache', 'two')) === second.digest);
    now = transfers(edge);
    assert.equal(now.blobsFetched - before.blobsFetched, 2);
    assert.equal(now.blobBytesFetched - before.blobBytesFetched, fresh.length + Buffer.byteLength((await configOf(root.admin, 'apps/cache', second.blobs[0]!))));
    assert.equal(now.manifestsFetched - before.manifestsFetched, 1);
    await assertBlobsServed(atEdge, 'apps/cache', second.blobs);

    // The same layers in another repository in scope: linked there, not downloaded again.
    before = now;
    const elsewhere = await pushImage(root.admin, 'apps/other', 'x', { layers: shared, config: await configOf(root.admin, 'apps/cache', first.blobs[0]!) });
    await waitFor('apps/other:x', async () => (await tagDigest(atEdge, 'apps/other', 'x')) === elsewhere.digest);
    now = transfers(edge);
    assert.equal(now.blobsFetched - before.blobsFetched, 0);
    await assertBlobsServed(atEdge, 'apps/other', elsewhere.blobs);
  });

  test('an OCI index arrives with all its platforms', async () => {
    const index = await pushIndex(root.admin, 'apps/multi', 'latest', [
      { os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }, { os: 'windows', architecture: 'amd64' },
    ]);
    await waitFor('apps/multi:latest', async () => (await tagDigest(atEdge, 'apps/multi', 'latest')) === index.digest);
    assert.equal((await getManifest(atEdge, 'apps/multi', 'latest')).body, index.body);
    for (const child of index.children) {
      const served = await getManifest(atEdge, 'apps/multi', child.digest);
      assert.equal(served.status, 200, `platform manifest ${child.digest}`);
      assert.equal(served.body, child.body);
      await assertBlobsServed(atEdge, 'apps/multi', child.blobs);
    }
    // A signature of one platform's manifest (untagged, its subject untagged too) comes along.
    const signature = await pushArtifact(root.admin, 'apps/multi', index.children[1]!, 'application/vnd.example.signature');
    await waitFor('the platform signature at the edge', async () => (await getManifest(atEdge, 'apps/multi', signature.digest)).status === 200);
  });

  test('an artifact with a subject arrives and the edge lists it among the referrers', async () => {
    const image = await pushImage(root.admin, 'apps/signed', 'v1');
    await waitFor('apps/signed:v1', async () => (await tagDigest(atEdge, 'apps/signed', 'v1')) === image.digest);
    const signature = await pushArtifact(root.admin, 'apps/signed', image, 'application/vnd.example.signature');
    const sbom = await pushArtifact(root.admin, 'apps/signed', image, 'application/spdx+json');
    const referrers = async (): Promise<string[]> => {
      const res = await atEdge.request('GET', `/v2/apps/signed/referrers/${image.digest}`);
      assert.equal(res.status, 200);
      const index = (await res.json()) as { manifests: Array<{ digest: string; artifactType?: string }> };
      return index.manifests.map((m) => `${m.digest} ${m.artifactType}`).sort();
    };
    const expected = [`${signature.digest} application/vnd.example.signature`, `${sbom.digest} application/spdx+json`].sort();
    await waitFor('both referrers at the edge', async () => JSON.stringify(await referrers()) === JSON.stringify(expected));
    assert.equal((await getManifest(atEdge, 'apps/signed', signature.digest)).body, signature.body);
    await assertBlobsServed(atEdge, 'apps/signed', [...signature.blobs, ...sbom.blobs]);
  });

  test('tag moves, tag deletes, manifest deletes and repository deletes propagate', async () => {
    const a = await pushImage(root.admin, 'web', 'stable');
    await pushImage(root.admin, 'web', 'old');
    const b = await pushImage(root.admin, 'web', 'beta');
    await waitFor('web tags', async () => (await listTags(atEdge, 'web')).sort().join() === 'beta,old,stable');

    // Tag move: stable → b.
    assert.equal((await root.admin.putManifest('web', 'stable', b.body)).status, 201);
    await waitFor('stable moved', async () => (await tagDigest(atEdge, 'web', 'stable')) === b.digest);
    // Tag delete over /v2, and over the management API.
    assert.equal((await root.admin.request('DELETE', '/v2/web/manifests/old')).status, 202);
    await waitFor('old gone', async () => (await tagDigest(atEdge, 'web', 'old')) === null);
    await mustMgmt(root.admin, 'DELETE', '/repositories/web/tags/beta');
    await waitFor('beta gone', async () => (await tagDigest(atEdge, 'web', 'beta')) === null);
    assert.equal(await tagDigest(atEdge, 'web', 'stable'), b.digest, 'deleting a tag leaves its manifest and other tags');
    // Manifest delete: a (untagged since the move) disappears at the edge.
    assert.equal((await getManifest(atEdge, 'web', a.digest)).status, 200);
    assert.equal((await root.admin.request('DELETE', `/v2/web/manifests/${a.digest}`)).status, 202);
    await waitFor('manifest a gone', async () => (await getManifest(atEdge, 'web', a.digest)).status === 404);

    // Repository delete over the management API.
    await mustMgmt(root.admin, 'DELETE', '/repositories/web');
    await waitFor('web gone at the edge', async () => !(await hasRepository(atEdge, 'web')));
    assert.equal((await getManifest(atEdge, 'web', b.digest)).status, 404);
    // Other repositories are untouched.
    assert.ok(await hasRepository(atEdge, 'apps/api'));
  });

  test('a new edge\'s first sync (a full reconcile) brings the same content as the messages did', async () => {
    const cr = await createConnectedRegistry(root.admin, { name: 'edgeprop2', mode: 'ReadOnly', repositories: ['apps/*', 'web'], logLevel: 'Error' });
    const second = await startEdge(cr.connectionString, { app: FAST_SYNC });
    try {
      const atSecond = new TestClient(second.url);
      await waitFor('its first sync', async () => (await edgeStore(second).getCursor()) !== null);
      const repositories = ['apps/api', 'apps/cache', 'apps/multi', 'apps/other', 'apps/signed'];
      for (const repo of repositories) {
        const tags = (await listTags(atEdge, repo)).sort();
        assert.deepEqual((await listTags(atSecond, repo)).sort(), tags, repo);
        for (const tag of tags) assert.equal(await tagDigest(atSecond, repo, tag), await tagDigest(atEdge, repo, tag), `${repo}:${tag}`);
      }
      assert.equal(await hasRepository(atSecond, 'web'), false);
      // Everything reachable from the tags: index children, referrers, referrers of index children.
      for (const [repo, digest] of await manifestsOf(edgeStore(edge), repositories)) {
        assert.equal((await getManifest(atSecond, repo, digest)).status, 200, `${repo}@${digest} at the new edge`);
      }
    } finally {
      await second.close();
    }
  });
});

/** Every manifest a node's store holds in these repositories. */
async function manifestsOf(store: ReturnType<typeof edgeStore>, repositories: string[]): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for (const repo of repositories) for (const digest of (await store.listManifestDigests(repo)) ?? []) out.push([repo, digest]);
  return out;
}

async function configOf(client: TestClient, repo: string, digest: string): Promise<string> {
  const res = await client.request('GET', `/v2/${repo}/blobs/${digest}`);
  assert.equal(res.status, 200);
  return res.text();
}
