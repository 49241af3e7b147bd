import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { OUTPOST_VERSION } from '../../src/config/version.js';
import { backupNode } from '../../src/lifecycle/backup.js';
import { restoreNode } from '../../src/lifecycle/restore.js';
import { BACKUP_MANIFEST_FILE, type BackupManifest } from '../../src/lifecycle/backup-manifest.js';
import { createStorageDriver, DriverBlobStore } from '../../src/storage/index.js';
import { startTestNode, tempDir, type TestNode } from '../helpers/test-node.js';
import { OCI_INDEX, OCI_MANIFEST, TestClient, sha256 } from '../helpers/oci-client.js';
import { assertServesExactly, contentOfBackup, partialLeftovers } from '../helpers/backup.js';
import { mountTmpfs, unmountTmpfs } from '../helpers/tmpfs.js';

/**
 * `backupNode` on a node that keeps serving (and taking pushes) meanwhile, and `restoreNode`
 * into a new folder that a node is then started on: the restored node serves exactly what the
 * backup's one snapshot held, and a blob collected between the snapshot and its copy makes the
 * backup take a new snapshot instead of shipping an incomplete one.
 */

const dirs: Array<{ cleanup(): Promise<void> }> = [];
async function newDir(prefix: string): Promise<string> {
  const dir = await tempDir(prefix);
  dirs.push(dir);
  return dir.path;
}

after(async () => {
  for (const dir of dirs) await dir.cleanup();
});

/** The node's own blob store, as garbage collection would use it (to delete a blob behind the node's back). */
function blobsOf(node: TestNode): DriverBlobStore {
  return new DriverBlobStore(createStorageDriver('filesystem', { root: join(node.dataDir, 'storage') }));
}

/** Pushes an index of two platform images under `tag` (children by digest). */
async function pushIndex(client: TestClient, repo: string, tag: string): Promise<string> {
  const children = [];
  for (const architecture of ['amd64', 'arm64']) {
    const child = await client.pushImage(repo, `${tag}-${architecture}`, { extra: {} });
    children.push({ mediaType: OCI_MANIFEST, digest: child.digest, size: Buffer.byteLength(child.body), platform: { os: 'linux', architecture } });
  }
  const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children });
  const res = await client.putManifest(repo, tag, body, OCI_INDEX);
  assert.equal(res.status, 201, await res.text());
  return sha256(body);
}

