import type { BlobStore } from '../storage/types.js';
import { BlobUnknownError } from '../storage/errors.js';

/** A blob that could not be copied for a reason other than being absent: which one, and why. */
export class BlobCopyError extends Error {
  constructor(readonly digest: string, readonly reason: unknown) {
    super(`copying blob ${digest} failed: ${reason instanceof Error ? reason.message : String(reason)}`, { cause: reason });
    this.name = 'BlobCopyError';
  }
}

export interface CopyBlobsOptions {
  /** Blobs already copied (digest → size): skipped, and each one copied now is added. */
  done: Map<string, number>;
  /** Copies at once (each a stream from one store into the other). */
  parallel: number;
  signal?: AbortSignal;
}

/**
 * Copies the blobs of `content` (digest → size) from one blob store into another, each streamed
 * and verified by digest and size as it is written (`BlobStore.put` publishes nothing that does
 * not match). Returns the digests `from` does not hold (not an error here: the caller decides).
 * Any other failure — a blob that does not match its digest, a full disk, the signal — stops
 * the copy: the copies running finish, then it throws BlobCopyError (or the signal's reason).
 */
export async function copyBlobs(content: ReadonlyMap<string, number>, from: BlobStore, to: BlobStore, options: CopyBlobsOptions): Promise<{ missing: string[] }> {
  const { done, signal } = options;
  const queue = [...content].filter(([digest]) => !done.has(digest));
  const missing: string[] = [];
  let next = 0;
  let failure: unknown = null;
  const worker = async (): Promise<void> => {
    while (failure === null && next < queue.length) {
      const [digest, size] = queue[next++]!;
      try {
        signal?.throwIfAborted();
        await copyOne(digest, size, from, to, signal);
        done.set(digest, size);
      } catch (err) {
        if (err instanceof BlobUnknownError) missing.push(digest);
        else failure ??= signal?.aborted ? signal.reason : new BlobCopyError(digest, err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.parallel, queue.length)) }, worker));
  if (failure !== null) throw failure;
  return { missing: missing.sort() };
}

async function copyOne(digest: string, size: number, from: BlobStore, to: BlobStore, signal: AbortSignal | undefined): Promise<void> {
  // The signal goes to the writing side only: a reader aborted before `put` listens to it would
  // emit an error nobody handles. An abort stops the put, and the finally below closes the reader.
  const stream = await from.open(digest);
  try {
    await to.put(stream, digest, size, signal ? { signal } : {});
  } finally {
    // A put that failed before reading it all must not leave the source file open.
    stream.destroy();
  }
}
