import type { Readable } from 'node:stream';
import { InvalidPathError } from './errors.js';

/** What every driver call may take. */
export interface CallOptions {
  /**
   * Cancels the call (undici's habit): a call whose signal has aborted rejects with the signal's
   * reason, before it touches the medium or at the next point the medium can stop (between the
   * entries of a list or delete, between the chunks of a read or write). A change the method
   * promises to make atomically (a move, a putContent) is made whole or not at all. Listeners a
   * call adds to the signal are removed when it ends (for a reader: when its stream ends).
   */
  signal?: AbortSignal;
}

export interface ReadOptions extends CallOptions {
  /** The first byte (inclusive; 0 by default). */
  offset?: number;
  /** The last byte (inclusive; the end of the file by default). */
  end?: number;
}

export interface WriteOptions extends CallOptions {
  /** Continue an existing file (creating it if absent) instead of truncating it. */
  append?: boolean;
}

/**
 * A small, path-keyed storage driver, after distribution's storagedriver. Paths are relative,
 * `/`-separated, never start with `/` and never contain `.` or `..` segments (callers build them;
 * anything else is InvalidPathError). Content addressing lives one level up, in `BlobStore`;
 * drivers know nothing about digests.
 *
 * A driver does its medium only. Drivers are made by name with `createStorageDriver`
 * (driver-factory.ts), which wraps each in the one checking wrapper (checked-driver.ts): it
 * checks the paths, turns the medium's own errors into the storage errors below and honours
 * `signal` before every call, so no driver repeats that.
 *
 * Errors: every method that names a missing path throws PathNotFoundError unless it says
 * otherwise; InvalidPathError for a path outside the rules; StorageFailureError when the medium
 * refuses the operation (full, read-only, failing), whatever the driver; the signal's reason
 * when the call was cancelled.
 */
export interface StorageDriver {
  /** A short name for logs and metrics (`filesystem`, `memory`, …). */
  readonly name: string;

  /** Size and modification time of a file, or `null` when there is no file at `path`. */
  stat(path: string, options?: CallOptions): Promise<FileInfo | null>;

  /** The whole content of a small file. Throws PathNotFoundError. */
  getContent(path: string, options?: CallOptions): Promise<Buffer>;

  /** Replaces the content of a small file atomically: readers see the old or the new content, never a mix. */
  putContent(path: string, content: Uint8Array, options?: CallOptions): Promise<void>;

  /**
   * A stream of the file's bytes from `offset` to `end` (both inclusive; default: the whole file).
   * Throws PathNotFoundError; a range beyond the file yields what exists (callers check ranges
   * first). An abort of `signal` destroys the stream with the signal's reason.
   */
  reader(path: string, options?: ReadOptions): Promise<Readable>;

  /**
   * Opens a file for positional reads into caller-owned buffers. Serving large blobs this way
   * lets the HTTP layer reuse a few buffers instead of allocating one per chunk (which costs
   * about 40% of download throughput in GC). Throws PathNotFoundError.
   */
  openForRead(path: string, options?: CallOptions): Promise<RandomReadHandle>;

  /**
   * A writer for a file. With `append` it continues an existing file (creating it if absent);
   * without, it truncates. Bytes are not guaranteed durable until `commit()` resolves. Once
   * `signal` aborts, the writer's writes and commit reject with its reason (the caller cancels it).
   */
  writer(path: string, options?: WriteOptions): Promise<FileWriter>;

  /**
   * Moves a file, replacing any file at `to`, atomically where the medium allows (rename on a
   * filesystem). Throws PathNotFoundError when `from` is missing.
   */
  move(from: string, to: string, options?: CallOptions): Promise<void>;

  /** Deletes a file or a whole folder (recursively). Missing paths are not an error. */
  delete(path: string, options?: CallOptions): Promise<void>;

  /** Names (not full paths) of the direct children of a folder, sorted; `[]` when the folder is absent. */
  list(path: string, options?: CallOptions): Promise<string[]>;

  /**
   * Cuts a file back to its first `size` bytes (a file shorter than that is left alone) and makes
   * the cut durable: a failed append is undone this way. Throws PathNotFoundError.
   */
  truncate(path: string, size: number, options?: CallOptions): Promise<void>;
}

/** An open file read at explicit positions. Exactly one `close()` ends it. */
export interface RandomReadHandle {
  /** The file's size when it was opened. */
  readonly size: number;
  /** Reads up to `length` bytes at `position` into `target` (from offset 0); resolves with the count read (0 at the end). */
  read(target: Uint8Array, position: number, length: number): Promise<number>;
  close(): Promise<void>;
}

export interface FileInfo {
  size: number;
  /** On the node's clock (the driver's `clock` option), whatever clock the medium stamps files with. */
  modifiedAt: Date;
  isDirectory: boolean;
}

/** An open file being written. Exactly one of `commit` or `cancel` ends it. */
export interface FileWriter {
  /** Bytes in the file so far, including what existed before an append. */
  readonly size: number;
  /** Appends a chunk; resolves when the driver has taken it (back-pressure). */
  write(chunk: Uint8Array): Promise<void>;
  /** Appends several chunks in order with as few I/O calls as the medium allows (writev on a filesystem). */
  writev(chunks: readonly Uint8Array[]): Promise<void>;
  /** Makes everything written durable (fsync on a filesystem) and closes the writer. */
  commit(): Promise<void>;
  /** Closes the writer, keeping what was written so far but without a durability promise. */
  close(): Promise<void>;
  /** Closes the writer and deletes the file. */
  cancel(): Promise<void>;
}

/** Throws InvalidPathError unless `path` is a clean relative path (the checking wrapper runs it before every driver call). */
export function assertCleanPath(path: string): void {
  if (path === '' || path.startsWith('/') || path.endsWith('/') || path.includes('\\') || path.includes('\0')) {
    throw new InvalidPathError(path);
  }
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') throw new InvalidPathError(path);
  }
}
