import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Readable } from 'node:stream';
import { ManualClock, type Clock } from '../../src/core/clock.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { CheckedDriver } from '../../src/storage/checked-driver.js';
import { InvalidPathError, PathNotFoundError } from '../../src/storage/errors.js';

export interface DriverFixture {
  /** Made by `createStorageDriver`, so wrapped in the checking wrapper as the node uses it. */
  driver: StorageDriver;
  cleanup(): Promise<void>;
}

/** Makes a fresh driver through the factory, on the given clock (the system clock when absent). */
export type MakeDriver = (options: { clock?: Clock }) => Promise<DriverFixture>;

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The one behaviour suite every StorageDriver runs, memory and filesystem now, Azure Blob next
 * (docs/architecture.md, "Storage driver"). Each test gets a fresh driver from `makeDriver` — made
 * by `createStorageDriver`, as the node makes its own — and cleans it up, pass or fail.
 */
export function runDriverSuite(name: string, makeDriver: MakeDriver): void {
  const withDriver = (fn: (driver: StorageDriver) => Promise<void>, clock?: Clock) => async () => {
    const fixture = await makeDriver(clock ? { clock } : {});
    try {
      await fn(fixture.driver);
    } finally {
      await fixture.cleanup();
    }
  };

  describe(`StorageDriver suite: ${name}`, () => {
    it('is made by the factory, wrapped in the checking wrapper, and named', withDriver(async (driver) => {
      assert.ok(driver instanceof CheckedDriver);
      assert.equal(driver.name, name);
    }));

    it('puts and gets content, creating parent folders', withDriver(async (driver) => {
      await driver.putContent('a/b/c.txt', Buffer.from('hello'));
      assert.equal((await driver.getContent('a/b/c.txt')).toString(), 'hello');
      await driver.putContent('empty', new Uint8Array(0));
      assert.equal((await driver.getContent('empty')).length, 0);
    }));

    it('getContent of a missing file throws PathNotFoundError', withDriver(async (driver) => {
      await assert.rejects(driver.getContent('nope/x'), PathNotFoundError);
    }));

    it('putContent replaces atomically: readers see old or new, and no temp files show up', withDriver(async (driver) => {
      const old = Buffer.alloc(256 * 1024, 'o');
      const next = Buffer.alloc(256 * 1024, 'n');
      await driver.putContent('dir/file', old);
      const reads = Array.from({ length: 20 }, () => driver.getContent('dir/file'));
      const write = driver.putContent('dir/file', next);
      for (const content of await Promise.all(reads)) {
        assert.ok(content.equals(old) || content.equals(next), 'a read saw a mix of old and new content');
      }
      await write;
      assert.ok((await driver.getContent('dir/file')).equals(next));
      assert.deepEqual(await driver.list('dir'), ['file']);
    }));

    it('putContent does not keep a reference to the caller buffer', withDriver(async (driver) => {
      const buffer = Buffer.from('abc');
      await driver.putContent('f', buffer);
      buffer.fill('z');
      assert.equal((await driver.getContent('f')).toString(), 'abc');
    }));

    it('reader streams whole files and inclusive ranges', withDriver(async (driver) => {
      await driver.putContent('r', Buffer.from('0123456789'));
      assert.equal(await readAll(await driver.reader('r')), '0123456789');
      assert.equal(await readAll(await driver.reader('r', { offset: 3 })), '3456789');
      assert.equal(await readAll(await driver.reader('r', { offset: 2, end: 5 })), '2345');
      assert.equal(await readAll(await driver.reader('r', { offset: 9, end: 9 })), '9');
      assert.equal(await readAll(await driver.reader('r', { offset: 8, end: 100 })), '89');
      assert.equal(await readAll(await driver.reader('r', { offset: 20 })), '');
      assert.equal(await readAll(await driver.reader('r', { offset: 5, end: 4 })), '');
    }));

    it('writev appends several chunks in order, skipping empty ones', withDriver(async (driver) => {
      const writer = await driver.writer('v');
      await writer.write(Buffer.from('ab'));
      await writer.writev([Buffer.from('cd'), Buffer.alloc(0), Buffer.from('efg')]);
      await writer.writev([]);
      assert.equal(writer.size, 7);
      await writer.commit();
      assert.equal((await driver.getContent('v')).toString(), 'abcdefg');
    }));

    it('openForRead reads at positions into caller buffers and reports the size', withDriver(async (driver) => {
      const writer = await driver.writer('pos');
      for (const part of ['0123', '4567', '89']) await writer.write(Buffer.from(part));
      await writer.commit();
      const handle = await driver.openForRead('pos');
      try {
        assert.equal(handle.size, 10);
        const target = Buffer.alloc(4);
        assert.equal(await handle.read(target, 3, 4), 4);
        assert.equal(target.toString(), '3456');
        assert.equal(await handle.read(target, 8, 4), 2);
        assert.equal(target.subarray(0, 2).toString(), '89');
        assert.equal(await handle.read(target, 10, 4), 0);
      } finally {
        await handle.close();
      }
      await assert.rejects(driver.openForRead('absent'), PathNotFoundError);
    }));

    it('reader ranges work across several written chunks', withDriver(async (driver) => {
      const writer = await driver.writer('chunks');
      for (const part of ['abc', 'def', 'ghi']) await writer.write(Buffer.from(part));
      await writer.commit();
      assert.equal(await readAll(await driver.reader('chunks', { offset: 2, end: 6 })), 'cdefg');
    }));

    it('reader of a missing file throws PathNotFoundError', withDriver(async (driver) => {
      await assert.rejects(driver.reader('missing'), PathNotFoundError);
    }));

    it('writer writes, tracks size and commits', withDriver(async (driver) => {
      const writer = await driver.writer('w/file');
      assert.equal(writer.size, 0);
      await writer.write(Buffer.from('abc'));
      await writer.write(Buffer.from('de'));
      assert.equal(writer.size, 5);
      await writer.commit();
      assert.equal((await driver.getContent('w/file')).toString(), 'abcde');
      await assert.rejects(writer.write(Buffer.from('x')));
    }));

    it('writer with append continues a file, and creates it when absent', withDriver(async (driver) => {
      await driver.putContent('ap', Buffer.from('abc'));
      const writer = await driver.writer('ap', { append: true });
      assert.equal(writer.size, 3);
      await writer.write(Buffer.from('def'));
      assert.equal(writer.size, 6);
      await writer.close();
      assert.equal((await driver.getContent('ap')).toString(), 'abcdef');

      const fresh = await driver.writer('new/ap', { append: true });
      assert.equal(fresh.size, 0);
      await fresh.write(Buffer.from('x'));
      await fresh.commit();
      assert.equal((await driver.getContent('new/ap')).toString(), 'x');
    }));

    it('writer without append truncates an existing file', withDriver(async (driver) => {
      await driver.putContent('t', Buffer.from('long old content'));
      const writer = await driver.writer('t');
      assert.equal(writer.size, 0);
      await writer.write(Buffer.from('new'));
      await writer.commit();
      assert.equal((await driver.getContent('t')).toString(), 'new');
    }));

    it('writer cancel deletes the file; close keeps it', withDriver(async (driver) => {
      const cancelled = await driver.writer('c/cancelled');
      await cancelled.write(Buffer.from('gone'));
      await cancelled.cancel();
      assert.equal(await driver.stat('c/cancelled'), null);

      const closed = await driver.writer('c/closed');
      await closed.write(Buffer.from('kept'));
      await closed.close();
      assert.equal((await driver.getContent('c/closed')).toString(), 'kept');
    }));

    it('move renames, replaces the target and creates its parent folders', withDriver(async (driver) => {
      await driver.putContent('from', Buffer.from('one'));
      await driver.move('from', 'deep/er/to');
      assert.equal(await driver.stat('from'), null);
      assert.equal((await driver.getContent('deep/er/to')).toString(), 'one');

      await driver.putContent('other', Buffer.from('two'));
      await driver.move('other', 'deep/er/to');
      assert.equal((await driver.getContent('deep/er/to')).toString(), 'two');
      assert.equal(await driver.stat('other'), null);
    }));

    it('truncate cuts a file back (an append undone), never grows it, and throws PathNotFoundError when missing', withDriver(async (driver) => {
      await driver.putContent('u/data', Buffer.from('kept'));
      const writer = await driver.writer('u/data', { append: true });
      await writer.write(Buffer.from(' and then some'));
      await writer.close();
      await driver.truncate('u/data', 4);
      assert.equal((await driver.getContent('u/data')).toString(), 'kept');
      assert.equal((await driver.stat('u/data'))?.size, 4);
      await driver.truncate('u/data', 100);
      assert.equal((await driver.getContent('u/data')).toString(), 'kept', 'not grown');
      const again = await driver.writer('u/data', { append: true });
      assert.equal(again.size, 4, 'an append continues at the cut');
      await again.write(Buffer.from('!'));
      await again.commit();
      assert.equal((await driver.getContent('u/data')).toString(), 'kept!');
      await driver.truncate('u/data', 0);
      assert.equal((await driver.getContent('u/data')).length, 0);
      await assert.rejects(driver.truncate('u/absent', 0), PathNotFoundError);
    }));

    it('move of a missing file throws PathNotFoundError', withDriver(async (driver) => {
      await assert.rejects(driver.move('absent', 'somewhere'), PathNotFoundError);
    }));

    it('delete removes files and whole folders; missing paths are fine', withDriver(async (driver) => {
      await driver.putContent('d/one', Buffer.from('1'));
      await driver.putContent('d/sub/two', Buffer.from('2'));
      await driver.putContent('keep', Buffer.from('k'));
      await driver.delete('d/one');
      assert.equal(await driver.stat('d/one'), null);
      assert.ok(await driver.stat('d/sub/two'));
      await driver.delete('d');
      assert.equal(await driver.stat('d'), null);
      assert.equal(await driver.stat('d/sub/two'), null);
      assert.deepEqual(await driver.list('d'), []);
      await driver.delete('d');
      await driver.delete('never/was');
      assert.equal((await driver.getContent('keep')).toString(), 'k');
    }));

    it('list returns sorted direct children, [] for absent folders', withDriver(async (driver) => {
      for (const path of ['l/b', 'l/a', 'l/c/deep', 'l/B', 'l/10', 'l/2']) await driver.putContent(path, Buffer.from('x'));
      assert.deepEqual(await driver.list('l'), ['10', '2', 'B', 'a', 'b', 'c']);
      assert.deepEqual(await driver.list('l/c'), ['deep']);
      assert.deepEqual(await driver.list('absent'), []);
      assert.deepEqual(await driver.list('absent/deeper'), []);
    }));

    it('stat reports files and folders, and null when absent', withDriver(async (driver) => {
      const before = Date.now();
      await driver.putContent('s/file', Buffer.from('12345'));
      const file = await driver.stat('s/file');
      assert.ok(file);
      assert.equal(file.size, 5);
      assert.equal(file.isDirectory, false);
      assert.ok(file.modifiedAt instanceof Date);
      assert.ok(file.modifiedAt.getTime() >= before - 2000);
      const folder = await driver.stat('s');
      assert.ok(folder);
      assert.equal(folder.isDirectory, true);
      assert.equal(await driver.stat('s/missing'), null);
      assert.equal(await driver.stat('s/file/below-a-file'), null);
    }));

    it('modification times are on the node clock the driver was given', withDriver(async (driver) => {
      const clock = new ManualClock(Date.parse('2001-02-03T04:05:06Z'));
      const fixture = await makeDriver({ clock });
      try {
        await fixture.driver.putContent('t/file', Buffer.from('x'));
        const info = await fixture.driver.stat('t/file');
        assert.ok(info);
        assert.ok(Math.abs(info.modifiedAt.getTime() - clock.now()) < 5000, `${info.modifiedAt.toISOString()} is not near the node clock`);
      } finally {
        await fixture.cleanup();
      }
      // Without a clock: the system clock.
      await driver.putContent('t/file', Buffer.from('x'));
      assert.ok(Math.abs((await driver.stat('t/file'))!.modifiedAt.getTime() - Date.now()) < 5000);
    }));

    it('a call whose signal has aborted rejects with its reason and changes nothing', withDriver(async (driver) => {
      await driver.putContent('s/kept', Buffer.from('kept'));
      const controller = new AbortController();
      const reason = new Error('cancelled by the test');
      controller.abort(reason);
      const signal = controller.signal;
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['stat', () => driver.stat('s/kept', { signal })],
        ['getContent', () => driver.getContent('s/kept', { signal })],
        ['putContent', () => driver.putContent('s/new', Buffer.from('x'), { signal })],
        ['reader', () => driver.reader('s/kept', { signal })],
        ['openForRead', () => driver.openForRead('s/kept', { signal })],
        ['writer', () => driver.writer('s/new', { signal })],
        ['move', () => driver.move('s/kept', 's/moved', { signal })],
        ['delete', () => driver.delete('s/kept', { signal })],
        ['list', () => driver.list('s', { signal })],
        ['truncate', () => driver.truncate('s/kept', 0, { signal })],
      ];
      for (const [method, call] of calls) await assert.rejects(call(), (err: unknown) => err === reason, method);
      assert.deepEqual(await driver.list('s'), ['kept']);
      assert.equal((await driver.getContent('s/kept')).toString(), 'kept');
    }));

    it('an abort mid-way stops a writer (cancel still cleans up) and destroys a reader', withDriver(async (driver) => {
      const writing = new AbortController();
      const writer = await driver.writer('w/aborted', { signal: writing.signal });
      await writer.write(Buffer.from('first'));
      writing.abort(new Error('stop writing'));
      await assert.rejects(writer.write(Buffer.from('more')), /stop writing/);
      await assert.rejects(writer.commit(), /stop writing/);
      await writer.cancel();
      assert.equal(await driver.stat('w/aborted'), null);

      await driver.putContent('r/big', Buffer.alloc(4 * 1024 * 1024, 'b'));
      const reading = new AbortController();
      const stream = await driver.reader('r/big', { signal: reading.signal });
      const read = readAll(stream);
      reading.abort();
      await assert.rejects(read, { name: 'AbortError' });
      assert.ok(stream.destroyed);
    }));

    it('the listener a reader adds to its signal goes when the stream ends', withDriver(async (driver) => {
      await driver.putContent('l/file', Buffer.from('abc'));
      const controller = new AbortController();
      let listeners = 0;
      const signal = controller.signal;
      const add = signal.addEventListener.bind(signal);
      const remove = signal.removeEventListener.bind(signal);
      signal.addEventListener = ((...args: Parameters<typeof add>) => { listeners += 1; add(...args); }) as typeof add;
      signal.removeEventListener = ((...args: Parameters<typeof remove>) => { listeners -= 1; remove(...args); }) as typeof remove;
      assert.equal(await readAll(await driver.reader('l/file', { signal })), 'abc');
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(listeners, 0);
    }));

    it('every method rejects unclean paths with InvalidPathError', withDriver(async (driver) => {
      await driver.putContent('ok', Buffer.from('x'));
      for (const bad of ['../x', '/abs', 'a//b', 'a/./b', 'a/../b', '.', '', 'trailing/', 'back\\slash']) {
        const calls: Array<[string, () => Promise<unknown>]> = [
          ['stat', () => driver.stat(bad)],
          ['getContent', () => driver.getContent(bad)],
          ['putContent', () => driver.putContent(bad, Buffer.from('x'))],
          ['reader', () => driver.reader(bad)],
          ['writer', () => driver.writer(bad)],
          ['move from', () => driver.move(bad, 'ok2')],
          ['move to', () => driver.move('ok', bad)],
          ['delete', () => driver.delete(bad)],
          ['list', () => driver.list(bad)],
          ['truncate', () => driver.truncate(bad, 0)],
          ['openForRead', () => driver.openForRead(bad)],
        ];
        for (const [method, call] of calls) {
          await assert.rejects(call(), InvalidPathError, `${method}(${JSON.stringify(bad)}) should be rejected`);
        }
      }
      assert.equal((await driver.getContent('ok')).toString(), 'x');
    }));
  });
}
