import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnNode, tempDir, type NodeProcess } from '../helpers/test-node.js';
import { TestClient, sha256, ADMIN_HEADERS } from '../helpers/oci-client.js';

/**
 * Uploads killed mid-way (kill -9) leave temporary files behind; a node removes them all when it
 * starts, before it listens, instead of a day later. Upload sessions untouched for an hour go at
 * the same time; younger ones survive the restart and resume.
 */

const MiB = 1024 * 1024;

async function kill9(proc: NodeProcess): Promise<void> {
  proc.child.kill('SIGKILL');
  assert.equal(await proc.exited, null);
}

/** Starts a slow monolithic push of `size` bytes and kills the node once `killAt` bytes of it are in a temporary file. */
async function pushAndKill(proc: NodeProcess, storage: string, repo: string, size: number, killAt: number): Promise<void> {
  const blob = randomBytes(size);
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent >= blob.length) {
        controller.close();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
      const chunk = blob.subarray(sent, sent + 128 * 1024);
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
  const outcome = fetch(new URL(`/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, proc.url), {
    method: 'POST',
    headers: { ...ADMIN_HEADERS, 'Content-Type': 'application/octet-stream' },
    body,
    duplex: 'half',
  } as RequestInit).then(() => 'answered', () => 'failed');
  // Killed on what the disk holds, not on what the client sent, so a slow machine cannot make it miss.
  const before = await tempBytes(storage);
  while ((await tempBytes(storage)) - before < killAt) {
    assert.ok(sent < blob.length, 'the push wrote its temporary file while it streamed');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await kill9(proc);
  assert.equal(await outcome, 'failed', 'the node died under the push');
}

/** Bytes in the temporary-blob folder (0 when it does not exist). */
async function tempBytes(storage: string): Promise<number> {
  const names = await readdir(join(storage, '_tmp')).catch(() => [] as string[]);
  let total = 0;
  for (const name of names) total += (await stat(join(storage, '_tmp', name))).size;
  return total;
}

describe('leftovers of killed uploads are removed at start', () => {
  let data: { path: string; cleanup(): Promise<void> };
  let proc: NodeProcess | undefined;

  before(async () => {
    data = await tempDir('outpost-leftovers-');
  });
  after(async () => {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) await kill9(proc);
    await data.cleanup();
  });

  test('three kill -9s mid-push: every temporary file is gone when the node is back; fresh sessions resume, stale ones go', async () => {
    const storage = join(data.path, 'storage');
    let image: { digest: string } | undefined;
    let fresh = '';
    let stale = '';
    for (let round = 0; round < 3; round++) {
      proc = await spawnNode(data.path);
      const client = new TestClient(proc.url);
      if (round === 0) {
        image = await client.pushImage('left/app', 'v1');
        for (const which of ['fresh', 'stale'] as const) {
          const start = await client.request('POST', '/v2/left/app/blobs/uploads/');
          const location = start.headers.get('location')!;
          assert.equal((await client.request('PATCH', location, { body: `${which} bytes`, headers: { 'Content-Type': 'application/octet-stream' } })).status, 202);
          if (which === 'fresh') fresh = location;
          else stale = location;
        }
      }
      await pushAndKill(proc, storage, 'left/app', 32 * MiB, 2 * MiB);
    }
    // Each start cleared the round before; the last kill's file is still there.
    assert.ok(await tempBytes(storage) > 0, 'the killed push left a temporary file');
    // The stale session was last touched two hours ago.
    const staleId = stale.slice(stale.lastIndexOf('/') + 1);
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    for (const file of ['data', 'info.json']) await utimes(join(storage, 'uploads', staleId, file), twoHoursAgo, twoHoursAgo);

    proc = await spawnNode(data.path);
    // Checked as soon as the node says it is ready, before any request.
    assert.equal(await tempBytes(storage), 0, 'no temporary file survives the start');
    await assert.rejects(stat(join(storage, 'uploads', staleId)), 'the stale session is gone');
    const client = new TestClient(proc.url);
    assert.equal((await client.request('GET', stale)).status, 404);
    const resumed = await client.request('GET', fresh);
    assert.equal(resumed.status, 204);
    assert.equal(resumed.headers.get('range'), `0-${'fresh bytes'.length - 1}`);
    assert.equal((await client.request('PUT', `${fresh}?digest=${sha256('fresh bytes')}`)).status, 201);
    assert.equal((await client.request('GET', '/v2/left/app/manifests/v1')).headers.get('docker-content-digest'), image!.digest);
    await proc.stop();
  });
});
