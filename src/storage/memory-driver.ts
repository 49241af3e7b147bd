import { Readable } from 'node:stream';
import { systemClock, type Clock } from '../core/clock.js';
import type { FileInfo, FileWriter, RandomReadHandle, ReadOptions, StorageDriver, WriteOptions } from './driver.js';
import { PathNotFoundError, StorageFailureError } from './errors.js';

/** One stored file. Chunks are kept as written so appends never copy what is already there. */
interface MemoryFile {
  chunks: Buffer[];
  size: number;
  modifiedAt: Date;
}

export interface MemoryDriverOptions {
  /** Total bytes the driver holds before writes fail as on a full disk (StorageFailureError ENOSPC); unlimited when absent. */
  quotaBytes?: number;
  /** Stamps modification times (the node's clock, so a manual clock ages files; the system clock by default). */
  clock?: Clock;
}

/**
 * A StorageDriver held in a Map, for tests and throw-away nodes. Folders are implicit: a folder
 * exists while some file lives below it, as on object stores. Everything is atomic because nothing
 * here yields between reading and updating the map (so a call, once started, has nothing to
 * cancel). Path checks and signals are the checking wrapper's (`createStorageDriver`).
 *
 * With a quota it behaves like a small disk: a write that does not fit stores the part that does,
 * then fails with StorageFailureError ENOSPC, as a filesystem's partial write followed by ENOSPC.
 */
export class MemoryDriver implements StorageDriver {
  readonly name = 'memory';
  readonly #files = new Map<string, MemoryFile>();
  /** The quota in bytes (tests may raise it to "free space"); null for none. */
  quotaBytes: number | null;
  readonly #clock: Clock;

  constructor(options: MemoryDriverOptions = {}) {
    this.quotaBytes = options.quotaBytes ?? null;
    this.#clock = options.clock ?? systemClock;
  }

  #now(): Date {
    return new Date(this.#clock.now());
  }

  /** Bytes that still fit under the quota (Infinity without one). */
  #free(): number {
    if (this.quotaBytes === null) return Number.POSITIVE_INFINITY;
    let used = 0;
    for (const file of this.#files.values()) used += file.size;
    return Math.max(0, this.quotaBytes - used);
  }

  async stat(path: string): Promise<FileInfo | null> {
    const file = this.#files.get(path);
    if (file) return { size: file.size, modifiedAt: file.modifiedAt, isDirectory: false };
    let newest: Date | undefined;
    for (const [key, child] of this.#files) {
      if (key.startsWith(`${path}/`) && (!newest || child.modifiedAt > newest)) newest = child.modifiedAt;
    }
    return newest ? { size: 0, modifiedAt: newest, isDirectory: true } : null;
  }

  async getContent(path: string): Promise<Buffer> {
    return Buffer.concat(this.#get(path).chunks);
  }

  async putContent(path: string, content: Uint8Array): Promise<void> {
    // Atomic replace: the old content stays until the new one fits.
    if (content.length > this.#free() + (this.#files.get(path)?.size ?? 0)) throw diskFull(path);
    // Copy: the caller may reuse its buffer, and stored files must not change behind our back.
    const copy = Buffer.from(content);
    this.#files.set(path, { chunks: [copy], size: copy.length, modifiedAt: this.#now() });
  }

  async reader(path: string, options: ReadOptions = {}): Promise<Readable> {
    const { offset = 0, end } = options;
    const file = this.#get(path);
    // Snapshot the chunk list so later appends or replacements do not show up mid-read.
    const chunks = [...file.chunks];
    const last = Math.min(end ?? Number.POSITIVE_INFINITY, file.size - 1);
    return Readable.from(sliceChunks(chunks, offset, last), { objectMode: false });
  }

  async openForRead(path: string): Promise<RandomReadHandle> {
    const file = this.#get(path);
    // A snapshot, as for reader(): the handle sees the file as it was when opened.
    const content = Buffer.concat(file.chunks, file.size);
    return {
      size: content.length,
      read: async (target, position, length) => content.copy(target, 0, position, Math.min(position + length, content.length)),
      close: async () => {},
    };
  }

  async writer(path: string, options: WriteOptions = {}): Promise<FileWriter> {
    let file = options.append ? this.#files.get(path) : undefined;
    if (!file) {
      file = { chunks: [], size: 0, modifiedAt: this.#now() };
      this.#files.set(path, file);
    }
    return new MemoryFileWriter(this.#files, path, file, () => this.#free(), () => this.#now());
  }

  async truncate(path: string, size: number): Promise<void> {
    const file = this.#get(path);
    if (file.size <= size) return;
    const kept = Buffer.concat(file.chunks, file.size).subarray(0, size);
    file.chunks = [Buffer.from(kept)];
    file.size = size;
    file.modifiedAt = this.#now();
  }

  async move(from: string, to: string): Promise<void> {
    const file = this.#get(from);
    this.#files.delete(from);
    this.#files.set(to, file);
  }

  async delete(path: string): Promise<void> {
    this.#files.delete(path);
    for (const key of [...this.#files.keys()]) {
      if (key.startsWith(`${path}/`)) this.#files.delete(key);
    }
  }

  async list(path: string): Promise<string[]> {
    const names = new Set<string>();
    const prefix = `${path}/`;
    for (const key of this.#files.keys()) {
      if (!key.startsWith(prefix)) continue;
      const name = key.slice(prefix.length).split('/')[0];
      if (name) names.add(name);
    }
    return [...names].sort();
  }

  #get(path: string): MemoryFile {
    const file = this.#files.get(path);
    if (!file) throw new PathNotFoundError(path);
    return file;
  }
}

/** Yields the bytes from `first` to `last` (inclusive) without copying whole chunks. */
function* sliceChunks(chunks: Buffer[], first: number, last: number): Generator<Buffer> {
  let position = 0;
  for (const chunk of chunks) {
    const chunkEnd = position + chunk.length;
    if (chunkEnd > first && position <= last) {
      const from = Math.max(first - position, 0);
      const to = Math.min(last - position + 1, chunk.length);
      if (to > from) yield chunk.subarray(from, to);
    }
    position = chunkEnd;
    if (position > last) return;
  }
}

class MemoryFileWriter implements FileWriter {
  #open = true;

  constructor(
    private readonly files: Map<string, MemoryFile>,
    private readonly path: string,
    private readonly file: MemoryFile,
    private readonly free: () => number,
    private readonly now: () => Date,
  ) {}

  get size(): number {
    return this.file.size;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (!this.#open) throw new Error(`writer for ${this.path} is closed`);
    const room = this.free();
    const copy = Buffer.from(chunk.subarray(0, Math.min(chunk.length, room)));
    if (copy.length > 0) {
      this.file.chunks.push(copy);
      this.file.size += copy.length;
      this.file.modifiedAt = this.now();
    }
    if (copy.length < chunk.length) throw diskFull(this.path);
  }

  async writev(chunks: readonly Uint8Array[]): Promise<void> {
    for (const chunk of chunks) await this.write(chunk);
  }

  async commit(): Promise<void> {
    if (!this.#open) throw new Error(`writer for ${this.path} is closed`);
    this.#open = false;
  }

  async close(): Promise<void> {
    this.#open = false;
  }

  async cancel(): Promise<void> {
    this.#open = false;
    // Only remove the file if it is still ours: it may have been moved or replaced meanwhile.
    if (this.files.get(this.path) === this.file) this.files.delete(this.path);
  }
}

function diskFull(path: string): StorageFailureError {
  return new StorageFailureError('ENOSPC', `ENOSPC: no space left on device (memory quota), write ${path}`);
}
