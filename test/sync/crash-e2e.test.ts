import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnNode, tempDir, type NodeProcess } from '../helpers/test-node.js';
import { TestClient, OCI_MANIFEST, sha256 } from '../helpers/oci-client.js';
import { createConnectedRegistry, spawnEdge, waitFor, tagDigest, type CreatedRegistry } from '../helpers/hierarchy.js';
import { kill9, listTags, portOf, verifyBlobFiles, verifyImage } from '../helpers/sync-e2e.js';
import { startSlowLink, type SlowLink } from '../helpers/slow-link.js';

/**
 * kill -9 in the middle of a sync, with real processes: first the parent dies while its child is
 * downloading, then the child dies while it is downloading. Both come back on the same data and
 * converge, and at no moment does the child serve a manifest or blob that is not whole.
 */

const MiB = 1024 * 1024;
const REPO = 'big/app';
const LAYER_SIZE = 4 * MiB;
const IMAGES = 6;
/** The child's link to its parent carries this much per connection: a download lasts long enough for a kill to land in it. */
const LINK_BYTES_PER_SECOND = 4 * MiB;

interface Image {
  tag: string;
  manifest: string;
  digest: string;
  blobs: Array<{ digest: string; size: number }>;
}

/** An image of one large random layer, its blobs pushed (the manifest not yet). */
async function pushImageBlobs(client: TestClient, tag: string): Promise<Image> {
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, tag, nonce: randomBytes(8).toString('hex') });
  const layer = randomBytes(LAYER_SIZE);
  const blobs = [
    { digest: await client.pushBlob(REPO, config), size: Buffer.byteLength(config) },
    { digest: await client.pushBlob(REPO, layer), size: layer.length },
  ];
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blobs[0]! },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...blobs[1]! }],
  });
  return { tag, manifest, digest: sha256(manifest), blobs };
}

async function putManifest(client: TestClient, image: Image): Promise<void> {
  const res = await client.putManifest(REPO, image.tag, image.manifest);
  assert.equal(res.status, 201, await res.text());
}

/** Files in a node's blob temp folder (blobs being written, or left by a crash). */
async function tempFiles(dataDir: string): Promise<Array<{ name: string; size: number }>> {
  const dir = join(dataDir, 'storage', '_tmp');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const files = await Promise.all(names.map(async (name) => ({ name, size: (await stat(join(dir, name)).catch(() => null))?.size ?? -1 })));
  return files.filter((f) => f.size >= 0);
}

/** Resolves once a blob download into `dataDir` has started and written something (polls every ms or so). */
async function downloadUnderway(dataDir: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await tempFiles(dataDir)).some((f) => f.size > 0)) return;
    await sleep(1);
  }
  throw new Error('no blob download started');
}

const isConnectionFailure = (err: unknown): boolean => err instanceof TypeError && /fetch failed|terminated/.test(err.message);

/**
 * Checks, over and over while it runs, that the node serves only whole content: every listed tag
 * resolves to a manifest whose bytes and blobs hash right, and every blob of `images` is either
 * unknown or served whole. A node that is down (connection refused) is skipped, not an error.
 */
class ServeChecker {
  readonly failures: string[] = [];
  rounds = 0;
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly images: () => Image[]) {}

  start(client: () => TestClient): void {
    this.stopped = false;
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          await this.round(client());
          this.rounds += 1;
        } catch (err) {
          if (!isConnectionFailure(err)) this.failures.push(err instanceof Error ? err.message : String(err));
        }
        await sleep(5);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async round(client: TestClient): Promise<void> {
    for (const tag of await listTags(client, REPO)) await verifyImage(client, REPO, tag);
    for (const image of this.images()) {
      for (const blob of image.blobs) {
        const res = await client.request('GET', `/v2/${REPO}/blobs/${blob.digest}`);
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (res.status === 404) continue;
        assert.equal(res.status, 200, `blob ${blob.digest}`);
        assert.equal(bytes.length, blob.size, `blob ${blob.digest} served with all its bytes`);
        assert.equal(sha256(bytes), blob.digest, `blob ${blob.digest} served whole`);
      }
    }
  }
}

