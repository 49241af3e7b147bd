import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestNode, tempDir, type TestNode } from '../helpers/test-node.js';
import { TestClient, sha256 } from '../helpers/oci-client.js';
import { mountTmpfs, unmountTmpfs } from '../helpers/tmpfs.js';

/**
 * A node whose disk fills up (a real, small tmpfs): pushes get 507 STORAGE_FULL with a message
 * saying so, a PATCH that failed leaves the session's Range where it was so the retry from there
 * works once space is back, and reads go on. A read-only disk gets 503 STORAGE_READ_ONLY. Skipped
 * only where no tmpfs can be mounted (not root).
 */

interface ErrorJson {
  errors: Array<{ code: string; message: string }>;
}

async function expectStorageError(res: Response, status: number, code: string, what: string): Promise<string> {
  const text = await res.text();
  assert.equal(res.status, status, `${what}: ${text}`);
  const error = (JSON.parse(text) as ErrorJson).errors[0]!;
  assert.equal(error.code, code, what);
  return error.message;
}

/** Fills the filesystem at `dir` with one file so that about `leave` bytes stay free. */
async function fill(dir: string, leave: number): Promise<string> {
  const path = join(dir, 'filler');
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  await writeFile(path, Buffer.alloc(Math.max(0, free - leave)));
  // Top up what block rounding left (leave 0 means nothing at all).
  if (leave === 0) {
    try {
      for (;;) await writeFile(path, Buffer.alloc(4096), { flag: 'a' });
    } catch {
      // full
    }
  }
  return path;
}

