import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnNode, tempDir, type NodeProcess } from '../helpers/test-node.js';
import { TestClient, errorCode, sha256, OCI_MANIFEST, ADMIN_HEADERS } from '../helpers/oci-client.js';

/**
 * Crash safety with the real program: `kill -9` in the middle of uploads and manifest writes, junk
 * left in the temp areas, and a graceful SIGTERM during a download. What was acknowledged must
 * survive; what was not must be invisible; nothing may point at missing or partial content.
 */

const MiB = 1024 * 1024;

interface ImageManifest {
  config: { digest: string };
  layers: Array<{ digest: string }>;
}

/** Kills the process with SIGKILL and waits until it is gone. */
async function kill9(proc: NodeProcess): Promise<void> {
  proc.child.kill('SIGKILL');
  const code = await proc.exited;
  assert.equal(code, null, 'the process died of the signal');
}

/** A deterministic blob of `chunks` MiB, each MiB stamped with its index so no two are equal. */
function makeBlob(chunks: number): Buffer {
  const base = randomBytes(MiB);
  const blob = Buffer.allocUnsafe(chunks * MiB);
  for (let i = 0; i < chunks; i++) {
    base.copy(blob, i * MiB);
    blob.writeUInt32BE(i, i * MiB);
  }
  return blob;
}

async function fetchBytes(url: string): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(url, { headers: ADMIN_HEADERS });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** Checks that a tag resolves to a manifest whose body hashes to its digest and whose blobs all exist. */
async function assertImageComplete(base: string, repo: string, reference: string, expectedDigest?: string): Promise<string> {
  const res = await fetchBytes(`${base}/v2/${repo}/manifests/${reference}`);
  assert.equal(res.status, 200, `${repo}:${reference} -> ${res.status} ${res.body.toString().slice(0, 200)}`);
  const digest = res.headers.get('docker-content-digest');
  assert.equal(sha256(res.body), digest, `${repo}:${reference} body hashes to its digest`);
  if (expectedDigest) assert.equal(digest, expectedDigest, `${repo}:${reference}`);
  const doc = JSON.parse(res.body.toString('utf8')) as ImageManifest;
  for (const blob of [doc.config.digest, ...doc.layers.map((l) => l.digest)]) {
    const got = await fetchBytes(`${base}/v2/${repo}/blobs/${blob}`);
    assert.equal(got.status, 200, `blob ${blob} of ${repo}:${reference}`);
    assert.equal(sha256(got.body), blob, `blob ${blob} of ${repo}:${reference} has the right bytes`);
  }
  return digest!;
}

