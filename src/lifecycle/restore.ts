import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, open } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock } from '../core/clock.js';
import {
  LATEST_SCHEMA_VERSION, NotAMetadataDatabaseError, SchemaTooNewError, advanceChangeSequence, readSqliteSnapshot, type SnapshotContents,
} from '../metadata/sqlite-snapshot.js';
import type { DriverBlobStore } from '../storage/blob-store.js';
import { DigestMismatchError, SizeMismatchError } from '../storage/errors.js';
import { BackupError } from './backup-errors.js';
import { BACKUP_FILES_FOLDER, BACKUP_METADATA_FILE, readBackupManifest, type BackupManifest } from './backup-manifest.js';
import { BlobCopyError, copyBlobs } from './copy-blobs.js';
import { METADATA_FILE, STORAGE_FOLDER } from './data-folder.js';
import { StagedFolder, syncDirectory } from './staged-folder.js';
import { blobStoreOf, checkStorageSpec } from './storage-of.js';

/** Blob copies at once. */
const PARALLEL_COPIES = 4;
/**
 * How far the restored change log's sequence jumps (advanceChangeSequence): more changes than
 * the original node could have appended after its backup, so no child's cursor lies beyond it.
 */
export const CHANGE_SEQUENCE_JUMP = 1_000_000_000;

export interface RestoreOptions {
  /** The backup folder (made by `backupNode`). */
  from: string;
  /** The data folder to fill: absent or empty. */
  dataDir: string;
  /** The storage driver spec the restored node will run with (OUTPOST_STORAGE). */
  storage: string;
  clock: Clock;
  /** Stops the restore; nothing of it is kept. */
  signal?: AbortSignal;
  /** Blob copies at once (4). */
  parallel?: number;
}

/** What `outpost restore` prints. */
export interface RestoreSummary {
  dataDir: string;
  backup: string;
  /** When the backup was made, and by which Outpost. */
  createdAt: string;
  outpostVersion: string;
  schemaVersion: number;
  repositories: number;
  tags: number;
  manifests: number;
  blobs: { count: number; bytes: number };
  files: string[];
  sync: BackupManifest['sync'];
  /** The restored change log's head after its jump: the node's next change gets the number after it. */
  changeLogHead: number;
}

/**
 * Restores a backup into an absent or empty data folder (docs/operations.md, "Backup and
 * restore"). Everything is checked on the way in: the manifest (format, schema version), the
 * metadata database (its digest, SQLite's quick_check, its counts against the manifest), every
 * blob it references (digest and size, as it is written through the storage driver the node
 * will use) and the node's files (digests). The result is published whole at the end
 * (StagedFolder); on any failure nothing is left: the data folder is as it was (absent or
 * empty) and blobs written to a storage outside it are deleted again.
 *
 * A node started on the folder serves exactly what the backup held; a connected node keeps its
 * instance id and cursor, so it resumes syncing where the backup stood (restore it in place of
 * the original, never beside it). The restored change log's sequence jumps ahead
 * (CHANGE_SEQUENCE_JUMP), so the node's own children, whose cursors may be past the backup,
 * reconcile in full once instead of skipping its next changes.
 *
 * Throws BackupError (BACKUP_INCOMPLETE, BACKUP_INVALID, BACKUP_CORRUPT, SCHEMA_TOO_NEW,
 * TARGET_NOT_EMPTY, STORAGE_UNSUPPORTED, COPY_FAILED, INTERRUPTED) or the filesystem's and
 * SQLite's errors (a full disk).
 */
