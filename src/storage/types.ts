import type { Readable } from 'node:stream';
import type { RandomReadHandle } from './driver.js';

/**
 * Content-addressed blobs on top of a StorageDriver. Layout: `blobs/<alg>/<2 hex>/<hex>`.
 * Blobs are immutable once committed; a blob is either fully present or absent.
 */
export interface BlobStore {
  /** Size of a committed blob, or `null` when absent. */
  stat(digest: string): Promise<{ size: number } | null>;
  /** Reads a committed blob (optionally a byte range, `end` inclusive). Throws RegistryError BLOB_UNKNOWN. */
  open(digest: string, range?: { start: number; end: number }): Promise<Readable>;
  /** Opens a committed blob for positional reads (the fast download path). Throws RegistryError BLOB_UNKNOWN. */
  openForRead(digest: string): Promise<RandomReadHandle>;
  /** Reads a small committed blob whole (manifests). Throws RegistryError BLOB_UNKNOWN. */
  get(digest: string): Promise<Buffer>;
  /**
   * Stores `content` under its digest, verified against `expectedDigest` (sha256 or sha512) while
   * streaming; a mismatch throws RegistryError DIGEST_INVALID and nothing is published. With
   * `expectedSize`, a different length throws SIZE_INVALID. Atomic: temp file, hash, fsync, rename.
   */
  put(content: Readable | Buffer, expectedDigest: string, expectedSize?: number): Promise<{ digest: string; size: number }>;
  /** Deletes a blob (GC only). Missing blobs are not an error. */
  delete(digest: string): Promise<void>;
  /** Every committed digest (for GC), in no particular order. */
  list(): AsyncIterable<string>;
}

export interface UploadSession {
  id: string;
  repository: string;
  /** Bytes received so far. */
  size: number;
  startedAt: Date;
}

/**
 * Resumable upload sessions, persisted in the driver under `uploads/<id>/` so that they survive a
 * restart. Session ids are random UUIDs; callers must check `repository` matches the URL.
 */
export interface UploadStore {
  /**
   * Opens a session. With `owner` (a caller key) the session counts toward that owner's bound
   * of open sessions, kept across restarts; past it, RegistryError TOOMANYREQUESTS. A session
   * stops counting once completed, cancelled or purged.
   */
  create(repository: string, owner?: string): Promise<UploadSession>;
  /** Throws RegistryError BLOB_UPLOAD_UNKNOWN when there is no such session. */
  get(id: string): Promise<UploadSession>;
  /**
   * Appends a chunk. When `startOffset` is given it must equal the session's size, else
   * RegistryError RANGE_INVALID (416) is thrown with a `Range` header of what the session holds.
   * Returns the session after the append.
   */
  append(id: string, chunk: Readable, startOffset?: number): Promise<UploadSession>;
  /**
   * Completes the upload: appends `finalChunk` if given, verifies the whole content against
   * `digest` (DIGEST_INVALID on mismatch, and the session is kept so a client may retry),
   * commits it to the BlobStore and deletes the session. Returns the committed size.
   */
  complete(id: string, digest: string, finalChunk?: Readable): Promise<{ digest: string; size: number }>;
  /** Deletes a session and its data. Throws BLOB_UPLOAD_UNKNOWN when absent. */
  cancel(id: string): Promise<void>;
  /**
   * Deletes sessions not touched for `olderThanMs` (stale temporary data never blocks anything;
   * this frees space and the owner's place under its bound). A session with a call in flight is kept.
   */
  purgeStale(olderThanMs: number): Promise<number>;
}
