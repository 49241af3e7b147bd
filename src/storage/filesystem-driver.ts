import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { systemClock, type Clock } from '../core/clock.js';
import type { CallOptions, FileInfo, FileWriter, RandomReadHandle, ReadOptions, StorageDriver, WriteOptions } from './driver.js';
import { errorCode } from './errors.js';

/** Big reads mean fewer syscalls and event-loop turns per blob; 1 MiB is a good throughput/latency balance. */
const READ_CHUNK = 1024 * 1024;

/**
 * Where putContent stages its temporary files: outside every driver path callers can name (it is
 * joined below the root directly), on the same filesystem so the final rename is atomic.
 * Leftovers from a crash have unique names and are never read, so they only cost space.
 */
const STAGING_DIR = '.staging';

/** ENOENT and ENOTDIR both mean "nothing there" for a path-keyed store. */
function isMissing(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * `mkdir -p` of `dir` below `root`; returns the first folder it created, as mkdir does. Node's
 * recursive mkdir answers ENOENT when a level cannot be created on a read-only filesystem, which
 * would read as "missing" instead of "read-only": then each level is made in turn, so the real
 * cause (EROFS, ENOSPC, …) is what is thrown.
 */
async function makeFolders(root: string, dir: string): Promise<string | undefined> {
  try {
    return await mkdir(dir, { recursive: true });
  } catch (err) {
    if (errorCode(err) !== 'ENOENT' || !dir.startsWith(root)) throw err;
    let level = root;
    let first: string | undefined;
    for (const part of relative(root, dir).split(sep)) {
      level = join(level, part);
      try {
        await mkdir(level);
        first ??= level;
      } catch (again) {
        if (errorCode(again) !== 'EEXIST') throw again;
      }
    }
    return first;
  }
}

/**
 * Fsyncs a directory so that a rename or create inside it survives a power loss. Some platforms
 * cannot open or sync directories; there the rename is as durable as the OS makes it, so we go on.
 */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = errorCode(err);
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await handle?.close();
  }
}

export interface FilesystemDriverOptions {
  /** The node's clock, that `FileInfo.modifiedAt` is reported on (the system clock by default). */
  clock?: Clock;
}

/**
 * A StorageDriver on a local folder. Atomicity comes from write-to-temp + fsync + rename.
 *
 * It does the filesystem only: path checks, the mapping of the operating system's errors
 * (ENOENT, ENOSPC, EROFS, EIO, …) to storage errors and the signal checks between calls are the
 * checking wrapper's (`createStorageDriver` makes this driver wrapped); here a missing file
 * changes a result (stat, list, delete) or is left to the wrapper.
 */