export async function restoreNode(options: RestoreOptions): Promise<RestoreSummary> {
  const { clock, signal } = options;
  const from = resolve(options.from);
  const dataDir = resolve(options.dataDir);
  const manifest = await readBackupManifest(from);
  if (manifest.schemaVersion > LATEST_SCHEMA_VERSION) throw schemaTooNew(manifest.schemaVersion, manifest);
  checkStorageSpec(options.storage, 'restored');
  const backupBlobs = blobStoreOf('filesystem', from, clock, 'restored');
  const staged = await StagedFolder.create(dataDir, 'restore', 'the data folder');
  const written = new Map<string, number>();
  let store: DriverBlobStore | null = null;
  let changeLogHead = 0;
  try {
    const database = join(staged.path, METADATA_FILE);
    await copyVerified(join(from, BACKUP_METADATA_FILE), database, manifest.metadata, 'the metadata database', 0o600, signal);
    const contents = readRestoredSnapshot(database, manifest);
    checkAgainstManifest(contents, manifest);
    // The node's children (if it has any) must not take its next changes for ones they have seen.
    changeLogHead = advanceChangeSequence(database, CHANGE_SEQUENCE_JUMP);

    store = blobStoreOf(options.storage, join(staged.path, STORAGE_FOLDER), clock, 'restored');
    for await (const digest of store.list(signal ? { signal } : {})) {
      throw new BackupError('TARGET_NOT_EMPTY', `the storage of OUTPOST_STORAGE=${options.storage} already holds blobs (${digest}): restore into an empty one`);
    }
    const { missing } = await copyBlobs(contents.content, backupBlobs, store, {
      done: written, parallel: options.parallel ?? PARALLEL_COPIES, ...(signal ? { signal } : {}),
    }).catch((err: unknown) => {
      throw describeCopyFailure(err);
    });
    if (missing.length > 0) {
      throw corrupt(`${missing.length} blob(s) the metadata references are missing from the backup (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})`);
    }
    await store.clearTemp();

    for (const file of manifest.files) {
      await copyVerified(join(from, BACKUP_FILES_FOLDER, ...file.path.split('/')), join(staged.path, ...file.path.split('/')), file, `the file ${file.path}`, file.mode, signal);
    }
    signal?.throwIfAborted();
    // The database last: a folder with a metadata database is a node's, with all it needs beside it.
    await staged.publish(METADATA_FILE);
  } catch (err) {
    // A storage outside the data folder (a remote one) keeps nothing of the attempt either.
    if (store !== null) for (const digest of written.keys()) await store.delete(digest).catch(() => undefined);
    await staged.discard();
    if (signal?.aborted) throw new BackupError('INTERRUPTED', `the restore was interrupted: nothing was kept in ${dataDir}`, { cause: err });
    throw err;
  }
  return {
    dataDir,
    backup: from,
    createdAt: manifest.createdAt,
    outpostVersion: manifest.outpostVersion,
    schemaVersion: manifest.schemaVersion,
    repositories: manifest.repositories,
    tags: manifest.tags,
    manifests: manifest.manifests,
    blobs: manifest.blobs,
    files: manifest.files.map((f) => f.path),
    sync: manifest.sync,
    changeLogHead,
  };
}

/** What the restored copy of the database holds, checked by SQLite first. */
function readRestoredSnapshot(database: string, manifest: BackupManifest): SnapshotContents {
  try {
    return readSqliteSnapshot(database, { check: true });
  } catch (err) {
    if (err instanceof SchemaTooNewError) throw schemaTooNew(err.schemaVersion, manifest);
    if (err instanceof NotAMetadataDatabaseError) throw corrupt(`the metadata database cannot be read (${err.message})`);
    throw err;
  }
}

/** The database must be the one the manifest describes. */
function checkAgainstManifest(contents: SnapshotContents, manifest: BackupManifest): void {
  let bytes = 0;
  for (const size of contents.content.values()) bytes += size;
  const pairs: Array<[string, number, number]> = [
    ['schema version', contents.schemaVersion, manifest.schemaVersion],
    ['repositories', contents.repositories, manifest.repositories],
    ['tags', contents.tags, manifest.tags],
    ['manifests', contents.manifests, manifest.manifests],
    ['blobs', contents.content.size, manifest.blobs.count],
    ['blob bytes', bytes, manifest.blobs.bytes],
  ];
  for (const [what, actual, declared] of pairs) {
    if (actual !== declared) throw corrupt(`the metadata database holds ${actual} ${what}, the manifest says ${declared}`);
  }
}

/**
 * Copies one file of the backup to `to` (created, mode `mode`, fsynced), hashing it on the way;
 * its size and digest must be the manifest's. The message never shows a digest: some of these
 * files are secrets.
 */
async function copyVerified(from: string, to: string, expected: { size: number; sha256: string }, what: string, mode: number, signal?: AbortSignal): Promise<void> {
  await mkdir(dirname(to), { recursive: true, mode: 0o700 });
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(createReadStream(from), tap, createWriteStream(to, { flags: 'wx', mode }), signal ? { signal } : {});
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !signal?.aborted) throw corrupt(`${what} is missing from the backup`);
    throw err;
  }
  if (size !== expected.size || `sha256:${hash.digest('hex')}` !== expected.sha256) {
    throw corrupt(`${what} does not match the backup manifest (${size === expected.size ? 'its digest differs' : `${size} bytes, the manifest says ${expected.size}`})`);
  }
  // The mode asked of createWriteStream went through the umask: give the file exactly its mode back.
  await chmod(to, mode);
  const handle = await open(to, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncDirectory(dirname(to));
}

/** A blob of the backup that does not match its digest is damage in the backup, said as such; any other failure is the copy's. */
function describeCopyFailure(err: unknown): unknown {
  if (!(err instanceof BlobCopyError)) return err;
  if (err.reason instanceof DigestMismatchError || err.reason instanceof SizeMismatchError) {
    return corrupt(`blob ${err.digest} does not match its digest or size (${err.reason.message})`);
  }
  return new BackupError('COPY_FAILED', `${err.message}; nothing was restored`, { cause: err });
}

function corrupt(why: string): BackupError {
  return new BackupError('BACKUP_CORRUPT', `the backup is damaged: ${why}; nothing was restored`);
}

function schemaTooNew(version: number, manifest: BackupManifest): BackupError {
  return new BackupError('SCHEMA_TOO_NEW', `the backup's metadata is at schema version ${version}, newer than this Outpost knows `
    + `(${LATEST_SCHEMA_VERSION}): restore it with Outpost ${manifest.outpostVersion} or later`);
}
