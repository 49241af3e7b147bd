import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { CheckedDriver, storageErrorOf } from '../../src/storage/checked-driver.js';
import { createStorageDriver, parseStorageDriverSpec, STORAGE_DRIVER_NAMES } from '../../src/storage/driver-factory.js';
import type { FileWriter, StorageDriver } from '../../src/storage/driver.js';
import { InvalidPathError, PathNotFoundError, StorageDriverSpecError, StorageFailureError } from '../../src/storage/errors.js';
import { FilesystemDriver } from '../../src/storage/filesystem-driver.js';
import { MemoryDriver } from '../../src/storage/memory-driver.js';

/** An operating-system error as Node's fs raises them. */
function osError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: the medium says no`), { code });
}

/**
 * A medium that fails every call with one raw error and counts the calls: what the wrapper does
 * with a medium's own errors, whatever the medium (the real disk failures are pinned with tmpfs
 * and the memory quota in full-disk tests).
 */
function failingMedium(err: unknown): { medium: StorageDriver; calls: () => number } {
  let calls = 0;
  const fail = async (): Promise<never> => {
    calls += 1;
    throw err;
  };
  const writer: FileWriter = { size: 0, write: fail, writev: fail, commit: fail, close: fail, cancel: fail };
  const medium: StorageDriver = {
    name: 'failing',
    stat: fail, getContent: fail, putContent: fail, reader: fail, openForRead: fail, move: fail, delete: fail, list: fail, truncate: fail,
    writer: async () => {
      calls += 1;
      return writer;
    },
  };
  return { medium, calls: () => calls };
}

describe('createStorageDriver: drivers by name', () => {
  it('makes each known driver, wrapped in the checking wrapper', async () => {
    assert.deepEqual([...STORAGE_DRIVER_NAMES].sort(), ['filesystem', 'memory']);
    const memory = createStorageDriver('memory');
    assert.ok(memory instanceof CheckedDriver);
    assert.ok(memory.medium instanceof MemoryDriver);
    assert.equal(memory.name, 'memory');
    const root = await mkdtemp(join(tmpdir(), 'outpost-factory-'));
    try {
      const filesystem = createStorageDriver('Filesystem', { root });
      assert.ok(filesystem instanceof CheckedDriver && filesystem.medium instanceof FilesystemDriver);
      assert.equal(filesystem.medium.root, root);
      await filesystem.putContent('a/b', Buffer.from('x'));
      assert.equal((await filesystem.getContent('a/b')).toString(), 'x');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('refuses an unknown name, a location a driver does not take, and a filesystem without a root, saying what it takes', () => {
    assert.throws(() => createStorageDriver('floppy'), (err: unknown) =>
      err instanceof StorageDriverSpecError && err.code === 'STORAGE_DRIVER_INVALID' && err.message === 'unknown storage driver "floppy": use one of filesystem, memory');
    assert.throws(() => createStorageDriver('azblob://account/container'), /unknown storage driver "azblob:\/\/account\/container": use one of filesystem, memory/);
    assert.throws(() => createStorageDriver('memory://somewhere'), /the memory storage driver takes no location/);
    assert.throws(() => createStorageDriver('filesystem'), /needs a root folder/);
    assert.throws(() => createStorageDriver('toString'), StorageDriverSpecError, 'only the table own names count');
  });

  it('parses a bare name or a URL whose scheme names the driver (azblob://<account>/<container> next)', () => {
    assert.deepEqual(parseStorageDriverSpec('memory'), { name: 'memory', location: null });
    assert.deepEqual(parseStorageDriverSpec('AzBlob://acct/container'), { name: 'azblob', location: 'acct/container' });
  });
});

describe('CheckedDriver: the shared checks of every driver', () => {
  it('turns a medium\'s own errors into storage errors, on calls, writers and read handles', async () => {
    const cases: Array<[string, (err: unknown) => boolean]> = [
      ['ENOENT', (err) => err instanceof PathNotFoundError && err.path === 'some/path'],
      ['ENOTDIR', (err) => err instanceof PathNotFoundError],
      ['ENOSPC', (err) => err instanceof StorageFailureError && err.kind === 'full' && err.code === 'ENOSPC'],
      ['EDQUOT', (err) => err instanceof StorageFailureError && err.kind === 'full'],
      ['EROFS', (err) => err instanceof StorageFailureError && err.kind === 'read-only'],
      ['EIO', (err) => err instanceof StorageFailureError && err.kind === 'io'],
    ];
    for (const [code, expected] of cases) {
      const driver = new CheckedDriver(failingMedium(osError(code)).medium);
      await assert.rejects(driver.getContent('some/path'), expected, code);
      await assert.rejects(driver.putContent('some/path', Buffer.from('x')), expected, code);
      const writer = await driver.writer('some/path');
      await assert.rejects(writer.writev([Buffer.from('x')]), expected, `${code} on a writer`);
      await assert.rejects(writer.cancel(), expected, `${code} on cancel`);
    }
    const other = osError('EACCES');
    await assert.rejects(new CheckedDriver(failingMedium(other).medium).list('x'), (err: unknown) => err === other, 'anything else passes unchanged');
    const missing = new PathNotFoundError('already/mapped');
    assert.equal(storageErrorOf(missing, 'other'), missing);
  });

  it('checks paths and signals before the medium is asked', async () => {
    const failing = failingMedium(osError('EIO'));
    const driver = new CheckedDriver(failing.medium);
    await assert.rejects(driver.stat('../escape'), InvalidPathError);
    await assert.rejects(driver.move('ok', '/abs'), InvalidPathError);
    const reason = new Error('cancelled');
    await assert.rejects(driver.delete('ok', { signal: AbortSignal.abort(reason) }), (err: unknown) => err === reason);
    assert.equal(failing.calls(), 0, 'the medium was never called');
  });

  it('ties a reader to its signal', async () => {
    const medium = new MemoryDriver();
    await medium.putContent('f', Buffer.alloc(10, 'x'));
    const driver = new CheckedDriver(medium);
    const controller = new AbortController();
    const stream = await driver.reader('f', { signal: controller.signal });
    assert.ok(stream instanceof Readable);
    controller.abort();
    await assert.rejects(async () => {
      for await (const _chunk of stream) { /* consumed until the abort */ }
    }, { name: 'AbortError' });
  });
});
