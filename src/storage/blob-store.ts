import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import type { Readable } from 'node:stream';
import { createDigester, DIGEST_ALGORITHMS, parseDigest, type DigestAlgorithm, type ParsedDigest } from '../oci/digest.js';
import { copyInto, SizeLimitExceededError } from './copy-stream.js';
import type { CallOptions, FileInfo, RandomReadHandle, StorageDriver } from './driver.js';
import { BlobUnknownError, DigestMismatchError, PathNotFoundError, SizeMismatchError } from './errors.js';
import type { BlobStore } from './types.js';

/** Prefix folders listed at once by `list` (a few: the thread pool also serves downloads). */
const LIST_PARALLEL = 2;

/** Folder for blobs being written. Names are random, so a crash's leftovers never collide with later writes. */
export const BLOB_TEMP_DIR = '_tmp';

/**
 * A BlobStore that can also take over a file already written, verified and fsynced elsewhere in
 * the same driver (an upload session's data), by moving it into place instead of copying it.
 */
export interface AdoptingBlobStore extends BlobStore {
  /**
   * Publishes the file at `path` as the blob `digest` of `size` bytes, by rename. The caller
   * guarantees the content matches `digest` and is durable. If the blob already exists the file
   * is deleted instead. Throws DIGEST_INVALID for a malformed digest, PathNotFoundError when
   * `path` is missing.
   */
  adopt(path: string, digest: string, size: number, options?: CallOptions): Promise<{ digest: string; size: number }>;
}

/** Where a blob lives: `blobs/<alg>/<first 2 hex>/<hex>`, so no folder grows past 256 entries per level. */
function blobPath(parsed: ParsedDigest): string {
  return `blobs/${parsed.algorithm}/${parsed.hex.slice(0, 2)}/${parsed.hex}`;
}

/** Content-addressed blobs on any StorageDriver: stream to a temp file, hash, fsync, rename. */
export class DriverBlobStore implements AdoptingBlobStore {
  readonly #clock: Clock;
  /** Temporary files of puts in progress in this process: never purged, however old they look. */
  readonly #writing = new Set<string>();

  /** `clock`: the node's clock, that purge cutoffs are measured on (the system clock by default). */
  constructor(readonly driver: StorageDriver, options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async stat(digest: string, options?: CallOptions): Promise<{ size: number } | null> {
    const info = await this.driver.stat(blobPath(parseDigest(digest)), options);
    return info && !info.isDirectory ? { size: info.size } : null;
  }

  async open(digest: string, options?: CallOptions): Promise<Readable> {
    return blobUnknownIfMissing(digest, () => this.driver.reader(blobPath(parseDigest(digest)), options));
  }

  async openForRead(digest: string, options?: CallOptions): Promise<RandomReadHandle> {
    return blobUnknownIfMissing(digest, () => this.driver.openForRead(blobPath(parseDigest(digest)), options));
  }

  async get(digest: string, options?: CallOptions): Promise<Buffer> {
    return blobUnknownIfMissing(digest, () => this.driver.getContent(blobPath(parseDigest(digest)), options));
  }

  async put(content: Readable | Buffer, expectedDigest: string, expectedSize?: number, options?: CallOptions): Promise<{ digest: string; size: number }> {
    const parsed = parseDigest(expectedDigest);
    const name = randomUUID();
    this.#writing.add(name);
    try {
      return await this.#put(`${BLOB_TEMP_DIR}/${name}`, content, parsed, expectedSize, options);
    } finally {
      this.#writing.delete(name);
    }
  }

  async #put(temp: string, content: Readable | Buffer, parsed: ParsedDigest, expectedSize: number | undefined, options?: CallOptions): Promise<{ digest: string; size: number }> {
    const expectedDigest = parsed.digest;
    const writer = await this.driver.writer(temp, options);
    const hash = createDigester(parsed.algorithm);
    let size: number;
    try {
      try {
        size = await copyInto(content, writer, hash, expectedSize);
      } catch (err) {
        if (err instanceof SizeLimitExceededError) {
          throw new SizeMismatchError(`content is longer than the expected ${expectedSize} bytes`, { digest: expectedDigest, expectedSize: err.limit });
        }
        throw err;
      }
      if (expectedSize !== undefined && size !== expectedSize) {
        throw new SizeMismatchError(`content is ${size} bytes, expected ${expectedSize}`, { digest: expectedDigest, expectedSize, size });
      }
      const actual = `${parsed.algorithm}:${hash.digest('hex')}`;
      if (actual !== parsed.digest) throw new DigestMismatchError(parsed.digest, actual);
      await writer.commit();
    } catch (err) {
      // Nothing was published: the temp file is the only trace, and it goes too.
      await writer.cancel();
      throw err;
    }
    return this.adopt(temp, parsed.digest, size, options);
  }

