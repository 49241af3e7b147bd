import { randomUUID, type Hash } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import type { Readable } from 'node:stream';
import { createDigester, parseDigest, type DigestAlgorithm } from '../oci/digest.js';
import type { AdoptingBlobStore } from './blob-store.js';
import { copyInto } from './copy-stream.js';
import type { CallOptions, FileWriter, StorageDriver } from './driver.js';
import { DigestMismatchError, PathNotFoundError, UploadLimitError, UploadRangeError, UploadUnknownError } from './errors.js';
import type { UploadSession, UploadStore } from './types.js';

/** Only ids we minted (lower-case v4-style UUIDs) are ever turned into a path. */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The running hash of a session's data as appended in this process, so completing needs no re-read. */
interface HashState {
  algorithm: DigestAlgorithm;
  hash: Hash;
  size: number;
}

/** What `uploads/<id>/info.json` holds. */
interface SessionInfo {
  repository: string;
  startedAt: string;
  /** Who opened it (a caller key), for the per-caller bound; absent for sessions made before owners were kept. */
  owner?: string;
}

/** Open sessions one caller may hold at once, unless the store is told otherwise. */
export const DEFAULT_SESSIONS_PER_OWNER = 1000;

export interface UploadStoreOptions {
  /** Open sessions per owner (DEFAULT_SESSIONS_PER_OWNER). */
  maxSessionsPerOwner?: number;
  /** The node's clock: session start times and purge cutoffs (the system clock by default). */
  clock?: Clock;
}

/**
 * Upload sessions in a StorageDriver: `uploads/<id>/data` (the bytes so far) and
 * `uploads/<id>/info.json` (repository, start time). The session size is the data file's size, so
 * sessions survive a restart. Completing moves the data file into the blob store (no second copy),
 * so `blobs` must sit on the same driver.
 *
 * Calls on one session are serialized within this process; the same session used from two
 * processes at once is not supported (the HTTP layer routes a session to one node).
 */
export class DriverUploadStore implements UploadStore {
  /** Running sha256 per session (the algorithm nearly every client uses); sha512 uploads re-hash on complete. */
  readonly #hashes = new Map<string, HashState>();
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #maxPerOwner: number;
  readonly #clock: Clock;
  /** Owner of each open session that has one, and how many each owner holds (loaded from disk once). */
  readonly #owners = new Map<string, string>();
  readonly #openPerOwner = new Map<string, number>();
  #ownersLoaded: Promise<void> | null = null;

  constructor(
    readonly driver: StorageDriver,
    readonly blobs: AdoptingBlobStore,
    options: UploadStoreOptions = {},
  ) {
    this.#maxPerOwner = options.maxSessionsPerOwner ?? DEFAULT_SESSIONS_PER_OWNER;
    this.#clock = options.clock ?? systemClock;
  }

  async create(repository: string, owner?: string, options?: CallOptions): Promise<UploadSession> {
    const id = randomUUID();
    const startedAt = new Date(this.#clock.now());
    if (owner !== undefined) {
      await this.#loadOwners();
      // Counted and claimed with no await in between, so concurrent creates cannot overshoot.
      const open = this.#openPerOwner.get(owner) ?? 0;
      if (open >= this.#maxPerOwner) throw new UploadLimitError(open, this.#maxPerOwner);
      this.#own(id, owner);
    }
    // Data first, info last: a session exists once info.json does, and then its data file does too.
    // Under the session's lock, so purgeStale leaves a session being created alone.
    const info: SessionInfo = { repository, startedAt: startedAt.toISOString(), ...(owner !== undefined ? { owner } : {}) };
    await this.#locked(id, async () => {
      try {
        await this.driver.putContent(dataPath(id), new Uint8Array(0), options);
        await this.driver.putContent(infoPath(id), Buffer.from(JSON.stringify(info)), options);
      } catch (err) {
        // A session that could not be created (a full disk) leaves nothing behind.
        this.#disown(id);
        await this.driver.delete(sessionDir(id)).catch(() => undefined);
        throw err;
      }
    });
    this.#hashes.set(id, { algorithm: 'sha256', hash: createDigester('sha256'), size: 0 });
    return { id, repository, size: 0, startedAt };
  }