export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly #clock: Clock;

  constructor(readonly root: string, options: FilesystemDriverOptions = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * A file's modification time on the node's clock. The filesystem stamps files with the system
   * clock; on another clock (a test's manual one) the time is moved by that clock's offset from
   * the system clock now, so an age measured on the node's clock is the file's real age: files
   * written a moment ago never look old to a purge because a test moved its clock by days.
   */
  #onNodeClock(mtimeMs: number): Date {
    return new Date(this.#clock === systemClock ? mtimeMs : mtimeMs + this.#clock.now() - systemClock.now());
  }

  /** The absolute filesystem path of a (checked) driver path. */
  #resolve(path: string): string {
    return join(this.root, ...path.split('/'));
  }

  async stat(path: string): Promise<FileInfo | null> {
    try {
      const info = await stat(this.#resolve(path));
      return { size: info.size, modifiedAt: this.#onNodeClock(info.mtimeMs), isDirectory: info.isDirectory() };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async getContent(path: string, options: CallOptions = {}): Promise<Buffer> {
    return readFile(this.#resolve(path), options.signal ? { signal: options.signal } : {});
  }

  async putContent(path: string, content: Uint8Array, options: CallOptions = {}): Promise<void> {
    const full = this.#resolve(path);
    const stagingDir = join(this.root, STAGING_DIR);
    const temp = join(stagingDir, randomUUID());
    await makeFolders(this.root, stagingDir);
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(content);
      await handle.sync();
    } catch (err) {
      await handle.close();
      await rm(temp, { force: true });
      throw err;
    }
    await handle.close();
    try {
      // The last point to stop: after the rename the new content is there.
      options.signal?.throwIfAborted();
      await makeFolders(this.root, dirname(full));
      await rename(temp, full);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await syncDirectory(dirname(full));
  }

  async openForRead(path: string): Promise<RandomReadHandle> {
    const handle = await open(this.#resolve(path), 'r');
    try {
      const { size } = await handle.stat();
      return {
        size,
        read: async (target, position, length) => (await handle.read(target, 0, length, position)).bytesRead,
        close: () => handle.close(),
      };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async reader(path: string, options: ReadOptions = {}): Promise<Readable> {
    // Opened now, so a missing file fails this call rather than the stream later.
    const handle = await open(this.#resolve(path), 'r');
    const { offset = 0, end } = options;
    if (end !== undefined && end < offset) {
      // An empty range; createReadStream would throw on it and leak the handle.
      await handle.close();
      return Readable.from([]);
    }
    return createReadStream('', {
      fd: handle,
      start: offset,
      ...(end === undefined ? {} : { end }),
      highWaterMark: READ_CHUNK,
      autoClose: true,
    });
  }

  async writer(path: string, options: WriteOptions = {}): Promise<FileWriter> {
    const full = this.#resolve(path);
    await makeFolders(this.root, dirname(full));
    const handle = await open(full, options.append ? 'a' : 'w');
    let size = 0;
    try {
      if (options.append) size = (await handle.stat()).size;
    } catch (err) {
      await handle.close();
      throw err;
    }
    return new FilesystemFileWriter(handle, full, size);
  }

  async move(from: string, to: string): Promise<void> {
    const fullFrom = this.#resolve(from);
    const fullTo = this.#resolve(to);
    // The target folder nearly always exists (blobs/<alg>/<2 hex>): try the rename first and
    // create the folder only when it is missing, instead of a mkdir before every move. A second
    // ENOENT is then about `from` (the wrapper reports it as PathNotFoundError).
    try {
      await rename(fullFrom, fullTo);
    } catch (err) {
      if (!isMissing(err)) throw err;
      const created = await makeFolders(this.root, dirname(fullTo));
      await rename(fullFrom, fullTo);
      // A new folder must itself survive a power cut: sync the folder that holds it.
      if (created !== undefined) await syncDirectory(dirname(created));
    }
    await syncDirectory(dirname(fullTo));
  }

  async delete(path: string): Promise<void> {
    await rm(this.#resolve(path), { recursive: true, force: true });
  }

  async truncate(path: string, size: number): Promise<void> {
    const handle = await open(this.#resolve(path), 'r+');
    try {
      // Shrinking frees blocks, so this works on a full disk too; never grow a short file.
      if ((await handle.stat()).size > size) {
        await handle.truncate(size);
        await handle.sync();
      }
    } finally {
      await handle.close();
    }
  }

  async list(path: string): Promise<string[]> {
    try {
      // Plain code-unit order, so every driver sorts the same way regardless of locale.
      return (await readdir(this.#resolve(path))).sort();
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }
}

/** Writes go straight to an open file handle; each `write` resolves once the OS has the bytes. */
class FilesystemFileWriter implements FileWriter {
  #size: number;
  #open = true;

  constructor(
    private readonly handle: FileHandle,
    private readonly fullPath: string,
    size: number,
  ) {
    this.#size = size;
  }

  get size(): number {
    return this.#size;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (!this.#open) throw new Error(`writer for ${this.fullPath} is closed`);
    let offset = 0;
    // A single write may be partial (signals, full disks reporting late); loop until all of it is taken.
    while (offset < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset);
      offset += bytesWritten;
      this.#size += bytesWritten;
    }
  }

  async writev(chunks: readonly Uint8Array[]): Promise<void> {
    if (!this.#open) throw new Error(`writer for ${this.fullPath} is closed`);
    let rest = chunks.filter((chunk) => chunk.length > 0);
    // writev may also be partial: drop what was written and go again with the remainder.
    while (rest.length > 0) {
      let { bytesWritten } = await this.handle.writev(rest);
      this.#size += bytesWritten;
      while (rest.length > 0 && bytesWritten >= rest[0]!.length) {
        bytesWritten -= rest[0]!.length;
        rest = rest.slice(1);
      }
      if (bytesWritten > 0) rest = [rest[0]!.subarray(bytesWritten), ...rest.slice(1)];
    }
  }

  async commit(): Promise<void> {
    if (!this.#open) throw new Error(`writer for ${this.fullPath} is closed`);
    this.#open = false;
    try {
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
  }

  /** Idempotent, so error paths can call it without tracking whether commit already closed the file. */
  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    await this.handle.close();
  }

  /** Idempotent as well: cleaning up after a failed commit must still remove the file. */
  async cancel(): Promise<void> {
    await this.close();
    try {
      await unlink(this.fullPath);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }
}