describe('crash safety (real process, kill -9)', () => {
  let data: { path: string; cleanup(): Promise<void> };
  let proc: NodeProcess | undefined;
  const committed: Array<{ repo: string; tag: string; digest: string }> = [];

  before(async () => {
    data = await tempDir('outpost-crash-');
  });

  after(async () => {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) await kill9(proc);
    await data.cleanup();
  });

  test('kill -9 during a large chunked upload: committed content survives, the partial blob stays invisible, the session resumes', async () => {
    proc = await spawnNode(data.path);
    const client = new TestClient(proc.url);
    for (const [repo, tag] of [['crash/one', 'v1'], ['crash/one', 'v2'], ['crash/two', 'latest']] as const) {
      const image = await client.pushImage(repo, tag, { layers: 2 });
      committed.push({ repo, tag, digest: image.digest });
    }

    const blob = makeBlob(48);
    const blobDigest = sha256(blob);
    const start = await client.request('POST', '/v2/crash/big/blobs/uploads/');
    assert.equal(start.status, 202);
    const location = start.headers.get('location')!;
    const sessionId = start.headers.get('docker-upload-uuid')!;
    assert.ok(location && sessionId);

    // Stream the blob slowly in one PATCH and kill the process once a third of it has left.
    let sent = 0;
    const killAt = 16 * MiB;
    const victim = proc;
    let killed: Promise<void> | undefined;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= blob.length) {
          controller.close();
          return;
        }
        await sleep(4);
        const chunk = blob.subarray(sent, sent + 256 * 1024);
        sent += chunk.length;
        controller.enqueue(chunk);
        if (sent >= killAt && !killed) killed = kill9(victim);
      },
    });
    const patch = fetch(new URL(location, proc.url), {
      method: 'PATCH',
      headers: { ...ADMIN_HEADERS, 'Content-Type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit).then(
      (res) => `answered ${res.status}`,
      () => 'failed',
    );
    // The PATCH never completes: the process dies under it.
    assert.equal(await patch, 'failed');
    await killed;
    assert.ok(sent < blob.length);

    proc = await spawnNode(data.path);
    const after = new TestClient(proc.url);
    for (const image of committed) await assertImageComplete(proc.url, image.repo, image.tag, image.digest);

    // The interrupted blob is not visible anywhere.
    const head = await after.request('HEAD', `/v2/crash/big/blobs/${blobDigest}`);
    assert.equal(head.status, 404);
    const get = await after.request('GET', `/v2/crash/big/blobs/${blobDigest}`);
    assert.equal(get.status, 404);
    assert.equal(await errorCode(get), 'BLOB_UNKNOWN');

    // The session survived the restart and reports what reached the disk.
    const status = await after.request('GET', location);
    assert.equal(status.status, 204, 'upload session status after a restart');
    const range = status.headers.get('range');
    assert.match(range ?? '', /^0-\d+$/);
    const onDisk = (await stat(join(data.path, 'storage', 'uploads', sessionId, 'data'))).size;
    assert.ok(onDisk > 0 && onDisk <= sent, `persisted ${onDisk} of ${sent} sent bytes`);
    assert.equal(range, `0-${onDisk - 1}`, 'Range reflects the bytes persisted');
    // What was persisted is exactly a prefix of what was sent.
    const persisted = onDisk;

    // A fresh upload of the same blob succeeds and serves the right bytes.
    const fresh = await after.request('POST', `/v2/crash/big/blobs/uploads/?digest=${blobDigest}`, {
      body: blob,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(fresh.status, 201, await fresh.text());
    const served = await fetchBytes(`${proc.url}/v2/crash/big/blobs/${blobDigest}`);
    assert.equal(served.status, 200);
    assert.equal(sha256(served.body), blobDigest);

    // And the interrupted session can be resumed from where the disk says it stopped.
    const rest = await after.request('PATCH', location, {
      body: blob.subarray(persisted),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${persisted}-${blob.length - 1}` },
    });
    assert.equal(rest.status, 202, await rest.text());
    assert.equal(rest.headers.get('range'), `0-${blob.length - 1}`);
    const done = await after.request('PUT', `${location}?digest=${blobDigest}`);
    assert.equal(done.status, 201, `the resumed upload completes with the right digest: ${await done.text()}`);
  });

  test('junk in the temp areas does not disturb reads or writes after a restart', async () => {
    assert.ok(proc, 'a node from the previous test');
    await kill9(proc);
    const storage = join(data.path, 'storage');
    // Leftovers a crash (or a person) could leave behind.
    await mkdir(join(storage, '_tmp'), { recursive: true });
    await writeFile(join(storage, '_tmp', randomUUID()), randomBytes(4096));
    await writeFile(join(storage, '_tmp', 'not-a-uuid.partial'), '');
    await mkdir(join(storage, '_tmp', 'a-directory'), { recursive: true });
    await mkdir(join(storage, 'uploads', 'not-a-session'), { recursive: true });
    await writeFile(join(storage, 'uploads', 'not-a-session', 'data'), 'junk');
    const halfCreated = randomUUID();
    await mkdir(join(storage, 'uploads', halfCreated), { recursive: true });
    await writeFile(join(storage, 'uploads', halfCreated, 'data'), randomBytes(100));
    await writeFile(join(storage, 'uploads', 'stray-file'), 'junk');
    await mkdir(join(storage, '.staging'), { recursive: true });
    await writeFile(join(storage, '.staging', 'leftover'), 'junk');

    proc = await spawnNode(data.path);
    const client = new TestClient(proc.url);
    for (const image of committed) await assertImageComplete(proc.url, image.repo, image.tag, image.digest);
    // A session without info.json never existed as far as clients can tell.
    const half = await client.request('GET', `/v2/crash/big/blobs/uploads/${halfCreated}`);
    assert.equal(half.status, 404);
    assert.equal(await errorCode(half), 'BLOB_UPLOAD_UNKNOWN');
    // Writes work: monolithic and chunked uploads, and a new image.
    const image = await client.pushImage('crash/after-junk', 'v1', { layers: 2 });
    await assertImageComplete(proc.url, 'crash/after-junk', 'v1', image.digest);
    committed.push({ repo: 'crash/after-junk', tag: 'v1', digest: image.digest });
    const chunk = randomBytes(70_000);
    const start = await client.request('POST', '/v2/crash/after-junk/blobs/uploads/');
    const location = start.headers.get('location')!;
    assert.equal((await client.request('PATCH', location, { body: chunk, headers: { 'Content-Range': `0-${chunk.length - 1}` } })).status, 202);
    assert.equal((await client.request('PUT', `${location}?digest=${sha256(chunk)}`)).status, 201);
  });

  test('a corrupt upload session file is a 4xx for that session, not a 5xx', async () => {
    assert.ok(proc, 'a node from the previous test');
    const client = new TestClient(proc.url);
    const start = await client.request('POST', '/v2/crash/corrupt/blobs/uploads/');
    const id = start.headers.get('docker-upload-uuid')!;
    await writeFile(join(data.path, 'storage', 'uploads', id, 'info.json'), '{not json');
    const res = await client.request('GET', `/v2/crash/corrupt/blobs/uploads/${id}`);
    assert.ok(res.status >= 400 && res.status < 500, `GET of a session with a corrupt info.json -> ${res.status} ${await res.text()}`);
    const v2 = await client.request('GET', '/v2/');
    assert.equal(v2.status, 200);
  });

  test('kill -9 during a manifest PUT loop: every tag is absent or complete, acknowledged writes survive', async () => {
    assert.ok(proc, 'a node from the previous test');
    const client = new TestClient(proc.url);
    const repo = 'crash/loop';
    // Shared blobs, pushed (and acknowledged) before the storm.
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const configDigest = await client.pushBlob(repo, config);
    const layers: Array<{ digest: string; size: number }> = [];
    for (let i = 0; i < 3; i++) {
      const layer = randomBytes(2048 + i);
      layers.push({ digest: await client.pushBlob(repo, layer), size: layer.length });
    }

    const TAGS = 10;
    const acked = new Map<string, string[]>();
    const inFlight = new Map<string, string | undefined>();
    let stop = false;
    let totalAcks = 0;

    const worker = async (tag: string): Promise<void> => {
      acked.set(tag, []);
      for (let n = 0; !stop; n++) {
        // Each PUT is a new manifest (fresh blobs too, sometimes), so every write has real work.
        const layerSet = layers.slice(0, 1 + (n % layers.length));
        let extraLayer: { digest: string; size: number } | undefined;
        if (n % 4 === 3) {
          const bytes = randomBytes(1000);
          try {
            extraLayer = { digest: await client.pushBlob(repo, bytes), size: bytes.length };
          } catch {
            return;
          }
        }
        const body = JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: Buffer.byteLength(config) },
          layers: [...layerSet, ...(extraLayer ? [extraLayer] : [])].map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
          annotations: { tag, n: String(n), nonce: randomBytes(8).toString('hex') },
        });
        const digest = sha256(body);
        inFlight.set(tag, digest);
        let res: Response;
        try {
          res = await client.putManifest(repo, tag, body);
        } catch {
          return; // the process died under this PUT: it stays "in flight"
        }
        if (res.status !== 201) throw new Error(`PUT ${tag} -> ${res.status} ${await res.text()}`);
        inFlight.set(tag, undefined);
        acked.get(tag)!.push(digest);
        totalAcks++;
      }
    };

    const victim = proc;
    const workers = Array.from({ length: TAGS }, (_, i) => worker(`t${i}`));
    // Let the loop get going, then kill at a random moment.
    while (totalAcks < 30) await sleep(5);
    await sleep(Math.floor(Math.random() * 150));
    // The kill must land under a PUT: on a busy machine the random moment can fall while every
    // worker is between requests, so wait (a millisecond at a time) until one is on the wire.
    while (![...inFlight.values()].some((d) => d !== undefined)) await sleep(1);
    await kill9(victim);
    stop = true;
    await Promise.all(workers);
    assert.ok([...inFlight.values()].some((d) => d !== undefined), 'some manifest PUTs were in flight at the kill');

    proc = await spawnNode(data.path);
    const base = proc.url;
    for (let i = 0; i < TAGS; i++) {
      const tag = `t${i}`;
      const history = acked.get(tag)!;
      const pending = inFlight.get(tag);
      const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { headers: ADMIN_HEADERS });
      if (res.status === 404) {
        assert.equal(await errorCode(res), 'MANIFEST_UNKNOWN');
        assert.equal(history.length, 0, `tag ${tag} had ${history.length} acknowledged PUTs but is gone after the crash`);
        continue;
      }
      await res.arrayBuffer();
      const digest = await assertImageComplete(base, repo, tag);
      const allowed = [history[history.length - 1], pending].filter((d): d is string => d !== undefined);
      assert.ok(allowed.includes(digest), `tag ${tag} -> ${digest}, expected the last acknowledged or the in-flight manifest`);
    }
    // Every acknowledged manifest is still there by digest, complete.
    for (const history of acked.values()) {
      for (const digest of history) await assertImageComplete(base, repo, digest, digest);
    }
    // Every listed tag resolves (none points at a missing manifest).
    const list = (await (await fetch(`${base}/v2/${repo}/tags/list`, { headers: ADMIN_HEADERS })).json()) as { tags: string[] };
    for (const tag of list.tags) await assertImageComplete(base, repo, tag);
    assert.ok(totalAcks >= 30);
    // Earlier content is untouched.
    for (const image of committed) await assertImageComplete(base, image.repo, image.tag, image.digest);
  });

  test('SIGTERM during a blob download: the download completes and the process exits 0', async () => {
    assert.ok(proc, 'a node from the previous test');
    const client = new TestClient(proc.url);
    const blob = makeBlob(24);
    const digest = await client.pushBlob('crash/download', blob);

    const res = await fetch(`${proc.url}/v2/crash/download/blobs/${digest}`, { headers: ADMIN_HEADERS });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const hash = createHash('sha256');
    let received = 0;
    let signalled = false;
    const victim = proc;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      received += value.length;
      if (!signalled && received >= MiB) {
        signalled = true;
        victim.child.kill('SIGTERM');
      }
      // A slow client: the server must wait for it, not cut it off.
      await sleep(1);
    }
    assert.ok(signalled, 'SIGTERM was sent mid-download');
    assert.equal(received, blob.length);
    assert.equal(`sha256:${hash.digest('hex')}`, digest);
    const code = await Promise.race([victim.exited, sleep(20_000).then(() => 'still running')]);
    assert.equal(code, 0, 'graceful shutdown exits 0 once the download is done');
    proc = undefined;
  });
});