describe('kill -9 mid-sync (real processes): parent and child both converge, nothing partial is ever served', () => {
  const dirs: Array<{ path: string; cleanup(): Promise<void> }> = [];
  let root: NodeProcess;
  let edge: NodeProcess;
  let rootDir: string;
  let edgeDir: string;
  let rootAdmin: TestClient;
  let edgeAdmin: TestClient;
  let cr: CreatedRegistry;
  let link: SlowLink;
  const images: Image[] = [];
  const checker = new ServeChecker(() => images);

  async function converged(): Promise<void> {
    await waitFor('the edge to hold every image', async () => {
      for (const image of images) if ((await tagDigest(edgeAdmin, REPO, image.tag)) !== image.digest) return false;
      return true;
    }, 40_000);
    for (const image of images) await verifyImage(edgeAdmin, REPO, image.tag, image.digest);
    assert.deepEqual((await listTags(edgeAdmin, REPO)).sort(), images.map((i) => i.tag).sort());
  }

  before(async () => {
    for (const prefix of ['outpost-crash-sync-root-', 'outpost-crash-sync-edge-']) {
      const dir = await tempDir(prefix);
      dirs.push(dir);
    }
    rootDir = dirs[0]!.path;
    edgeDir = dirs[1]!.path;
    root = await spawnNode(rootDir);
    rootAdmin = new TestClient(root.url);
    cr = await createConnectedRegistry(rootAdmin, { name: 'crash-edge', repositories: ['big/*'] });
    // The parent keeps its port across its restart, so the link outlives it.
    link = await startSlowLink(`127.0.0.1:${portOf(root.url)}`, LINK_BYTES_PER_SECOND);
  });

  /** The child, reaching its parent through the slow link. */
  const startEdge = (): Promise<NodeProcess> => spawnEdge(edgeDir, cr.connectionString, [], { ACR_PARENT_GATEWAY_ENDPOINT: link.endpoint });

  after(async () => {
    await checker.stop();
    await link?.close();
    for (const proc of [edge, root]) if (proc) await kill9(proc);
    for (const dir of dirs) await dir.cleanup();
  });

  test('the parent killed -9 while the child downloads, then restarted: the child serves only whole content and converges', async () => {
    for (let i = 0; i < IMAGES; i++) {
      const image = await pushImageBlobs(rootAdmin, `a${i}`);
      await putManifest(rootAdmin, image);
      images.push(image);
    }
    // The first start reconciles everything: kill the parent as soon as blobs are streaming.
    edge = await startEdge();
    edgeAdmin = new TestClient(edge.url);
    checker.start(() => edgeAdmin);
    await downloadUnderway(edgeDir);
    const rootPort = portOf(root.url);
    await kill9(root);
    const tagsAtKill = await listTags(edgeAdmin, REPO);
    assert.ok(tagsAtKill.length < IMAGES, `the kill landed mid-sync (the edge had ${tagsAtKill.length} of ${IMAGES} tags)`);

    // The parent down: the edge keeps serving what it has, whole.
    await sleep(1000);
    assert.equal((await edgeAdmin.request('GET', '/v2/')).status, 200);
    for (const tag of await listTags(edgeAdmin, REPO)) await verifyImage(edgeAdmin, REPO, tag);

    root = await spawnNode(rootDir, ['--port', String(rootPort)]);
    rootAdmin = new TestClient(root.url);
    // The parent's own content survived its kill whole.
    for (const image of images) await verifyImage(rootAdmin, REPO, image.tag, image.digest);
    await converged();
    assert.ok(checker.rounds > 0, 'the serve checker ran');
    assert.deepEqual(checker.failures, []);
    // Nothing partial was ever published into the blob store; the aborted downloads left nothing behind.
    assert.ok(await verifyBlobFiles(edgeDir) >= IMAGES * 2);
    assert.deepEqual(await tempFiles(edgeDir), []);
  });

  test('the child killed -9 while it downloads, then restarted: no partial content served, it resumes and converges', async () => {
    // Blobs first, then the manifests at once: the edge then downloads several large blobs in parallel.
    const batch: Image[] = [];
    for (let i = 0; i < IMAGES; i++) batch.push(await pushImageBlobs(rootAdmin, `b${i}`));
    images.push(...batch);
    const underway = downloadUnderway(edgeDir);
    await Promise.all(batch.map((image) => putManifest(rootAdmin, image)));
    await underway;
    await kill9(edge);
    await checker.stop();
    const leftovers = await tempFiles(edgeDir);
    // Downloads cut short, or written but not yet verified and published: either way unpublished.
    assert.ok(leftovers.some((f) => f.size > 0), `the kill landed mid-download: ${JSON.stringify(leftovers)}`);

    // The parent is untouched by its child's death.
    for (const image of images) await verifyImage(rootAdmin, REPO, image.tag, image.digest);

    edge = await startEdge();
    edgeAdmin = new TestClient(edge.url);
    // At once, before it has caught up: whatever it lists is whole, the partial files are invisible.
    const roundsBefore = checker.rounds;
    checker.start(() => edgeAdmin);
    await converged();
    await checker.stop();
    assert.ok(checker.rounds > roundsBefore, 'the serve checker ran after the restart');
    assert.deepEqual(checker.failures, []);
    assert.ok(await verifyBlobFiles(edgeDir) >= images.length * 2);
    // The root still has exactly what was pushed.
    assert.deepEqual((await listTags(rootAdmin, REPO)).sort(), images.map((i) => i.tag).sort());
  });
});

