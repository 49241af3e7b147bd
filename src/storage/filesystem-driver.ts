import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { systemClock, type Clock } from '../core/clock.js';
import { asStorageFailure, assertCleanPath, PathNotFoundError, type FileInfo, type FileWriter, type RandomReadHandle, type StorageDriver } from './driver.js';

/** Big reads mean fewer syscalls and event-loop turns per blob; 1 MiB is a good throughput/latency balance. */
const READ_CHUNK = 1024 * 1024;

/**
 * Where putContent stages its temporary files: outside every driver path callers can name (it is
 * joined below the root directly), on the same filesystem so the final rename is atomic.
 * Leftovers from a crash have unique names and are never read, so they only cost space.
 */
const STAGING_DIR = '.staging';

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** ENOENT and ENOTDIR both mean "nothing there" for a path-keyed store. */
function isMissing(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Runs filesystem calls, turning a full, read-only or failing disk into StorageFailureError (the driver's contract). */
async function io<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw asStorageFailure(err);
  }
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
    if (errnoCode(err) !== 'ENOENT' || !dir.startsWith(root)) throw err;
    let level = root;
    let first: string | undefined;
    for (const part of relative(root, dir).split(sep)) {
      level = join(level, part);
      try {
        await mkdir(level);
        first ??= level;
      } catch (again) {
        if (errnoCode(again) !== 'EEXIST') throw again;
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
    const code = errnoCode(err);
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await handle?.close();
  }
}

export interface FilesystemDriverOptions {
  /** The node's clock, that `FileInfo.modifiedAt` is reported on (the system clock by default). */
  clock?: Clock;
}

/** A StorageDriver on a local folder. Atomicity comes from write-to-temp + fsync + rename. */
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

  /** Validates `path` (InvalidPathError) and turns it into an absolute filesystem path. */
  #resolve(path: string): string {
    assertCleanPath(path);
    return join(this.root, ...path.split('/'));
  }

  async stat(path: string): Promise<FileInfo | null> {
    return io(async () => {
      const full = this.#resolve(path);
      try {
        const info = await stat(full);
        return { size: info.size, modifiedAt: this.#onNodeClock(info.mtimeMs), isDirectory: info.isDirectory() };
      } catch (err) {
        if (isMissing(err)) return null;
        throw err;
      }
    });
  }

  async getContent(path: string): Promise<Buffer> {
    return io(async () => {
      const full = this.#resolve(path);
      try {
        return await readFile(full);
      } catch (err) {
        if (isMissing(err)) throw new PathNotFoundError(path);
        throw err;
      }
    });
  }

  async putContent(path: string, content: Uint8Array): Promise<void> {
    return io(async () => {
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
        await makeFolders(this.root, dirname(full));
        await rename(temp, full);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
      await syncDirectory(dirname(full));
    });
  }

  /** Opens an existing file for reading; a missing one is PathNotFoundError now, not a stream error later. */
  async #openExisting(path: string): Promise<FileHandle> {
    try {
      return await open(this.#resolve(path), 'r');
    } catch (err) {
      if (isMissing(err)) throw new PathNotFoundError(path);
      throw err;
    }
  }

  async openForRead(path: string): Promise<RandomReadHandle> {
    return io(async () => {
      const handle = await this.#openExisting(path);
      try {
        const { size } = await handle.stat();
        return {
          size,
          read: (target, position, length) => io(async () => (await handle.read(target, 0, length, position)).bytesRead),
          close: () => handle.close(),
        };
      } catch (err) {
        await handle.close();
        throw err;
      }
    });
  }

  async reader(path: string, offset = 0, end?: number): Promise<Readable> {
    return io(async () => {
      const handle = await this.#openExisting(path);
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
    });
  }

  async writer(path: string, options: { append?: boolean } = {}): Promise<FileWriter> {
    return io(async () => {
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
    });
  }

  async move(from: string, to: string): Promise<void> {
    return io(async () => {
      const fullFrom = this.#resolve(from);
      const fullTo = this.#resolve(to);
      // The target folder nearly always exists (blobs/<alg>/<2 hex>): try the rename first and
      // create the folder only when it is missing, instead of a mkdir before every move.
      try {
        await rename(fullFrom, fullTo);
      } catch (err) {
        if (!isMissing(err)) throw err;
        const created = await makeFolders(this.root, dirname(fullTo));
        try {
          await rename(fullFrom, fullTo);
        } catch (again) {
          if (isMissing(again)) throw new PathNotFoundError(from);
          throw again;
        }
        // A new folder must itself survive a power cut: sync the folder that holds it.
        if (created !== undefined) await syncDirectory(dirname(created));
      }
      await syncDirectory(dirname(fullTo));
    });
  }

  async delete(path: string): Promise<void> {
    return io(async () => {
      await rm(this.#resolve(path), { recursive: true, force: true });
    });
  }

  async truncate(path: string, size: number): Promise<void> {
    return io(async () => {
      let handle: FileHandle;
      try {
        handle = await open(this.#resolve(path), 'r+');
      } catch (err) {
        if (isMissing(err)) throw new PathNotFoundError(path);
        throw err;
      }
      try {
        // Shrinking frees blocks, so this works on a full disk too; never grow a short file.
        if ((await handle.stat()).size > size) {
          await handle.truncate(size);
          await handle.sync();
        }
      } finally {
        await handle.close();
      }
    });
  }

  async list(path: string): Promise<string[]> {
    return io(async () => {
      const full = this.#resolve(path);
      try {
        // Plain code-unit order, so every driver sorts the same way regardless of locale.
        return (await readdir(full)).sort();
      } catch (err) {
        if (isMissing(err)) return [];
        throw err;
      }
    });
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
    return io(async () => {
      if (!this.#open) throw new Error(`writer for ${this.fullPath} is closed`);
      let offset = 0;
      // A single write may be partial (signals, full disks reporting late); loop until all of it is taken.
      while (offset < chunk.length) {
        const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset);
        offset += bytesWritten;
        this.#size += bytesWritten;
      }
    });
  }

  async writev(chunks: readonly Uint8Array[]): Promise<void> {
    return io(async () => {
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
    });
  }

  async commit(): Promise<void> {
    return io(async () => {
      if (!this.#open) throw new Error(`writer for ${this.fullPath} is closed`);
      this.#open = false;
      try {
        await this.handle.sync();
      } finally {
        await this.handle.close();
      }
    });
  }

  /** Idempotent, so error paths can call it without tracking whether commit already closed the file. */
  async close(): Promise<void> {
    return io(async () => {
      if (!this.#open) return;
      this.#open = false;
      await this.handle.close();
    });
  }

  /** Idempotent as well: cleaning up after a failed commit must still remove the file. */
  async cancel(): Promise<void> {
    return io(async () => {
      await this.close();
      try {
        await unlink(this.fullPath);
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    });
  }
}
