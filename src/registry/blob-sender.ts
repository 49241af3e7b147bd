import type { ServerResponse } from 'node:http';
import type { RandomReadHandle } from '../storage/driver.js';

/** Size of one read and one socket write while sending a blob. */
const CHUNK_BYTES = 1024 * 1024;
/** Free buffers kept for reuse; beyond this, buffers returned are left to the GC. */
const MAX_FREE_BUFFERS = 32;

/**
 * Sends blob bytes from a file to a response with two reused buffers per download: one being
 * written to the socket while the next is read from disk. Compared with piping a file stream
 * (a fresh 1 MiB Buffer per chunk) this removes nearly all GC work from downloads, which on
 * this design roughly doubles single-stream throughput and keeps memory flat under many
 * concurrent downloads (bench/: blob GET MB/s, peak RSS).
 *
 * Buffers are reused only after the socket's write callback, when the kernel has the bytes.
 */
export class BlobSender {
  private readonly free: Buffer[] = [];

  /**
   * Writes bytes `start`..`end` (inclusive) of `file` to `response`, then ends it, and always
   * closes `file`. Resolves false when the client went away or a read failed midway (the
   * response is then destroyed so the client sees a short body, never a wrong one).
   */
  async send(file: RandomReadHandle, response: ServerResponse, start: number, end: number): Promise<boolean> {
    const total = end - start + 1;
    const bufferSize = Math.min(CHUNK_BYTES, total);
    const buffers = [this.take(bufferSize), this.take(bufferSize)];
    const written: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
    let position = start;
    let slot = 0;
    try {
      while (position <= end) {
        await written[slot];
        if (response.destroyed) return false;
        const buffer = buffers[slot]!;
        const count = await file.read(buffer, position, Math.min(buffer.length, end - position + 1));
        if (count === 0) throw new Error(`blob file ended at ${position}, before ${end + 1}`);
        position += count;
        written[slot] = new Promise<void>((resolve, reject) => {
          response.write(buffer.subarray(0, count), (err) => (err ? reject(err) : resolve()));
        });
        slot ^= 1;
      }
      await Promise.all(written);
      response.end();
      return true;
    } catch {
      // Wait for both writes to settle before the buffers may be handed out again.
      await Promise.allSettled(written);
      response.destroy();
      return false;
    } finally {
      await file.close();
      for (const buffer of buffers) this.give(buffer);
    }
  }

  private take(size: number): Buffer {
    if (size === CHUNK_BYTES) {
      const reused = this.free.pop();
      if (reused) return reused;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  private give(buffer: Buffer): void {
    if (buffer.length === CHUNK_BYTES && this.free.length < MAX_FREE_BUFFERS) this.free.push(buffer);
  }
}
