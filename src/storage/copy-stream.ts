import type { Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FileWriter } from './driver.js';

/** Thrown by `copyInto` when the source holds more than `maxBytes`; callers map it to their own error. */
export class SizeLimitExceededError extends Error {
  readonly code = 'SIZE_LIMIT_EXCEEDED';
  constructor(readonly limit: number) {
    super(`content exceeds ${limit} bytes`);
    this.name = 'SizeLimitExceededError';
  }
}

/**
 * Streams `source` into `writer`, feeding every chunk to `hash` (if any) as it passes, and returns the
 * number of bytes copied. Memory stays flat: the next chunk is only pulled once the writer has
 * taken the previous one, so a slow disk slows the socket instead of filling the heap.
 *
 * With `maxBytes`, the copy stops as soon as the source goes past it (SizeLimitExceededError), so a
 * client that lies about its length cannot fill the disk. On an early stop the source is left
 * undestroyed: for an HTTP request that lets the server still send its error response.
 */
export async function copyInto(
  source: Readable | Uint8Array,
  writer: FileWriter,
  hash: Hash | undefined,
  maxBytes?: number,
): Promise<number> {
  let copied = 0;
  const take = async (chunk: Uint8Array): Promise<void> => {
    if (chunk.length === 0) return;
    if (maxBytes !== undefined && copied + chunk.length > maxBytes) throw new SizeLimitExceededError(maxBytes);
    await writer.write(chunk);
    // Hash only what the writer accepted, so hash and file never disagree after a failed write.
    hash?.update(chunk);
    copied += chunk.length;
  };
  if (source instanceof Uint8Array) {
    await take(source);
    return copied;
  }
  const chunks = source.iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array | string>;
  let finished = false;
  try {
    for (;;) {
      const next = await chunks.next();
      if (next.done) break;
      await take(typeof next.value === 'string' ? Buffer.from(next.value) : next.value);
    }
    finished = true;
  } finally {
    // Detach our listeners on an early stop; with destroyOnReturn false this does not destroy the source.
    if (!finished) await chunks.return?.();
  }
  return copied;
}
