import type { Readable } from 'node:stream';
import type { Counter } from 'prom-client';
import type { AdoptingBlobStore } from '../storage/blob-store.js';
import type { CallOptions, RandomReadHandle } from '../storage/driver.js';

/** The blob store families, registered by NodeMetrics. */
export interface BlobStoreFamilies {
  operations: Counter<'operation'>;
  errors: Counter<'operation'>;
  writtenBytes: Counter;
  writtenBlobs: Counter;
}

type Operation = 'stat' | 'open' | 'open-for-read' | 'get' | 'put' | 'adopt' | 'delete' | 'list';
const OPERATIONS: readonly Operation[] = ['stat', 'open', 'open-for-read', 'get', 'put', 'adopt', 'delete', 'list'];

/**
 * The node's blob store, counted: calls and failures per operation, and the blobs and bytes
 * written (a put or an upload adopted; a blob already there counts again, as the write it was).
 * Everything else is the wrapped store's. Counters are bound once per operation, so a call costs
 * one increment.
 */
export class MeteredBlobStore implements AdoptingBlobStore {
  private readonly calls: Record<Operation, { inc(): void }>;
  private readonly failures: Record<Operation, { inc(): void }>;

  constructor(private readonly inner: AdoptingBlobStore, private readonly families: BlobStoreFamilies) {
    this.calls = Object.fromEntries(OPERATIONS.map((op) => [op, families.operations.labels(op)])) as Record<Operation, { inc(): void }>;
    this.failures = Object.fromEntries(OPERATIONS.map((op) => [op, families.errors.labels(op)])) as Record<Operation, { inc(): void }>;
  }

  private async counted<T>(operation: Operation, call: () => Promise<T>): Promise<T> {
    this.calls[operation].inc();
    try {
      return await call();
    } catch (err) {
      this.failures[operation].inc();
      throw err;
    }
  }

  private written(stored: { size: number }): void {
    this.families.writtenBlobs.inc();
    this.families.writtenBytes.inc(stored.size);
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
    this.calls.list.inc();
    return this.inner.list(options);
  }
}
