import { addAbortSignal, type Readable } from 'node:stream';
import {
  assertCleanPath, type CallOptions, type FileInfo, type FileWriter, type RandomReadHandle, type ReadOptions, type StorageDriver, type WriteOptions,
} from './driver.js';
import { asStorageFailure, errorCode, PathNotFoundError } from './errors.js';

/** A medium's own codes for "nothing there" (a filesystem's ENOENT, and ENOTDIR for a file where a folder was expected). */
const MISSING: ReadonlySet<string> = new Set(['ENOENT', 'ENOTDIR']);

/**
 * A medium's error as a storage error: "nothing there" becomes PathNotFoundError for `path`, a
 * full, read-only or failing medium StorageFailureError; storage errors, cancellations and
 * anything else pass unchanged.
 */
export function storageErrorOf(err: unknown, path: string): unknown {
  if (err instanceof PathNotFoundError) return err;
  const code = errorCode(err);
  if (code !== undefined && MISSING.has(code)) return new PathNotFoundError(path);
  return asStorageFailure(err);
}

/**
 * The one wrapper every storage driver is used through (`createStorageDriver` applies it), so
 * that a driver does its medium only. Before every call it checks the paths (InvalidPathError)
 * and the signal (a cancelled call rejects with its reason without touching the medium); after,
 * it turns the medium's errors into storage errors (`storageErrorOf`), on the writers and read
 * handles it returns too. A reader's stream is tied to the signal (destroyed when it aborts; the
 * listener goes when the stream ends). `#call` is also where per-call metrics will be counted.
 *
 * A read stream that fails midway (a disk error after the first bytes) still reports the
 * medium's own error: mapping it would cost a transform on every chunk of every download, and
 * the HTTP edge recognises those errors too.
 */
export class CheckedDriver implements StorageDriver {
  readonly name: string;

  constructor(readonly medium: StorageDriver) {
    this.name = medium.name;
  }

  stat(path: string, options?: CallOptions): Promise<FileInfo | null> {
    return this.#call(options, path, () => this.medium.stat(path, options));
  }

  getContent(path: string, options?: CallOptions): Promise<Buffer> {
    return this.#call(options, path, () => this.medium.getContent(path, options));
  }

  putContent(path: string, content: Uint8Array, options?: CallOptions): Promise<void> {
    return this.#call(options, path, () => this.medium.putContent(path, content, options));
  }

  async reader(path: string, options: ReadOptions = {}): Promise<Readable> {
    const stream = await this.#call(options, path, () => this.medium.reader(path, options));
    return options.signal ? addAbortSignal(options.signal, stream) : stream;
  }

  async openForRead(path: string, options?: CallOptions): Promise<RandomReadHandle> {
    const handle = await this.#call(options, path, () => this.medium.openForRead(path, options));
    return {
      size: handle.size,
      read: (target, position, length) => mapped(path, () => handle.read(target, position, length)),
      close: () => mapped(path, () => handle.close()),
    };
  }

  async writer(path: string, options: WriteOptions = {}): Promise<FileWriter> {
    const writer = await this.#call(options, path, () => this.medium.writer(path, options));
    return new CheckedWriter(writer, path, options.signal);
  }

  async move(from: string, to: string, options?: CallOptions): Promise<void> {
    assertCleanPath(to);
    // "Nothing there" is about `from`: the target's folders are the driver's to create.
    return this.#call(options, from, () => this.medium.move(from, to, options));
  }

  delete(path: string, options?: CallOptions): Promise<void> {
    return this.#call(options, path, () => this.medium.delete(path, options));
  }

  list(path: string, options?: CallOptions): Promise<string[]> {
    return this.#call(options, path, () => this.medium.list(path, options));
  }

  truncate(path: string, size: number, options?: CallOptions): Promise<void> {
    return this.#call(options, path, () => this.medium.truncate(path, size, options));
  }

  /** Every call passes here: the path rules, the signal, the error mapping (and later metrics). */
  async #call<T>(options: CallOptions | undefined, path: string, run: () => Promise<T>): Promise<T> {
    assertCleanPath(path);
    options?.signal?.throwIfAborted();
    return mapped(path, run);
  }
}

async function mapped<T>(path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw storageErrorOf(err, path);
  }
}

/**
 * A driver's writer with the same mapping, whose writes and commit reject once the signal has
 * aborted. `close` and `cancel` always run: they are how a caller cleans up after an abort.
 */
class CheckedWriter implements FileWriter {
  constructor(
    private readonly inner: FileWriter,
    private readonly path: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  get size(): number {
    return this.inner.size;
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.#writing(() => this.inner.write(chunk));
  }

  writev(chunks: readonly Uint8Array[]): Promise<void> {
    return this.#writing(() => this.inner.writev(chunks));
  }

  commit(): Promise<void> {
    return this.#writing(() => this.inner.commit());
  }

  close(): Promise<void> {
    return mapped(this.path, () => this.inner.close());
  }

  cancel(): Promise<void> {
    return mapped(this.path, () => this.inner.cancel());
  }

  async #writing(run: () => Promise<void>): Promise<void> {
    this.signal?.throwIfAborted();
    return mapped(this.path, run);
  }
}
