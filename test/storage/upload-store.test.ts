import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { digestOf } from '../../src/oci/digest.js';
import { ManualClock } from '../../src/core/clock.js';
import { RegistryError } from '../../src/oci/errors.js';
import { UploadLimitError, UploadRangeError } from '../../src/storage/errors.js';
import { errorHeaders, httpStatusOf } from '../../src/registry/error-mapping.js';
import { DriverBlobStore } from '../../src/storage/blob-store.js';
import { createStorageDriver } from '../../src/storage/driver-factory.js';
import { DriverUploadStore } from '../../src/storage/upload-store.js';
import type { StorageDriver } from '../../src/storage/driver.js';

function isCode(code: string): (err: unknown) => boolean {
  return (err) => err instanceof RegistryError && err.code === code;
}

function chunk(text: string): Readable {
  return Readable.from([Buffer.from(text)]);
}

function stores(driver: StorageDriver): { blobs: DriverBlobStore; uploads: DriverUploadStore } {
  const blobs = new DriverBlobStore(driver);
  return { blobs, uploads: new DriverUploadStore(driver, blobs) };
}

describe('DriverUploadStore', () => {
  let root: string;
  let driver: StorageDriver;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'outpost-uploads-'));
    driver = createStorageDriver('filesystem', { root });
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('creates, appends chunks and completes into the blob store, then forgets the session', async () => {
    const { blobs, uploads } = stores(driver);
    const session = await uploads.create('library/alpine');
    assert.match(session.id, /^[0-9a-f-]{36}$/);
    assert.equal(session.repository, 'library/alpine');
    assert.equal(session.size, 0);
    assert.ok(session.startedAt instanceof Date);

    assert.equal((await uploads.append(session.id, chunk('hello '), 0)).size, 6);
    assert.equal((await uploads.append(session.id, chunk('chunked '))).size, 14);
    const got = await uploads.get(session.id);
    assert.equal(got.size, 14);
    assert.equal(got.repository, 'library/alpine');
    assert.equal(got.startedAt.getTime(), session.startedAt.getTime());

    const digest = digestOf('hello chunked world');
    assert.deepEqual(await uploads.complete(session.id, digest, chunk('world')), { digest, size: 19 });
    assert.equal((await blobs.get(digest)).toString(), 'hello chunked world');
    await assert.rejects(uploads.get(session.id), isCode('BLOB_UPLOAD_UNKNOWN'));
    assert.equal(await driver.stat(`uploads/${session.id}`), null);
  });

  it('completes a monolithic upload (empty session + final chunk), sha256 and sha512', async () => {
    const { blobs, uploads } = stores(driver);
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const session = await uploads.create('repo');
      const digest = digestOf(`monolithic ${algorithm}`, algorithm);
      const result = await uploads.complete(session.id, digest, chunk(`monolithic ${algorithm}`));
      assert.equal(result.digest, digest);
      assert.equal((await blobs.get(digest)).toString(), `monolithic ${algorithm}`);
    }
  });

  it('completes an upload whose chunks all came by PATCH (no final chunk), also for sha512', async () => {
    const { blobs, uploads } = stores(driver);
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const session = await uploads.create('repo');
      await uploads.append(session.id, chunk('patched '), 0);
      await uploads.append(session.id, chunk(algorithm), 8);
      const digest = digestOf(`patched ${algorithm}`, algorithm);
      assert.equal((await uploads.complete(session.id, digest)).size, 8 + algorithm.length);
      assert.equal((await blobs.get(digest)).toString(), `patched ${algorithm}`);
    }
  });

  it('rejects an out-of-order chunk with RANGE_INVALID and a Range header of what it holds', async () => {
    const { uploads } = stores(driver);
    const session = await uploads.create('repo');
    // The error carries the session's position; the HTTP edge answers 416 with the Range (and Location) from it.
    await assert.rejects(uploads.append(session.id, chunk('x'), 5), (err: unknown) =>
      err instanceof UploadRangeError && isCode('RANGE_INVALID')(err) && err.upload.size === 0 && err.upload.repository === 'repo' &&
      errorHeaders(err).Range === '0-0' && errorHeaders(err).Location === `/v2/repo/blobs/uploads/${session.id}` && httpStatusOf(err.code) === 416);
    await uploads.append(session.id, chunk('abcd'), 0);
    await assert.rejects(uploads.append(session.id, chunk('x'), 2), (err: unknown) =>
      err instanceof UploadRangeError && isCode('RANGE_INVALID')(err) && err.upload.size === 4 && errorHeaders(err).Range === '0-3');
    assert.equal((await uploads.get(session.id)).size, 4);
    assert.equal((await uploads.append(session.id, chunk('e'), 4)).size, 5);
  });

  it('keeps the session after a digest mismatch so the client can retry', async () => {
    const { blobs, uploads } = stores(driver);
    const session = await uploads.create('repo');
    await uploads.append(session.id, chunk('right content'));
    const wrong = digestOf('other content');
    await assert.rejects(uploads.complete(session.id, wrong), isCode('DIGEST_INVALID'));
    assert.equal(await blobs.stat(wrong), null);
    assert.equal((await uploads.get(session.id)).size, 13);
    const right = digestOf('right content');
    assert.deepEqual(await uploads.complete(session.id, right), { digest: right, size: 13 });
    assert.equal((await blobs.get(right)).toString(), 'right content');
  });

  it('rejects a malformed digest on complete with DIGEST_INVALID and keeps the session', async () => {
    const { uploads } = stores(driver);
    const session = await uploads.create('repo');
    await assert.rejects(uploads.complete(session.id, 'sha256:nothex'), isCode('DIGEST_INVALID'));
    assert.equal((await uploads.get(session.id)).size, 0);
  });

  it('survives a restart: a new store on the same folder resumes and completes (re-hashing)', async () => {
    const first = stores(driver).uploads;
    const session = await first.create('repo/restart');
    await first.append(session.id, chunk('before restart, '));

    const restarted = stores(createStorageDriver('filesystem', { root }));
    const resumed = await restarted.uploads.get(session.id);
    assert.equal(resumed.size, 16);
    assert.equal(resumed.repository, 'repo/restart');
    await restarted.uploads.append(session.id, chunk('after'), 16);
    const digest = digestOf('before restart, after!');
    assert.deepEqual(await restarted.uploads.complete(session.id, digest, chunk('!')), { digest, size: 22 });
    assert.equal((await restarted.blobs.get(digest)).toString(), 'before restart, after!');
  });

  it('completes correctly when the running hash is stale (bytes appended by another process)', async () => {
    const { blobs, uploads } = stores(driver);
    const session = await uploads.create('repo');
    await uploads.append(session.id, chunk('one '));
    // Another store instance (think: a second process) appends; our cached hash no longer covers the file.
    await stores(driver).uploads.append(session.id, chunk('two'), 4);
    const digest = digestOf('one two');
    assert.equal((await uploads.complete(session.id, digest)).size, 7);
    assert.equal((await blobs.get(digest)).toString(), 'one two');
  });

  it('completing a blob that already exists drops the duplicate data and the session', async () => {
    const { blobs, uploads } = stores(driver);
    const digest = digestOf('dedup me');
    await blobs.put(Buffer.from('dedup me'), digest);
    const session = await uploads.create('repo');
    await uploads.complete(session.id, digest, chunk('dedup me'));
    assert.equal((await blobs.get(digest)).toString(), 'dedup me');
    assert.equal(await driver.stat(`uploads/${session.id}`), null);
  });

  it('cancel deletes the session; a second cancel is BLOB_UPLOAD_UNKNOWN', async () => {
    const { uploads } = stores(driver);
    const session = await uploads.create('repo');
    await uploads.append(session.id, chunk('data'));
    await uploads.cancel(session.id);
    await assert.rejects(uploads.get(session.id), isCode('BLOB_UPLOAD_UNKNOWN'));
    await assert.rejects(uploads.cancel(session.id), isCode('BLOB_UPLOAD_UNKNOWN'));
    assert.equal(await driver.stat(`uploads/${session.id}`), null);
  });

  it('unknown and malformed ids are BLOB_UPLOAD_UNKNOWN and never become paths', async () => {
    const { uploads } = stores(driver);
    const unknown = '3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
    for (const id of [unknown, '../../blobs', 'not-a-uuid', '', unknown.toUpperCase(), `${unknown}/../x`]) {
      await assert.rejects(uploads.get(id), isCode('BLOB_UPLOAD_UNKNOWN'), `get(${id})`);
      await assert.rejects(uploads.append(id, chunk('x')), isCode('BLOB_UPLOAD_UNKNOWN'), `append(${id})`);
      await assert.rejects(uploads.complete(id, digestOf('x'), chunk('x')), isCode('BLOB_UPLOAD_UNKNOWN'), `complete(${id})`);
      await assert.rejects(uploads.cancel(id), isCode('BLOB_UPLOAD_UNKNOWN'), `cancel(${id})`);
    }
  });

  it('serializes concurrent appends on one session', async () => {
    const { uploads } = stores(driver);
    const session = await uploads.create('repo');
    const parts = Array.from({ length: 10 }, (_, i) => `part${i};`);
    await Promise.all(parts.map((part) => uploads.append(session.id, chunk(part))));
    assert.equal((await uploads.get(session.id)).size, parts.join('').length);
  });

  it('purgeStale deletes sessions untouched for longer than the limit and keeps fresh ones', async () => {
    const purgeRoot = await mkdtemp(join(tmpdir(), 'outpost-purge-'));
    try {
      const purgeDriver = createStorageDriver('filesystem', { root: purgeRoot });
      const { uploads } = stores(purgeDriver);
      const stale = await uploads.create('repo');
      await uploads.append(stale.id, chunk('old data'));
      const fresh = await uploads.create('repo');
      const hourAgo = new Date(Date.now() - 3_600_000);
      for (const file of ['data', 'info.json']) await utimes(join(purgeRoot, 'uploads', stale.id, file), hourAgo, hourAgo);
      await purgeDriver.putContent('uploads/stray-entry/junk', Buffer.from('x'));
      await utimes(join(purgeRoot, 'uploads', 'stray-entry'), hourAgo, hourAgo);

      assert.equal(await uploads.purgeStale(60_000), 2);
      await assert.rejects(uploads.get(stale.id), isCode('BLOB_UPLOAD_UNKNOWN'));
      assert.equal((await uploads.get(fresh.id)).size, 0);
      assert.deepEqual(await purgeDriver.list('uploads'), [fresh.id]);
    } finally {
      await rm(purgeRoot, { recursive: true, force: true });
    }
  });

  it('bounds open sessions per owner, across a restart; completing, cancelling and purging free places', async () => {
    const boundRoot = await mkdtemp(join(tmpdir(), 'outpost-bound-'));
    try {
      const boundDriver = createStorageDriver('filesystem', { root: boundRoot });
      const blobs = new DriverBlobStore(boundDriver);
      const uploads = new DriverUploadStore(boundDriver, blobs, { maxSessionsPerOwner: 3 });
      const a = await Promise.all([1, 2, 3].map(() => uploads.create('repo', 'token:a')));
      await assert.rejects(uploads.create('repo', 'token:a'), (err: unknown) => err instanceof UploadLimitError && isCode('TOOMANYREQUESTS')(err) && httpStatusOf(err.code) === 429);
      await uploads.create('repo', 'token:b');
      await uploads.create('repo');
      assert.equal(await uploads.openSessions('token:a'), 3);

      const restarted = new DriverUploadStore(boundDriver, blobs, { maxSessionsPerOwner: 3 });
      const results = await Promise.allSettled([1, 2, 3].map(() => restarted.create('repo', 'token:a')));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 0, 'the restarted store counts the sessions on disk');
      assert.equal(await restarted.openSessions('token:b'), 1);
      // Concurrent creates never overshoot the bound.
      const burst = await Promise.allSettled([1, 2, 3, 4, 5, 6].map(() => restarted.create('repo', 'token:c')));
      assert.equal(burst.filter((r) => r.status === 'fulfilled').length, 3);

      await restarted.cancel(a[0]!.id);
      const next = await restarted.create('repo', 'token:a');
      await assert.rejects(restarted.create('repo', 'token:a'), isCode('TOOMANYREQUESTS'));
      await restarted.complete(next.id, digestOf('done'), chunk('done'));
      assert.equal(await restarted.openSessions('token:a'), 2);
      const hourAgo = new Date(Date.now() - 3_600_000);
      for (const file of ['data', 'info.json']) await utimes(join(boundRoot, 'uploads', a[1]!.id, file), hourAgo, hourAgo);
      await restarted.purgeStale(60_000);
      assert.equal(await restarted.openSessions('token:a'), 1);
      // A session removed behind the store's back stops counting at the next purge.
      await boundDriver.delete(`uploads/${a[2]!.id}`);
      await restarted.purgeStale(60_000);
      assert.equal(await restarted.openSessions('token:a'), 0);
    } finally {
      await rm(boundRoot, { recursive: true, force: true });
    }
  });

  it('works the same on the memory driver', async () => {
    const memory = createStorageDriver('memory');
    const { blobs, uploads } = stores(memory);
    const session = await uploads.create('repo');
    await uploads.append(session.id, chunk('in '), 0);
    await assert.rejects(uploads.append(session.id, chunk('x'), 0), isCode('RANGE_INVALID'));
    const digest = digestOf('in memory');
    await uploads.complete(session.id, digest, chunk('memory'));
    assert.equal((await blobs.get(digest)).toString(), 'in memory');
    assert.equal(await uploads.purgeStale(0), 0);
  });
  it('purges on the node clock: a manual clock ages memory sessions, never a filesystem file being written', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const memory = createStorageDriver('memory', { clock });
    const onMemory = new DriverUploadStore(memory, new DriverBlobStore(memory, { clock }), { clock });
    const old = await onMemory.create('repo');
    assert.equal((await onMemory.get(old.id)).startedAt.getTime(), clock.now(), 'the session starts on the node clock');
    clock.advance(30 * 60_000);
    const recent = await onMemory.create('repo');
    clock.advance(31 * 60_000);
    assert.equal(await onMemory.purgeStale(60 * 60_000), 1, 'an hour of the node clock, no real hour waited');
    await assert.rejects(onMemory.get(old.id), isCode('BLOB_UPLOAD_UNKNOWN'));
    assert.equal((await onMemory.get(recent.id)).size, 0);

    const fsRoot = await mkdtemp(join(tmpdir(), 'outpost-clock-'));
    try {
      const disk = createStorageDriver('filesystem', { root: fsRoot, clock });
      const blobs = new DriverBlobStore(disk, { clock });
      const onDisk = new DriverUploadStore(disk, blobs, { clock });
      const writing = await onDisk.create('repo');
      await disk.putContent('_tmp/in-flight', Buffer.from('a put in progress'));
      clock.advance(3 * 24 * 60 * 60_000);
      // The filesystem's times are real: three days of a moved clock do not make them stale.
      assert.equal(await onDisk.purgeStale(60 * 60_000), 0);
      assert.equal(await blobs.purgeTemp(24 * 60 * 60_000), 0);
      assert.equal((await onDisk.get(writing.id)).size, 0);
    } finally {
      await rm(fsRoot, { recursive: true, force: true });
    }
  });

  it('sweepAbandoned says what it frees (sessions and their bytes); a dry run frees nothing; a call that came meanwhile keeps its session', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const memory = createStorageDriver('memory', { clock });
    const uploads = new DriverUploadStore(memory, new DriverBlobStore(memory, { clock }), { clock });
    const left = await uploads.create('repo');
    await uploads.append(left.id, chunk('twelve bytes'));
    const busy = await uploads.create('repo');
    clock.advance(2 * 60 * 60_000);
    const bytes = (await memory.stat(`uploads/${left.id}/data`))!.size + (await memory.stat(`uploads/${left.id}/info.json`))!.size
      + (await memory.stat(`uploads/${busy.id}/data`))!.size + (await memory.stat(`uploads/${busy.id}/info.json`))!.size;
    assert.deepEqual(await uploads.sweepAbandoned(60 * 60_000, { dryRun: true }), { count: 2, bytes });
    assert.equal((await memory.list('uploads')).length, 2, 'a dry run frees nothing');
    // A PATCH that starts as the sweep does is served first: its session is young again and stays.
    const [swept] = await Promise.all([uploads.sweepAbandoned(60 * 60_000), uploads.append(busy.id, chunk('more'))]);
    assert.equal(swept.count, 1);
    await assert.rejects(uploads.get(left.id), isCode('BLOB_UPLOAD_UNKNOWN'));
    assert.equal((await uploads.get(busy.id)).size, 4);
  });

  it('a cancelled purge stops and rejects with the signal\'s reason', async () => {
    const memory = createStorageDriver('memory');
    const { uploads } = stores(memory);
    await uploads.create('repo');
    const reason = new Error('node stopping');
    await assert.rejects(uploads.purgeStale(0, { signal: AbortSignal.abort(reason) }), (err: unknown) => err === reason);
    assert.equal((await memory.list('uploads')).length, 1);
  });
});
