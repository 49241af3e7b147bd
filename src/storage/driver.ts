import type { Readable } from 'node:stream';

/**
 * A small, path-keyed storage driver, after distribution's storagedriver. Paths are relative,
 * `/`-separated, never start with `/` and never contain `.` or `..` segments (callers build them;
 * drivers reject anything else with `InvalidPathError`). Content addressing lives one level up,
 * in `BlobStore`; drivers know nothing about digests.
 *
 * Every method that names a missing path throws `PathNotFoundError` unless it says otherwise.
 */
export interface StorageDriver {
  /** A short name for logs and metrics (`filesystem`, `memory`, …). */
  readonly name: string;

  /** Size and modification time of a file, or `null` when there is no file at `path`. */
  stat(path: string): Promise<FileInfo | null>;

  /** The whole content of a small file. Throws PathNotFoundError. */
  getContent(path: string): Promise<Buffer>;

  /** Replaces the content of a small file atomically: readers see the old or the new content, never a mix. */
  putContent(path: string, content: Uint8Array): Promise<void>;

  /**
   * A stream of the file's bytes from `offset` (inclusive) to `end` (inclusive; default: end of file).
   * Throws PathNotFoundError; a range beyond the file yields what exists (callers check ranges first).
   */
  reader(path: string, offset?: number, end?: number): Promise<Readable>;

  /**
   * Opens a file for positional reads into caller-owned buffers. Serving large blobs this way
   * lets the HTTP layer reuse a few buffers instead of allocating one per chunk (which costs
   * about 40% of download throughput in GC). Throws PathNotFoundError.
   */
  openForRead(path: string): Promise<RandomReadHandle>;

  /**
   * A writer for a file. With `append` it continues an existing file (creating it if absent);
   * without, it truncates. Bytes are not guaranteed durable until `commit()` resolves.
   */
  writer(path: string, options?: { append?: boolean }): Promise<FileWriter>;

  /**
   * Moves a file, replacing any file at `to`, atomically where the medium allows (rename on a
   * filesystem). Throws PathNotFoundError when `from` is missing.
   */
  move(from: string, to: string): Promise<void>;

  /** Deletes a file or a whole folder (recursively). Missing paths are not an error. */
  delete(path: string): Promise<void>;

  /** Names (not full paths) of the direct children of a folder, sorted; `[]` when the folder is absent. */
  list(path: string): Promise<string[]>;

  /**
   * Cuts a file back to its first `size` bytes (a file shorter than that is left alone) and makes
   * the cut durable: a failed append is undone this way. Throws PathNotFoundError.
   */
  truncate(path: string, size: number): Promise<void>;
}

/*
 * Errors: besides PathNotFoundError and InvalidPathError, every method throws StorageFailureError
 * when the medium refuses the operation (full, read-only, failing), whatever the driver.
 */

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

export class PathNotFoundError extends Error {
  readonly code = 'PATH_NOT_FOUND';
  constructor(readonly path: string) {
    super(`path not found: ${path}`);
    this.name = 'PathNotFoundError';
  }
}

export class InvalidPathError extends Error {
  readonly code = 'PATH_INVALID';
  constructor(readonly path: string) {
    super(`invalid storage path: ${path}`);
    this.name = 'InvalidPathError';
  }
}

/** Throws InvalidPathError unless `path` is a clean relative path (the check every driver runs first). */
export function assertCleanPath(path: string): void {
  if (path === '' || path.startsWith('/') || path.endsWith('/') || path.includes('\\') || path.includes('\0')) {
    throw new InvalidPathError(path);
  }
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') throw new InvalidPathError(path);
  }
}

/** How the medium failed: out of space, mounted read-only, or an I/O error. */
export type StorageFailureKind = 'full' | 'read-only' | 'io';

/** The operating system's codes for each kind of failure; anything else is not a storage failure. */
const FAILURE_KINDS: Readonly<Record<string, StorageFailureKind>> = {
  ENOSPC: 'full',
  EDQUOT: 'full',
  EROFS: 'read-only',
  EIO: 'io',
};

/**
 * The medium refused a read or a write: it is full (ENOSPC, EDQUOT), read-only (EROFS) or failing
 * (EIO). `kind` is what callers act on (the HTTP edge maps it to STORAGE_FULL and friends);
 * `code` keeps the operating system's code, so what reports disk errors by code (the sync
 * agent's DiskError status) sees the same code as before.
 */
export class StorageFailureError extends Error {
  readonly kind: StorageFailureKind;
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageFailureError';
    this.code = code;
    this.kind = FAILURE_KINDS[code] ?? 'io';
  }
}

/** An operating-system error of a full, read-only or failing medium as a StorageFailureError; anything else unchanged. */
export function asStorageFailure(err: unknown): unknown {
  if (err instanceof StorageFailureError) return err;
  const code = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  if (code === undefined || FAILURE_KINDS[code] === undefined) return err;
  return new StorageFailureError(code, err instanceof Error ? err.message : `storage failed: ${code}`, { cause: err });
}
