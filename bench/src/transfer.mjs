// Streaming transfers for the MB/s figures: the bench process itself reads or
// writes the bytes with undici, discarding downloaded data.
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';
import { openBlob } from './blobs.mjs';
import { pushBlob } from './oci.mjs';
import { assertLoopback } from './util.mjs';

/** One client = one connection, so concurrent clients use separate sockets. */
export function newClient(base) {
  assertLoopback(base);
  return new Client(base, { pipelining: 1, bodyTimeout: 120_000, headersTimeout: 60_000 });
}

/** GET a blob fully through `client`, discarding bytes. Returns { bytes, ms }. */
export async function downloadBlob(client, repo, blob) {
  const t0 = performance.now();
  const res = await client.request({ method: 'GET', path: `/v2/${repo}/blobs/${blob.digest}` });
  let bytes = 0;
  for await (const chunk of res.body) bytes += chunk.length;
  const ms = performance.now() - t0;
  if (res.statusCode !== 200) throw new Error(`blob GET status ${res.statusCode}`);
  if (bytes !== blob.size) throw new Error(`blob GET returned ${bytes} bytes, want ${blob.size}`);
  return { bytes, ms };
}

/** Monolithic push (POST + one PUT streamed from the blob's file). Returns { bytes, ms }. */
export async function uploadBlob(base, repo, blob, authHeaders = {}) {
  const client = newClient(base);
  try {
    const t0 = performance.now();
    await pushBlob(base, repo, { digest: blob.digest, size: blob.size, body: openBlob(blob) }, client, authHeaders);
    return { bytes: blob.size, ms: performance.now() - t0 };
  } finally {
    await client.close();
  }
}
