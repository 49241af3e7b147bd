import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Readable } from 'node:stream';
import { InvalidPathError, PathNotFoundError, type StorageDriver } from '../../src/storage/driver.js';

export interface DriverFixture {
  driver: StorageDriver;
  cleanup(): Promise<void>;
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The one behaviour suite every StorageDriver runs (CONVENTIONS principle 6). Each test gets a
 * fresh driver from `makeDriver` and cleans it up, pass or fail.
 */
export function runDriverSuite(name: string, makeDriver: () => Promise<DriverFixture>): void {
  const withDriver = (fn: (driver: StorageDriver) => Promise<void>) => async () => {
    const fixture = await makeDriver();
    try {
      await fn(fixture.driver);
    } finally {
      await fixture.cleanup();
    }
  };

  describe(`StorageDriver suite: ${name}`, () => {
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
      assert.equal(await readAll(await driver.reader('r', 3)), '3456789');
      assert.equal(await readAll(await driver.reader('r', 2, 5)), '2345');
      assert.equal(await readAll(await driver.reader('r', 9, 9)), '9');
      assert.equal(await readAll(await driver.reader('r', 8, 100)), '89');
      assert.equal(await readAll(await driver.reader('r', 20)), '');
      assert.equal(await readAll(await driver.reader('r', 5, 4)), '');
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
      assert.equal(await readAll(await driver.reader('chunks', 2, 6)), 'cdefg');
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
        ];
        for (const [method, call] of calls) {
          await assert.rejects(call(), InvalidPathError, `${method}(${JSON.stringify(bad)}) should be rejected`);
        }
      }
      assert.equal((await driver.getContent('ok')).toString(), 'x');
    }));
  });
}