  async get(id: string, options?: CallOptions): Promise<UploadSession> {
    return this.#load(id, options);
  }

  async append(id: string, chunk: Readable, startOffset?: number, options?: CallOptions): Promise<UploadSession> {
    checkId(id);
    return this.#locked(id, async () => {
      const session = await this.#load(id, options);
      if (startOffset !== undefined && startOffset !== session.size) {
        throw new UploadRangeError(`chunk starts at ${startOffset} but the upload holds ${session.size} bytes`,
          { id, repository: session.repository, size: session.size }, { size: session.size, startOffset });
      }
      const state = this.#cachedState(id, session.size, 'sha256');
      // Without a valid running hash (e.g. after a restart) we do not hash now; complete() re-reads once.
      this.#hashes.delete(id);
      // The chunk is hashed into a copy, so a failed append can go back to the hash before it.
      const hash = state?.hash.copy();
      const writer = await this.driver.writer(dataPath(id), { ...options, append: true });
      try {
        const copied = await copyInto(chunk, writer, hash);
        // Fsync per chunk: the size we report back (Range) is then what a crash would leave too.
        await writer.commit();
        if (state && hash) this.#hashes.set(id, { algorithm: state.algorithm, hash, size: state.size + copied });
        return { ...session, size: writer.size };
      } catch (err) {
        await this.#undoAppend(id, session.size, state, writer);
        throw err;
      }
    });
  }

  /**
   * A failed append (a full disk, a client gone mid-chunk) keeps none of its bytes: the data goes
   * back to the size the session had, so the `Range` a client then reads is where its retry must
   * start. If even that fails, the file keeps what it has and is the session's size from then on
   * (complete() re-hashes it).
   */
  async #undoAppend(id: string, size: number, state: HashState | undefined, writer: FileWriter): Promise<void> {
    try {
      await writer.close();
      await this.driver.truncate(dataPath(id), size);
      if (state && state.size === size) this.#hashes.set(id, state);
    } catch {
      this.#hashes.delete(id);
    }
  }

  async complete(id: string, digest: string, finalChunk?: Readable, options?: CallOptions): Promise<{ digest: string; size: number }> {
    checkId(id);
    const parsed = parseDigest(digest);
    return this.#locked(id, async () => {
      const session = await this.#load(id, options);
      const path = dataPath(id);
      // Common paths need no re-read: an empty session (monolithic upload) starts a fresh hash of
      // the right algorithm, and PATCH-then-PUT in this process has the running hash.
      const before = this.#cachedState(id, session.size, parsed.algorithm) ?? (await this.#rehash(path, parsed.algorithm, options));
      this.#hashes.delete(id);
      const state: HashState = { ...before, hash: before.hash.copy() };
      const writer = await this.driver.writer(path, { ...options, append: true });
      try {
        if (writer.size !== state.size) throw new Error(`upload ${id} changed while it was being completed`);
        if (finalChunk) state.size += await copyInto(finalChunk, writer, state.hash);
        // Makes the data durable before the rename publishes it (cheap when appends already synced).
        await writer.commit();
      } catch (err) {
        // As for a PATCH: a final chunk that did not make it leaves the session as it was.
        await this.#undoAppend(id, session.size, before, writer);
        throw err;
      }
      // copy(): the session stays usable after a mismatch, so the running hash must not be finalized.
      const actual = `${parsed.algorithm}:${state.hash.copy().digest('hex')}`;
      if (actual !== parsed.digest) {
        this.#hashes.set(id, state);
        throw new DigestMismatchError(parsed.digest, actual, state.size);
      }
      const result = await this.blobs.adopt(path, parsed.digest, state.size, options);
      await this.driver.delete(sessionDir(id));
      this.#disown(id);
      return result;
    });
  }

  async cancel(id: string, options?: CallOptions): Promise<void> {
    checkId(id);
    await this.#locked(id, async () => {
      if (!(await this.driver.stat(infoPath(id), options))) throw new UploadUnknownError(id);
      this.#hashes.delete(id);
      await this.driver.delete(sessionDir(id), options);
      this.#disown(id);
    });
  }

  async purgeStale(olderThanMs: number, options?: CallOptions): Promise<number> {
    return (await this.sweepAbandoned(olderThanMs, options)).count;
  }

  async sweepAbandoned(olderThanMs: number, options: CallOptions & { dryRun?: boolean } = {}): Promise<{ count: number; bytes: number }> {
    const cutoff = this.#clock.now() - olderThanMs;
    const swept = { count: 0, bytes: 0 };
    const names = await this.driver.list('uploads', options);
    // Sessions gone from the disk behind our back no longer count toward their owner's bound.
    const present = new Set(names);
    for (const id of [...this.#owners.keys()]) {
      if (present.has(id)) continue;
      // Looked at again after the listing: a session created meanwhile holds its lock or has its info file.
      if ((await this.driver.stat(infoPath(id), options)) === null && !this.#locks.has(id)) this.#disown(id);
    }
    for (const name of names) {
      // A session with a call in flight is in use, however old its files look.
      if (this.#locks.has(name)) continue;
      const old = await this.#staleSize(name, cutoff, options);
      if (old === null) continue;
      if (!options.dryRun) {
        // Under the session's lock, and looked at again: a call that began since the first look
        // runs first and leaves it young; one that comes after the delete finds no session.
        const size = SESSION_ID.test(name) ? await this.#locked(name, () => this.#deleteIfStale(name, cutoff, options)) : await this.#deleteIfStale(name, cutoff, options);
        if (size === null) continue;
        swept.count += 1;
        swept.bytes += size;
        continue;
      }
      swept.count += 1;
      swept.bytes += old;
    }
    return swept;
  }

  /** The bytes of session folder `name` when nothing in it was touched since `cutoff`, else null. */
  async #staleSize(name: string, cutoff: number, options: CallOptions): Promise<number | null> {
    const dir = `uploads/${name}`;
    const stats = SESSION_ID.test(name)
      ? [await this.driver.stat(`${dir}/data`, options), await this.driver.stat(`${dir}/info.json`, options)]
      : [];
    // Half-created sessions and stray entries fall back to the folder's own time.
    const files = stats.filter((s) => s !== null);
    const times = files.map((s) => s.modifiedAt.getTime());
    if (times.length === 0) {
      const folder = await this.driver.stat(dir, options);
      // Gone meanwhile (completed, cancelled): nothing to sweep.
      if (!folder) return null;
      times.push(folder.modifiedAt.getTime());
    }
    if (Math.max(...times) >= cutoff) return null;
    return files.reduce((sum, f) => sum + f.size, 0);
  }

  async #deleteIfStale(name: string, cutoff: number, options: CallOptions): Promise<number | null> {
    const size = await this.#staleSize(name, cutoff, options);
    if (size === null) return null;
    this.#hashes.delete(name);
    await this.driver.delete(`uploads/${name}`, options);
    this.#disown(name);
    return size;
  }

  /** Open sessions held by `owner` (the per-caller bound counts these). */
  async openSessions(owner: string): Promise<number> {
    await this.#loadOwners();
    return this.#openPerOwner.get(owner) ?? 0;
  }

  /** Reads the owners of the sessions on disk, once: the bound holds across restarts. */
  async #loadOwners(): Promise<void> {
    this.#ownersLoaded ??= (async () => {
      for (const name of await this.driver.list('uploads')) {
        if (!SESSION_ID.test(name) || this.#owners.has(name)) continue;
        try {
          const owner = parseInfo(await this.driver.getContent(infoPath(name))).owner;
          if (owner !== undefined) this.#own(name, owner);
        } catch {
          // A half-created or damaged session has no owner; purgeStale removes it.
        }
      }
    })().catch((err: unknown) => {
      this.#ownersLoaded = null;
      throw err;
    });
    return this.#ownersLoaded;
  }

  #own(id: string, owner: string): void {
    this.#owners.set(id, owner);
    this.#openPerOwner.set(owner, (this.#openPerOwner.get(owner) ?? 0) + 1);
  }

  #disown(id: string): void {
    const owner = this.#owners.get(id);
    if (owner === undefined) return;
    this.#owners.delete(id);
    const left = (this.#openPerOwner.get(owner) ?? 1) - 1;
    if (left > 0) this.#openPerOwner.set(owner, left);
    else this.#openPerOwner.delete(owner);
  }

  /** Reads a session from the driver. Throws UploadUnknownError for malformed ids and absent sessions. */
  async #load(id: string, options?: CallOptions): Promise<UploadSession> {
    checkId(id);
    let info: SessionInfo;
    try {
      info = parseInfo(await this.driver.getContent(infoPath(id), options));
    } catch (err) {
      // A session whose info file is missing or damaged (a crash while creating it, a disk
      // fault) is unusable: to the client it does not exist. Its data goes with purgeStale.
      if (err instanceof PathNotFoundError || err instanceof MalformedSessionError) throw new UploadUnknownError(id);
      throw err;
    }
    const data = await this.driver.stat(dataPath(id), options);
    if (!data) throw new UploadUnknownError(id);
    return { id, repository: info.repository, size: data.size, startedAt: new Date(info.startedAt) };
  }

  /** The running hash, when it is for `algorithm` and covers exactly the `size` bytes the file holds. */
  #cachedState(id: string, size: number, algorithm: DigestAlgorithm): HashState | undefined {
    if (size === 0) return { algorithm, hash: createDigester(algorithm), size: 0 };
    const state = this.#hashes.get(id);
    return state && state.algorithm === algorithm && state.size === size ? state : undefined;
  }

  /** Hashes the data file by streaming it: the fallback after a restart or for a non-sha256 digest. */
  async #rehash(path: string, algorithm: DigestAlgorithm, options?: CallOptions): Promise<HashState> {
    const hash = createDigester(algorithm);
    let size = 0;
    for await (const chunk of (await this.driver.reader(path, options)) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    return { algorithm, hash, size };
  }

  /** Runs `task` after every earlier task on the same session, so appends never interleave. */
  async #locked<T>(id: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(task);
    this.#locks.set(id, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(id) === run) this.#locks.delete(id);
    }
  }
}

function sessionDir(id: string): string {
  return `uploads/${id}`;
}

function dataPath(id: string): string {
  return `uploads/${id}/data`;
}

function infoPath(id: string): string {
  return `uploads/${id}/info.json`;
}

/** Throws UploadUnknownError unless `id` is one we could have minted, so it can never steer a path. */
function checkId(id: string): void {
  if (!SESSION_ID.test(id)) throw new UploadUnknownError(id);
}

class MalformedSessionError extends Error {}

function parseInfo(raw: Buffer): SessionInfo {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new MalformedSessionError('upload session info is not JSON');
  }
  if (typeof value === 'object' && value !== null && 'repository' in value && 'startedAt' in value &&
      typeof value.repository === 'string' && typeof value.startedAt === 'string') {
    const owner = 'owner' in value && typeof value.owner === 'string' ? value.owner : undefined;
    return { repository: value.repository, startedAt: value.startedAt, ...(owner !== undefined ? { owner } : {}) };
  }
  throw new MalformedSessionError('malformed upload session info');
}
