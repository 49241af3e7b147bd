import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { digestOf } from '../../src/oci/digest.js';
import { RegistryError } from '../../src/oci/errors.js';
import { DriverBlobStore } from '../../src/storage/blob-store.js';
import { ManualClock } from '../../src/core/clock.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { BlobUnknownError, DigestMismatchError, SizeMismatchError } from '../../src/storage/errors.js';
import { createStorageDriver } from '../../src/storage/driver-factory.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function isCode(code: string): (err: unknown) => boolean {
  return (err) => err instanceof RegistryError && err.code === code;
}

async function listAll(store: DriverBlobStore): Promise<string[]> {
  const digests: string[] = [];
  for await (const digest of store.list()) digests.push(digest);
  return digests.sort();
}

/** A stream of `count` chunks of 1 MiB, rotating through a few pre-made buffers so it allocates nothing. */
function generated(count: number, patterns: Buffer[]): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent === count) {
        this.push(null);
        return;
      }
      this.push(patterns[sent % patterns.length]);
      sent++;
    },
  });
}

describe('DriverBlobStore', () => {
  let root: string;
  let driver: StorageDriver;
  let store: DriverBlobStore;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'outpost-blobs-'));
    driver = createStorageDriver('filesystem', { root });
    store = new DriverBlobStore(driver);
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('puts a sha256 blob from a stream and reads it back at its content address', async () => {
    const content = Buffer.from('hello blob');
    const digest = digestOf(content);
    const result = await store.put(Readable.from([content.subarray(0, 3), content.subarray(3)]), digest, content.length);
    assert.deepEqual(result, { digest, size: content.length });
    assert.deepEqual(await store.stat(digest), { size: content.length });
    assert.ok((await store.get(digest)).equals(content));
    assert.ok((await readAll(await store.open(digest))).equals(content));
    const hex = digest.slice('sha256:'.length);
    assert.ok(await driver.stat(`blobs/sha256/${hex.slice(0, 2)}/${hex}`));
  });

  it('puts a sha512 blob from a Buffer', async () => {
    const content = Buffer.from('sha512 content');
    const digest = digestOf(content, 'sha512');
    assert.deepEqual(await store.put(content, digest), { digest, size: content.length });
    assert.ok((await store.get(digest)).equals(content));
    assert.ok((await listAll(store)).includes(digest));
  });

  it('rejects a digest mismatch, publishing nothing and leaving no temp file', async () => {
    const claimed = digestOf('what the client claims');
    await assert.rejects(store.put(Buffer.from('what it sent'), claimed), (err: unknown) =>
      err instanceof DigestMismatchError && isCode('DIGEST_INVALID')(err) && err.expected === claimed && err.actual === digestOf('what it sent'));
    assert.equal(await store.stat(claimed), null);
    await assert.rejects(store.open(claimed), isCode('BLOB_UNKNOWN'));
    assert.deepEqual(await driver.list('_tmp'), []);
  });

  it('rejects a size mismatch (short and long) with SIZE_INVALID', async () => {
    const content = Buffer.from('sized content');
    const digest = digestOf(content);
    await assert.rejects(store.put(Readable.from([content]), digest, content.length + 1), (err: unknown) => err instanceof SizeMismatchError && isCode('SIZE_INVALID')(err));
    await assert.rejects(store.put(Readable.from([content]), digest, content.length - 1), (err: unknown) => err instanceof SizeMismatchError && isCode('SIZE_INVALID')(err));
    assert.equal(await store.stat(digest), null);
    assert.deepEqual(await driver.list('_tmp'), []);
  });

  it('rejects malformed and unsupported digests with DIGEST_INVALID', async () => {
    await assert.rejects(store.put(Buffer.from('x'), 'md5:abc'), isCode('DIGEST_INVALID'));
    await assert.rejects(store.put(Buffer.from('x'), 'sha256:../../etc'), isCode('DIGEST_INVALID'));
    await assert.rejects(store.stat('sha256:XYZ'), isCode('DIGEST_INVALID'));
  });

  it('open, openForRead and get of an absent blob throw BLOB_UNKNOWN; stat says null', async () => {
    const digest = digestOf('never stored');
    assert.equal(await store.stat(digest), null);
    await assert.rejects(store.open(digest), (err: unknown) => err instanceof BlobUnknownError && isCode('BLOB_UNKNOWN')(err));
    await assert.rejects(store.openForRead(digest), isCode('BLOB_UNKNOWN'));
    await assert.rejects(store.get(digest), isCode('BLOB_UNKNOWN'));
  });

  it('putting an existing blob again keeps it and leaves no temp file', async () => {
    const content = Buffer.from('twice');
    const digest = digestOf(content);
    await store.put(content, digest);
    await store.put(Readable.from([content]), digest);
    assert.ok((await store.get(digest)).equals(content));
    assert.deepEqual(await driver.list('_tmp'), []);
  });

  it('stale temp files from a crash never block a later put or read of the same digest', async () => {
    const content = Buffer.from('after the crash');
    const digest = digestOf(content);
    const hex = digest.slice('sha256:'.length);
    // What a crash mid-put could leave: partial temp files, including one named like the blob.
    await driver.putContent('_tmp/00000000-0000-4000-8000-000000000000', content.subarray(0, 5));
    await driver.putContent(`_tmp/${hex}`, Buffer.from('garbage'));
    assert.equal(await store.stat(digest), null);
    await store.put(Readable.from([content]), digest, content.length);
    assert.ok((await store.get(digest)).equals(content));
    assert.equal((await driver.list('_tmp')).length, 2);
    assert.equal(await store.purgeTemp(60_000), 0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await store.purgeTemp(5), 2);
    assert.deepEqual(await driver.list('_tmp'), []);
  });

  it('sweepTemp never takes the temporary file of a put in progress, however old; says what it frees; a dry run frees nothing', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const memory = createStorageDriver('memory', { clock });
    const blobs = new DriverBlobStore(memory, { clock });
    await memory.putContent('_tmp/left-by-a-crash', Buffer.from('seven b'));
    const slow = new Readable({ read() {} });
    slow.push(Buffer.from('first half '));
    const content = Buffer.from('first half second half');
    const putting = blobs.put(slow, digestOf(content), content.length);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal((await memory.list('_tmp')).length, 2, 'the put is writing its temporary file');
    clock.advance(48 * 60 * 60_000);
    assert.deepEqual(await blobs.sweepTemp(60_000, { dryRun: true }), { count: 1, bytes: 7 });
    assert.equal((await memory.list('_tmp')).length, 2);
    assert.deepEqual(await blobs.sweepTemp(60_000), { count: 1, bytes: 7 }, 'only the crash\'s leftover');
    slow.push(Buffer.from('second half'));
    slow.push(null);
    await putting;
    assert.ok((await blobs.get(digestOf(content))).equals(content), 'the put finished whole');
  });

  it('lists committed digests only, skipping stray files, and deletes', async () => {
    const content = Buffer.from('to delete');
    const digest = digestOf(content);
    await store.put(content, digest);
    await driver.putContent('blobs/sha256/zz/not-a-blob', Buffer.from('x'));
    await driver.putContent('blobs/md5/ab/abcdef', Buffer.from('x'));
    const listed = await listAll(store);
    assert.ok(listed.includes(digest));
    assert.ok(listed.every((d) => /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/.test(d)));
    await store.delete(digest);
    await store.delete(digest);
    assert.equal(await store.stat(digest), null);
    assert.ok(!(await listAll(store)).includes(digest));
  });

  it('a failing source stream publishes nothing and removes its temp file', async () => {
    const digest = digestOf('whatever');
    const failing = new Readable({
      read() {
        this.push(Buffer.from('part'));
        this.destroy(new Error('client went away'));
      },
    });
    await assert.rejects(store.put(failing, digest), /client went away/);
    assert.equal(await store.stat(digest), null);
    assert.deepEqual(await driver.list('_tmp'), []);
  });

  it('memory does not grow with blob size: a 200 MiB put stays under 64 MiB of RSS growth', async () => {
    const MiB = 1024 * 1024;
    const count = 200;
    const patterns = [0x11, 0x5a, 0xc3].map((byte, i) => {
      const buffer = Buffer.alloc(MiB, byte);
      buffer.writeUInt32BE(i, 0);
      return buffer;
    });
    const hash = createHash('sha256');
    for (let i = 0; i < count; i++) hash.update(patterns[i % patterns.length] as Buffer);
    const digest = `sha256:${hash.digest('hex')}`;

    // Warm up the code paths first so their one-off allocations do not count as growth.
    const warm = Buffer.alloc(4 * MiB, 1);
    await store.put(warm, digestOf(warm));

    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    try {
      const result = await store.put(generated(count, patterns), digest, count * MiB);
      assert.equal(result.size, count * MiB);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const growth = (peak - baseline) / MiB;
    assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB during a 200 MiB put`);
    assert.deepEqual(await store.stat(digest), { size: count * MiB });
    await store.delete(digest);
  });
});
