import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { digestOf } from '../../src/oci/digest.js';
import { asStorageFailure, StorageFailureError } from '../../src/storage/errors.js';
import { DriverBlobStore } from '../../src/storage/blob-store.js';
import { MemoryDriver } from '../../src/storage/memory-driver.js';
import { DriverUploadStore } from '../../src/storage/upload-store.js';
import { httpErrorOf } from '../../src/registry/error-mapping.js';

/**
 * A full disk, pinned below HTTP: the memory driver with a quota fails writes as a filesystem
 * does (the part that fits, then ENOSPC). Storage throws StorageFailureError; a failed append
 * leaves the session exactly as it was, so a retry from its size works; and the HTTP edge maps
 * storage (and SQLite) failures to STORAGE_* codes in one place.
 */

function stream(data: Buffer, chunk = 16 * 1024): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) parts.push(data.subarray(i, i + chunk));
  return Readable.from(parts);
}

const isFull = (err: unknown): boolean => err instanceof StorageFailureError && err.kind === 'full' && err.code === 'ENOSPC';

function stores(quotaBytes: number): { driver: MemoryDriver; blobs: DriverBlobStore; uploads: DriverUploadStore } {
  const driver = new MemoryDriver({ quotaBytes });
  const blobs = new DriverBlobStore(driver);
  return { driver, blobs, uploads: new DriverUploadStore(driver, blobs) };
}

describe('a full disk at the storage layer', () => {
  it('the memory driver with a quota takes what fits, then fails with ENOSPC; putContent is all or nothing', async () => {
    const driver = new MemoryDriver({ quotaBytes: 10 });
    const writer = await driver.writer('f');
    await writer.write(Buffer.from('123456'));
    await assert.rejects(writer.write(Buffer.from('7890abc')), isFull);
    assert.equal(writer.size, 10, 'the part that fitted was written');
    await writer.close();
    await assert.rejects(driver.putContent('g', Buffer.from('x')), isFull);
    assert.equal(await driver.stat('g'), null);
    await driver.putContent('f', Buffer.from('replace'), );
    assert.equal((await driver.getContent('f')).toString(), 'replace', 'replacing a file counts the space it frees');
  });

  it('a PATCH that does not fit fails and leaves the session at its size before; after space is freed the retry from there completes', async () => {
    const { driver, uploads, blobs } = stores(64 * 1024);
    const data = randomBytes(100 * 1024);
    const session = await uploads.create('full/app');
    assert.equal((await uploads.append(session.id, stream(data.subarray(0, 20_000)), 0)).size, 20_000);
    await assert.rejects(uploads.append(session.id, stream(data.subarray(20_000, 90_000)), 20_000), isFull);
    assert.equal((await uploads.get(session.id)).size, 20_000, 'no partial bytes counted in the session');
    assert.equal((await driver.stat(`uploads/${session.id}/data`))?.size, 20_000);

    driver.quotaBytes = null;
    assert.equal((await uploads.append(session.id, stream(data.subarray(20_000, 90_000)), 20_000)).size, 90_000);
    const done = await uploads.complete(session.id, digestOf(data), stream(data.subarray(90_000)));
    assert.deepEqual(done, { digest: digestOf(data), size: data.length });
    assert.ok((await blobs.get(digestOf(data))).equals(data), 'the running hash went back with the data');
  });

  it('a final chunk (PUT) that does not fit leaves the session as it was', async () => {
    const { driver, uploads } = stores(48 * 1024);
    const data = randomBytes(60 * 1024);
    const session = await uploads.create('full/app');
    await uploads.append(session.id, stream(data.subarray(0, 10_000)));
    await assert.rejects(uploads.complete(session.id, digestOf(data), stream(data.subarray(10_000))), isFull);
    assert.equal((await uploads.get(session.id)).size, 10_000);
    driver.quotaBytes = null;
    assert.deepEqual(await uploads.complete(session.id, digestOf(data), stream(data.subarray(10_000))), { digest: digestOf(data), size: data.length });
  });

  it('a blob put that does not fit publishes nothing and leaves no temporary file', async () => {
    const { driver, blobs } = stores(32 * 1024);
    const data = randomBytes(40 * 1024);
    await assert.rejects(blobs.put(stream(data), digestOf(data)), isFull);
    assert.equal(await blobs.stat(digestOf(data)), null);
    assert.deepEqual(await driver.list('_tmp'), []);
    const small = randomBytes(1000);
    assert.equal((await blobs.put(small, digestOf(small))).size, 1000, 'what fits is still stored');
  });

  it('a session that cannot even be created leaves nothing behind', async () => {
    const { driver, uploads } = stores(0);
    await assert.rejects(uploads.create('full/app'), isFull);
    assert.deepEqual(await driver.list('uploads'), []);
  });

  it('operating-system codes become StorageFailureError by kind; others pass unchanged', () => {
    const os = (code: string): Error => Object.assign(new Error(`${code}: failed`), { code });
    for (const [code, kind] of [['ENOSPC', 'full'], ['EDQUOT', 'full'], ['EROFS', 'read-only'], ['EIO', 'io']] as const) {
      const mapped = asStorageFailure(os(code));
      assert.ok(mapped instanceof StorageFailureError, code);
      assert.equal(mapped.kind, kind);
      assert.equal(mapped.code, code, 'the errno stays, for what reports disk errors by code');
    }
    const other = os('EACCES');
    assert.equal(asStorageFailure(other), other);
  });
});

describe('the HTTP edge maps storage failures once', () => {
  const logger = pino({ level: 'silent' });
  const sqlite = (code: string): Error => Object.assign(new Error('sqlite failed'), { code });

  it('full, read-only and I/O failures of storage and SQLite get their STORAGE_* code and status', () => {
    const cases: Array<[unknown, string, number]> = [
      [new StorageFailureError('ENOSPC', 'no space'), 'STORAGE_FULL', 507],
      [new StorageFailureError('EDQUOT', 'quota'), 'STORAGE_FULL', 507],
      [new StorageFailureError('EROFS', 'read-only'), 'STORAGE_READ_ONLY', 503],
      [new StorageFailureError('EIO', 'io'), 'STORAGE_IO_ERROR', 500],
      [Object.assign(new Error('raw'), { code: 'ENOSPC' }), 'STORAGE_FULL', 507],
      [sqlite('SQLITE_FULL'), 'STORAGE_FULL', 507],
      [sqlite('SQLITE_READONLY'), 'STORAGE_READ_ONLY', 503],
      [sqlite('SQLITE_IOERR_WRITE'), 'STORAGE_IO_ERROR', 500],
      [new Error('a bug'), 'INTERNAL', 500],
    ];
    for (const [err, code, status] of cases) {
      const mapped = httpErrorOf(err, logger);
      assert.equal(mapped.error.code, code, String(err));
      assert.equal(mapped.status, status, String(err));
    }
    assert.match(httpErrorOf(sqlite('SQLITE_FULL'), logger).error.message, /storage is full/);
  });
});