  async adopt(path: string, digest: string, size: number, options?: CallOptions): Promise<{ digest: string; size: number }> {
    const parsed = parseDigest(digest);
    if (await this.stat(digest, options)) {
      // Content addressing: the existing blob is byte-identical, so keep it and drop the copy.
      await this.driver.delete(path, options);
    } else {
      await this.driver.move(path, blobPath(parsed), options);
    }
    return { digest: parsed.digest, size };
  }

  async delete(digest: string, options?: CallOptions): Promise<void> {
    await this.driver.delete(blobPath(parseDigest(digest)), options);
  }

  /** Size and modification time (on the node's clock) of a stored blob's file, or null: the sweep's age check. */
  async info(digest: string, options?: CallOptions): Promise<FileInfo | null> {
    const info = await this.driver.stat(blobPath(parseDigest(digest)), options);
    return info && !info.isDirectory ? info : null;
  }

  async *list(options?: CallOptions): AsyncIterable<string> {
    for (const algorithm of await this.driver.list('blobs', options)) {
      if (!(algorithm in DIGEST_ALGORITHMS)) continue;
      const hexLength = DIGEST_ALGORITHMS[algorithm as DigestAlgorithm];
      const prefixes = await this.driver.list(`blobs/${algorithm}`, options);
      // Folders are read a few at a time: one after the other, a busy node's listing waits its
      // turn 256 times behind the requests it serves.
      for (let i = 0; i < prefixes.length; i += LIST_PARALLEL) {
        const chunk = prefixes.slice(i, i + LIST_PARALLEL);
        const listed = await Promise.all(chunk.map((prefix) => this.driver.list(`blobs/${algorithm}/${prefix}`, options)));
        for (const [j, names] of listed.entries()) {
          const prefix = chunk[j]!;
          for (const hex of names) {
            // Skip anything that is not a well-formed blob name (stray files left by hand or by tools).
            if (hex.length === hexLength && hex.startsWith(prefix) && /^[a-f0-9]+$/.test(hex)) yield `${algorithm}:${hex}`;
          }
        }
      }
    }
  }

  /**
   * Deletes every temporary file (left by puts a crash or kill interrupted) and returns how many
   * went. Only for a node's start, before it serves: a put in progress also lives in `_tmp/`.
   */
  async clearTemp(): Promise<number> {
    const names = await this.driver.list(BLOB_TEMP_DIR);
    await this.driver.delete(BLOB_TEMP_DIR);
    return names.length;
  }

  /**
   * Deletes temporary files older than `olderThanMs` (left by crashes or aborted puts) and returns
   * how many went. They never block anything; this only frees space. A put in progress in this
   * process is never purged, however long it takes.
   */
  async purgeTemp(olderThanMs: number, options?: CallOptions): Promise<number> {
    return (await this.sweepTemp(olderThanMs, options)).count;
  }

  /**
   * purgeTemp with the bytes freed; with `dryRun`, only what would go (garbage collection's
   * report).
   */
  async sweepTemp(olderThanMs: number, options: CallOptions & { dryRun?: boolean } = {}): Promise<{ count: number; bytes: number }> {
    const cutoff = this.#clock.now() - olderThanMs;
    const swept = { count: 0, bytes: 0 };
    for (const name of await this.driver.list(BLOB_TEMP_DIR, options)) {
      if (this.#writing.has(name)) continue;
      const path = `${BLOB_TEMP_DIR}/${name}`;
      const info = await this.driver.stat(path, options);
      if (!info || info.modifiedAt.getTime() >= cutoff) continue;
      if (!options.dryRun) await this.driver.delete(path, options);
      swept.count += 1;
      swept.bytes += info.size;
    }
    return swept;
  }
}

/** Runs a driver read of a blob, turning a missing file into BlobUnknownError (also a blob deleted by GC between a check and the read). */
async function blobUnknownIfMissing<T>(digest: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof PathNotFoundError) throw new BlobUnknownError(digest);
    throw err;
  }
}
