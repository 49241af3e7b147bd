import type { Readable } from 'node:stream';
import type { AdoptingBlobStore } from '../storage/blob-store.js';
import type { CallOptions, RandomReadHandle } from '../storage/driver.js';

export type BlobStoreOperation = 'stat' | 'open' | 'open-for-read' | 'get' | 'put' | 'adopt' | 'delete' | 'list';
export const BLOB_STORE_OPERATIONS: readonly BlobStoreOperation[] = ['stat', 'open', 'open-for-read', 'get', 'put', 'adopt', 'delete', 'list'];

/** What the wrapper has counted so far (plain numbers: NodeMetrics reads them when Prometheus scrapes). */
export interface BlobStoreCounts {
  calls: Record<BlobStoreOperation, number>;
  failures: Record<BlobStoreOperation, number>;
  writtenBlobs: number;
  writtenBytes: number;
}

/**
 * The node's blob store, counted: calls and failures per operation, and the blobs and bytes
 * written (a put or an upload adopted; a blob already there counts again, as the write it was).
 * Everything else is the wrapped store's. A call costs one addition.
 */
export class MeteredBlobStore implements AdoptingBlobStore {
  readonly counts: BlobStoreCounts = {
    calls: zeroes(), failures: zeroes(), writtenBlobs: 0, writtenBytes: 0,
  };

  constructor(private readonly inner: AdoptingBlobStore) {}

  private async counted<T>(operation: BlobStoreOperation, call: () => Promise<T>): Promise<T> {
    this.counts.calls[operation] += 1;
    try {
      return await call();
    } catch (err) {
      this.counts.failures[operation] += 1;
      throw err;
    }
  }

  private written(stored: { size: number }): void {
    this.counts.writtenBlobs += 1;
    this.counts.writtenBytes += stored.size;
  }

  stat(digest: string, options?: CallOptions): Promise<{ size: number } | null> {
    return this.counted('stat', () => this.inner.stat(digest, options));
  }

  open(digest: string, options?: CallOptions): Promise<Readable> {
    return this.counted('open', () => this.inner.open(digest, options));
  }

  openForRead(digest: string, options?: CallOptions): Promise<RandomReadHandle> {
    return this.counted('open-for-read', () => this.inner.openForRead(digest, options));
  }

  get(digest: string, options?: CallOptions): Promise<Buffer> {
    return this.counted('get', () => this.inner.get(digest, options));
  }

  async put(content: Readable | Buffer, expectedDigest: string, expectedSize?: number, options?: CallOptions): Promise<{ digest: string; size: number }> {
    const stored = await this.counted('put', () => this.inner.put(content, expectedDigest, expectedSize, options));
    this.written(stored);
    return stored;
  }

  async adopt(path: string, digest: string, size: number, options?: CallOptions): Promise<{ digest: string; size: number }> {
    const stored = await this.counted('adopt', () => this.inner.adopt(path, digest, size, options));
    this.written(stored);
    return stored;
  }

  delete(digest: string, options?: CallOptions): Promise<void> {
    return this.counted('delete', () => this.inner.delete(digest, options));
  }

  list(options?: CallOptions): AsyncIterable<string> {
    this.counts.calls.list += 1;
    return this.inner.list(options);
  }
}

function zeroes(): Record<BlobStoreOperation, number> {
  return Object.fromEntries(BLOB_STORE_OPERATIONS.map((op) => [op, 0])) as Record<BlobStoreOperation, number>;
}
