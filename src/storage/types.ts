import type { Readable } from 'node:stream';
import type { CallOptions, RandomReadHandle } from './driver.js';

/**
 * Content-addressed blobs on top of a StorageDriver. Layout: `blobs/<alg>/<2 hex>/<hex>`.
 * Blobs are immutable once committed; a blob is either fully present or absent.
 *
 * Errors (storage/errors.ts; none carries HTTP): DIGEST_INVALID (a RegistryError of oci/) for a
 * malformed digest; the ones each method names; StorageFailureError when the medium refuses; the
 * signal's reason when a call is cancelled (`options.signal`, as for the driver).
 */
export interface BlobStore {
  /** Size of a committed blob, or `null` when absent. */
  stat(digest: string, options?: CallOptions): Promise<{ size: number } | null>;
  /** Streams a committed blob. Throws BlobUnknownError (BLOB_UNKNOWN). */
  open(digest: string, options?: CallOptions): Promise<Readable>;
  /** Opens a committed blob for positional reads (the fast download path; ranges are read from it). Throws BlobUnknownError. */
  openForRead(digest: string, options?: CallOptions): Promise<RandomReadHandle>;
  /** Reads a small committed blob whole (manifests). Throws BlobUnknownError. */
  get(digest: string, options?: CallOptions): Promise<Buffer>;
  /**
   * Stores `content` under its digest, verified against `expectedDigest` (sha256 or sha512) while
   * streaming; a mismatch throws DigestMismatchError (DIGEST_INVALID) and nothing is published.
   * With `expectedSize`, a different length throws SizeMismatchError (SIZE_INVALID). Atomic:
   * temp file, hash, fsync, rename.
   */
  put(content: Readable | Buffer, expectedDigest: string, expectedSize?: number, options?: CallOptions): Promise<{ digest: string; size: number }>;
  /** Deletes a blob (GC only). Missing blobs are not an error. */
  delete(digest: string, options?: CallOptions): Promise<void>;
  /** Every committed digest (for GC), in no particular order. */
  list(options?: CallOptions): AsyncIterable<string>;
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
 * Errors as for BlobStore, plus the ones each method names.
 */
export interface UploadStore {
  /**
   * Opens a session. With `owner` (a caller key) the session counts toward that owner's bound
   * of open sessions, kept across restarts; past it, UploadLimitError (TOOMANYREQUESTS). A
   * session stops counting once completed, cancelled or purged.
   */
  create(repository: string, owner?: string, options?: CallOptions): Promise<UploadSession>;
  /** Throws UploadUnknownError (BLOB_UPLOAD_UNKNOWN) when there is no such session. */
  get(id: string, options?: CallOptions): Promise<UploadSession>;
  /**
   * Appends a chunk. When `startOffset` is given it must equal the session's size, else
   * UploadRangeError (RANGE_INVALID), which carries what the session holds. Returns the session
   * after the append; a failed append keeps none of its bytes.
   */
  append(id: string, chunk: Readable, startOffset?: number, options?: CallOptions): Promise<UploadSession>;
  /**
   * Completes the upload: appends `finalChunk` if given, verifies the whole content against
   * `digest` (DigestMismatchError on mismatch, and the session is kept so a client may retry),
   * commits it to the BlobStore and deletes the session. Returns the committed size.
   */
  complete(id: string, digest: string, finalChunk?: Readable, options?: CallOptions): Promise<{ digest: string; size: number }>;
  /** Deletes a session and its data. Throws UploadUnknownError when absent. */
  cancel(id: string, options?: CallOptions): Promise<void>;
  /**
   * Deletes sessions not touched for `olderThanMs` (stale temporary data never blocks anything;
   * this frees space and the owner's place under its bound). A session with a call in flight is
   * kept. A cancelled purge stops between sessions.
   */
  purgeStale(olderThanMs: number, options?: CallOptions): Promise<number>;
  /**
   * purgeStale with the bytes freed (the sessions' files); with `dryRun`, only what would go
   * (garbage collection's report).
   */
  sweepAbandoned(olderThanMs: number, options?: CallOptions & { dryRun?: boolean }): Promise<{ count: number; bytes: number }>;
}