/** Clients pushing images in a loop until stopped; counts the pushes each finished. */
function startPushers(client: TestClient, count: number): { finished: () => number; reached(n: number): Promise<void>; stop(): Promise<void> } {
  let running = true;
  let finished = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const loops = Array.from({ length: count }, async (_, k) => {
    for (let i = 0; running; i++) {
      await client.pushImage(`load/p${k}`, `t${i}`, { layers: 2 });
      finished += 1;
      for (const waiter of waiters.filter((w) => w.n <= finished)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  return {
    finished: () => finished,
    reached: (n) => (finished >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('backup of a running node, restore into a new folder', () => {
  test('a backup taken while pushes run holds one snapshot; a node started on its restore serves exactly that, every byte', async () => {
    const node = await startTestNode();
    const client = new TestClient(node.url);
    try {
      for (let i = 0; i < 4; i++) await client.pushImage('app', `v${i}`, { layers: 3 });
      const index = await pushIndex(client, 'multi', 'latest');
      const untagged = await client.pushImage('app', 'scratch');
      assert.equal((await client.request('DELETE', `/v2/app/manifests/scratch`)).status, 202, 'the tag goes, the manifest stays');
      const before = await client.pushImage('app', 'before-backup');

      const pushers = startPushers(client, 3);
      // Let the load get going, so the snapshot is taken among pushes.
      await pushers.reached(3);
      const finishedAtStart = pushers.finished();
      let afterSnapshot: { digest: string } | null = null;
      const to = join(await newDir('outpost-backup-'), 'nightly');
      const summary = await backupNode({
        dataDir: node.dataDir, storage: 'filesystem', to, outpostVersion: OUTPOST_VERSION, clock: systemClock,
        // A push that finishes after the snapshot belongs to the next backup, not to this one.
        onSnapshot: async () => {
          afterSnapshot ??= await client.pushImage('app', 'after-snapshot');
        },
      });
      const finishedDuring = pushers.finished() - finishedAtStart;
      await pushers.stop();
      assert.ok(finishedDuring > 0, 'pushes went on while the backup ran');

      const held = contentOfBackup(to);
      assert.equal(summary.snapshots, 1);
      assert.equal(held.tags.get('app')?.get('before-backup'), before.digest, 'a push finished before the backup is in it');
      assert.equal(held.tags.get('multi')?.get('latest'), index);
      assert.ok(held.manifests.includes(`app@${untagged.digest}`), 'untagged manifests are kept');
      assert.equal(held.tags.get('app')?.has('after-snapshot'), false, 'a push finished after the snapshot is not');
      assert.ok(!held.manifests.includes(`app@${afterSnapshot!.digest}`));
      assert.ok((held.tags.get('load/p0')?.size ?? 0) > 0, 'the load is in the snapshot as far as it had gone');

      // The manifest says what the snapshot holds.
      const manifest = JSON.parse(await readFile(join(to, BACKUP_MANIFEST_FILE), 'utf8')) as BackupManifest;
      assert.equal(manifest.outpostVersion, OUTPOST_VERSION);
      assert.equal(manifest.repositories, held.repositories.length);
      assert.equal(manifest.manifests, held.manifests.length);
      assert.equal(manifest.tags, [...held.tags.values()].reduce((n, tags) => n + tags.size, 0));
      assert.equal(manifest.sync, null, 'a root has no sync position');
      assert.deepEqual(manifest.files.map((f) => f.path), ['jwt-signing-key.pem'], 'the signing key (the admin password came from the environment)');
      assert.equal(manifest.files[0]!.mode, 0o600);
      assert.deepEqual(summary.files, ['jwt-signing-key.pem']);
      // Exactly the referenced blobs, no more (the load's later blobs are not there).
      const blobFiles = await countFiles(join(to, 'blobs'));
      assert.equal(blobFiles, manifest.blobs.count);
      assert.deepEqual(await partialLeftovers(to), []);

      const restoredDir = join(await newDir('outpost-restored-'), 'data');
      const restored = await restoreNode({ from: to, dataDir: restoredDir, storage: 'filesystem', clock: systemClock });
      assert.deepEqual(restored.blobs, manifest.blobs);
      const again = await startTestNode({ dataDir: restoredDir });
      try {
        const bytes = await assertServesExactly(new TestClient(again.url), held);
        assert.ok(bytes > 0);
        // The signing key came back: a token issued by the original node is accepted by the restored one.
        const token = await bearerFor(node.url);
        const withToken = await fetch(new URL('/v2/app/tags/list', again.url), { headers: { Authorization: `Bearer ${token}` } });
        assert.equal(withToken.status, 200, 'a JWT of the original node verifies at the restored node');
      } finally {
        await again.close();
      }
    } finally {
      await node.close();
    }
  });

  test('a blob collected after the snapshot makes the backup take a new snapshot; the backup is that snapshot and all its blobs', async () => {
    const node = await startTestNode();
    const client = new TestClient(node.url);
    try {
      const kept = await client.pushImage('keep', 'v1', { layers: 2 });
      const gone = await client.pushImage('gone', 'v1', { layers: 2 });
      const goneConfig = (JSON.parse(gone.body) as { config: { digest: string } }).config.digest;
      const to = join(await newDir('outpost-backup-'), 'b');
      const summary = await backupNode({
        dataDir: node.dataDir, storage: 'filesystem', to, outpostVersion: OUTPOST_VERSION, clock: systemClock, parallel: 1,
        onSnapshot: async (attempt, contents) => {
          if (attempt !== 1) return;
          assert.ok(contents.content.has(gone.digest), 'the first snapshot references the image');
          // A client deletes the image and its blob links, then garbage collection starts deleting
          // their bytes (one so far): all of it after the snapshot, before the backup copies them.
          // The backup copies the others for this snapshot; the next one no longer wants them.
          assert.equal((await client.request('DELETE', `/v2/gone/manifests/${gone.digest}`)).status, 202);
          for (const blob of [goneConfig, ...gone.layers]) assert.equal((await client.request('DELETE', `/v2/gone/blobs/${blob}`)).status, 202);
          await blobsOf(node).delete(gone.layers[1]!);
        },
      });
      assert.equal(summary.snapshots, 2, 'a second snapshot was taken');
      const held = contentOfBackup(to);
      assert.equal(held.tags.get('keep')?.get('v1'), kept.digest);
      assert.equal(held.tags.has('gone'), false, 'the second snapshot no longer holds the deleted image');
      assert.equal(await countFiles(join(to, 'blobs')), summary.blobs.count, 'no blob only the first snapshot referenced is left over');
      assert.equal(summary.blobs.count, 4, "keep:v1's manifest, config and two layers");

      const restoredDir = join(await newDir('outpost-restored-'), 'data');
      await restoreNode({ from: to, dataDir: restoredDir, storage: 'filesystem', clock: systemClock });
      const again = await startTestNode({ dataDir: restoredDir });
      try {
        await assertServesExactly(new TestClient(again.url), held);
      } finally {
        await again.close();
      }
    } finally {
      await node.close();
    }
  });

  test('a blob the metadata still references but the storage lost fails the backup after its snapshots, leaving nothing', async () => {
    const node = await startTestNode();
    const client = new TestClient(node.url);
    try {
      const image = await client.pushImage('app', 'v1', { layers: 2 });
      await blobsOf(node).delete(image.layers[1]!);
      const parent = await newDir('outpost-backup-');
      const to = join(parent, 'b');
      let snapshots = 0;
      await assert.rejects(
        backupNode({
          dataDir: node.dataDir, storage: 'filesystem', to, outpostVersion: OUTPOST_VERSION, clock: systemClock, maxSnapshots: 3,
          onSnapshot: () => {
            snapshots += 1;
          },
        }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'BLOB_MISSING');
          assert.ok(err.message.includes(image.layers[1]!), err.message);
          assert.match(err.message, /in 3 snapshots in a row: the storage has lost content/);
          return true;
        },
      );
      assert.equal(snapshots, 3);
      assert.deepEqual(await readdir(parent), [], 'no backup folder and no partial folder are left');
    } finally {
      await node.close();
    }
  });

  test("a blob of the node's storage that does not match its digest fails the backup (CONTENT_INVALID), leaving nothing", async () => {
    const node = await startTestNode();
    const client = new TestClient(node.url);
    try {
      const image = await client.pushImage('app', 'v1');
      const hex = image.layers[0]!.slice('sha256:'.length);
      await writeFile(join(node.dataDir, 'storage', 'blobs', 'sha256', hex.slice(0, 2), hex), Buffer.alloc(1024, 7));
      const to = join(await newDir('outpost-backup-'), 'b');
      await assert.rejects(
        backupNode({ dataDir: node.dataDir, storage: 'filesystem', to, outpostVersion: OUTPOST_VERSION, clock: systemClock }),
        (err: Error & { code?: string }) => err.code === 'CONTENT_INVALID' && err.message.includes(image.layers[0]!),
      );
      assert.deepEqual(await partialLeftovers(to), []);
    } finally {
      await node.close();
    }
  });

  test('a backup target that fills up fails the backup (COPY_FAILED, the cause named) and leaves nothing on it', async (t) => {
    const disk = await newDir('outpost-backup-full-');
    if (!mountTmpfs(disk, '2m')) {
      t.skip('cannot mount a tmpfs here');
      return;
    }
    const node = await startTestNode();
    try {
      const client = new TestClient(node.url);
      // More than the 2 MiB disk holds, in blobs: the metadata snapshot fits, the blobs do not.
      for (let i = 0; i < 3; i++) await client.pushBlob('app', randomBytes(1024 * 1024));
      const to = join(disk, 'b');
      await assert.rejects(
        backupNode({ dataDir: node.dataDir, storage: 'filesystem', to, outpostVersion: OUTPOST_VERSION, clock: systemClock, parallel: 1 }),
        (err: Error & { code?: string }) => err.code === 'COPY_FAILED' && /no space left on device/.test(err.message) && /nothing was kept$/.test(err.message),
      );
      assert.deepEqual(await readdir(disk), [], 'the disk holds nothing of the attempt');
    } finally {
      await node.close();
      unmountTmpfs(disk);
    }
  });
});

/** A Bearer JWT from the node's token service for pulling `app` (admin's Basic credentials). */
async function bearerFor(url: string): Promise<string> {
  const res = await new TestClient(url).request('GET', '/oauth2/token?service=outpost&scope=repository:app:pull');
  assert.equal(res.status, 200);
  return ((await res.json()) as { token: string }).token;
}

async function countFiles(folder: string): Promise<number> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).length;
}
