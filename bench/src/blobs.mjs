// Random test data: small blobs in memory, large blobs as pre-generated files
// whose sha256 is computed while they are written (so push timing excludes hashing).
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sha256 } from './oci.mjs';
import { MiB } from './util.mjs';

export function randomBlob(size) {
  const body = crypto.randomBytes(size);
  return { digest: sha256(body), size, body };
}

/** Write `size` random bytes to `file` in 4 MiB chunks; return { file, size, digest }. */
export function randomBlobFile(file, size) {
  const hash = crypto.createHash('sha256');
  const chunk = Buffer.allocUnsafe(4 * MiB);
  const fd = fs.openSync(file, 'w');
  try {
    for (let left = size; left > 0; ) {
      const n = Math.min(left, chunk.length);
      const part = chunk.subarray(0, n);
      crypto.randomFillSync(part);
      hash.update(part);
      fs.writeSync(fd, part);
      left -= n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { file: path.resolve(file), size, digest: `sha256:${hash.digest('hex')}` };
}

/** A fresh read stream of a blob file, for a PUT body. */
export const openBlob = (blob) => fs.createReadStream(blob.file, { highWaterMark: MiB });