describe('a full disk answers 507 STORAGE_FULL and keeps serving reads', () => {
  let dir: { path: string; cleanup(): Promise<void> };
  let mounted = false;
  let node: TestNode | null = null;
  let c: TestClient;
  let image: { digest: string; body: string; layers: string[] };

  before(async () => {
    dir = await tempDir('outpost-full-');
    mounted = mountTmpfs(dir.path, '8m');
    if (!mounted) return;
    node = await startTestNode({ dataDir: join(dir.path, 'data') });
    c = new TestClient(node.url);
    image = await c.pushImage('full/app', 'v1', { layers: 2 });
  });

  after(async () => {
    await node?.close();
    if (mounted) unmountTmpfs(dir.path);
    await dir.cleanup();
  });

  const readsStillWork = async (): Promise<void> => {
    assert.equal((await c.request('GET', '/v2/full/app/manifests/v1')).status, 200);
    const blob = await c.request('GET', `/v2/full/app/blobs/${image.layers[0]}`);
    assert.equal(blob.status, 200);
    assert.equal(sha256(new Uint8Array(await blob.arrayBuffer())), image.layers[0]);
    assert.equal((await c.request('HEAD', `/v2/full/app/blobs/${image.layers[1]}`)).status, 200);
    assert.equal((await c.request('GET', '/v2/full/app/tags/list')).status, 200);
    assert.equal((await c.request('GET', '/v2/_catalog')).status, 200);
  };

  test('monolithic push, PATCH and retry from the reported Range, manifest PUT and a new session', async (t) => {
    if (!mounted) {
      t.skip('cannot mount a tmpfs here');
      return;
    }
    let filler = await fill(dir.path, 400 * 1024);

    // A monolithic push that does not fit: 507, a message that says so, no temporary file left.
    const big = randomBytes(2 * 1024 * 1024);
    const mono = await c.request('POST', `/v2/full/app/blobs/uploads/?digest=${sha256(big)}`, { body: big, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.match(await expectStorageError(mono, 507, 'STORAGE_FULL', 'monolithic'), /storage is full/);
    assert.deepEqual(await readdir(join(dir.path, 'data', 'storage', '_tmp')).catch(() => []), []);
    assert.equal((await c.request('HEAD', `/v2/full/app/blobs/${sha256(big)}`)).status, 404);
    await readsStillWork();

    // A chunked upload: the first chunk fits, the second does not.
    const start = await c.request('POST', '/v2/full/app/blobs/uploads/');
    assert.equal(start.status, 202);
    const location = start.headers.get('location')!;
    const id = start.headers.get('docker-upload-uuid')!;
    const first = big.subarray(0, 100 * 1024);
    const ok = await c.request('PATCH', location, { body: first, headers: { 'Content-Range': `0-${first.length - 1}`, 'Content-Type': 'application/octet-stream' } });
    assert.equal(ok.status, 202, await ok.text());
    assert.equal(ok.headers.get('range'), `0-${first.length - 1}`);
    const rest = big.subarray(first.length);
    const failed = await c.request('PATCH', location, { body: rest, headers: { 'Content-Range': `${first.length}-${big.length - 1}`, 'Content-Type': 'application/octet-stream' } });
    await expectStorageError(failed, 507, 'STORAGE_FULL', 'PATCH on a full disk');
    const status = await c.request('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${first.length - 1}`, 'the failed PATCH left no bytes counted');
    assert.equal((await stat(join(dir.path, 'data', 'storage', 'uploads', id, 'data'))).size, first.length);
    await readsStillWork();

    // Space is back: the retry from the reported range works, and the blob is whole.
    await rm(filler);
    const retried = await c.request('PATCH', location, { body: rest, headers: { 'Content-Range': `${first.length}-${big.length - 1}`, 'Content-Type': 'application/octet-stream' } });
    assert.equal(retried.status, 202, await retried.text());
    const done = await c.request('PUT', `${location}?digest=${sha256(big)}`);
    assert.equal(done.status, 201, await done.text());
    const served = await c.request('GET', `/v2/full/app/blobs/${sha256(big)}`);
    assert.equal(sha256(new Uint8Array(await served.arrayBuffer())), sha256(big));

    // Nothing free at all: a manifest PUT and a new session are 507 too, reads still work.
    filler = await fill(dir.path, 0);
    const config = await c.request('GET', `/v2/full/app/blobs/${(JSON.parse(image.body) as { config: { digest: string } }).config.digest}`);
    assert.equal(config.status, 200);
    await config.arrayBuffer();
    const manifest = JSON.stringify({ ...JSON.parse(image.body) as object, annotations: { full: 'yes' } });
    await expectStorageError(await c.putManifest('full/app', 'v2', manifest), 507, 'STORAGE_FULL', 'manifest PUT');
    assert.equal((await c.request('GET', '/v2/full/app/manifests/v2')).status, 404);
    await expectStorageError(await c.request('POST', '/v2/full/app/blobs/uploads/'), 507, 'STORAGE_FULL', 'new session');
    await readsStillWork();
    await rm(filler);
    assert.equal((await c.putManifest('full/app', 'v2', manifest)).status, 201, 'and writes work again once space is freed');
  });
});

describe('a read-only disk answers 503 STORAGE_READ_ONLY and keeps serving reads', () => {
  let dir: { path: string; cleanup(): Promise<void> };
  let mounted = false;
  let node: TestNode | null = null;

  before(async () => {
    dir = await tempDir('outpost-rofs-');
    // Only the blob storage is on the tmpfs (the metadata database stays writable).
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir.path, 'storage'));
    mounted = mountTmpfs(join(dir.path, 'storage'), '8m');
    if (mounted) node = await startTestNode({ dataDir: dir.path });
  });

  after(async () => {
    await node?.close();
    if (mounted) unmountTmpfs(join(dir.path, 'storage'));
    await dir.cleanup();
  });

  test('pushes are STORAGE_READ_ONLY while the disk is read-only; pulls go on', async (t) => {
    if (!mounted || !node) {
      t.skip('cannot mount a tmpfs here');
      return;
    }
    const c = new TestClient(node.url);
    const image = await c.pushImage('ro/app', 'v1');
    execFileSync('mount', ['-o', 'remount,ro', join(dir.path, 'storage')]);
    try {
      const data = randomBytes(1000);
      const push = await c.request('POST', `/v2/ro/app/blobs/uploads/?digest=${sha256(data)}`, { body: data, headers: { 'Content-Type': 'application/octet-stream' } });
      assert.match(await expectStorageError(push, 503, 'STORAGE_READ_ONLY', 'monolithic push'), /read-only/);
      await expectStorageError(await c.request('POST', '/v2/ro/app/blobs/uploads/'), 503, 'STORAGE_READ_ONLY', 'new session');
      assert.equal((await c.request('GET', '/v2/ro/app/manifests/v1')).status, 200);
      const blob = await c.request('GET', `/v2/ro/app/blobs/${image.layers[0]}`);
      assert.equal(sha256(new Uint8Array(await blob.arrayBuffer())), image.layers[0]);
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', join(dir.path, 'storage')]);
    }
    assert.equal((await c.pushBlob('ro/app', randomBytes(100))).startsWith('sha256:'), true);
  });
});
