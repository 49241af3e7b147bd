import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import type { Readable } from 'node:stream';
import { createDigester, DIGEST_ALGORITHMS, parseDigest, type DigestAlgorithm, type ParsedDigest } from '../oci/digest.js';
import { copyInto, SizeLimitExceededError } from './copy-stream.js';
import type { CallOptions, RandomReadHandle, StorageDriver } from './driver.js';
import { BlobUnknownError, DigestMismatchError, PathNotFoundError, SizeMismatchError } from './errors.js';
import type { BlobStore } from './types.js';

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
    const temp = `${BLOB_TEMP_DIR}/${randomUUID()}`;
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

  async *list(options?: CallOptions): AsyncIterable<string> {
    for (const algorithm of await this.driver.list('blobs', options)) {
      if (!(algorithm in DIGEST_ALGORITHMS)) continue;
      const hexLength = DIGEST_ALGORITHMS[algorithm as DigestAlgorithm];
      for (const prefix of await this.driver.list(`blobs/${algorithm}`, options)) {
        for (const hex of await this.driver.list(`blobs/${algorithm}/${prefix}`, options)) {
          // Skip anything that is not a well-formed blob name (stray files left by hand or by tools).
          if (hex.length === hexLength && hex.startsWith(prefix) && /^[a-f0-9]+$/.test(hex)) yield `${algorithm}:${hex}`;
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
   * how many went. They never block anything; this only frees space. Keep the limit well above
   * the longest upload, since a put in progress also lives in `_tmp/`.
   */
  async purgeTemp(olderThanMs: number, options?: CallOptions): Promise<number> {
    const cutoff = this.#clock.now() - olderThanMs;
    let purged = 0;
    for (const name of await this.driver.list(BLOB_TEMP_DIR, options)) {
      const path = `${BLOB_TEMP_DIR}/${name}`;
      const info = await this.driver.stat(path, options);
      if (info && info.modifiedAt.getTime() < cutoff) {
        await this.driver.delete(path, options);
        purged++;
      }
    }
    return purged;
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
