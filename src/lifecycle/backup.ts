import { access, chmod, copyFile, mkdir, open, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve, isAbsolute } from 'node:path';
import type { Clock } from '../core/clock.js';
import {
  NotAMetadataDatabaseError, SchemaTooNewError, readSqliteSnapshot, snapshotSqliteDatabase, type SnapshotContents,
} from '../metadata/sqlite-snapshot.js';
import { DigestMismatchError, SizeMismatchError } from '../storage/errors.js';
import { BackupError } from './backup-errors.js';
import {
  BACKUP_FILES_FOLDER, BACKUP_FORMAT, BACKUP_FORMAT_VERSION, BACKUP_METADATA_FILE, BACKUP_MANIFEST_FILE, hashFile, writeBackupManifest,
  type BackupFileEntry, type BackupManifest,
} from './backup-manifest.js';
import { BlobCopyError, copyBlobs } from './copy-blobs.js';
import { METADATA_FILE, STORAGE_FOLDER, nodeFilesOf } from './data-folder.js';
import { StagedFolder, syncDirectory } from './staged-folder.js';
import { blobStoreOf, checkStorageSpec } from './storage-of.js';

/** Snapshots taken at most while blobs keep vanishing between a snapshot and their copy. */
const MAX_SNAPSHOTS = 5;
/** Blob copies at once. */
const PARALLEL_COPIES = 4;

export interface BackupOptions {
  /** The node's data folder (it may be running on it). */
  dataDir: string;
  /** The node's storage driver spec (OUTPOST_STORAGE: `filesystem`, later `azblob://…`). */
  storage: string;
  /** The backup folder to make: absent or empty. */
  to: string;
  /** The Outpost making the backup (recorded in its manifest). */
  outpostVersion: string;
  /** The time recorded in the manifest comes from here. */
  clock: Clock;
  /** Stops the backup; nothing of it is kept. */
  signal?: AbortSignal;
  /** Snapshots to take at most while referenced blobs keep vanishing (5). */
  maxSnapshots?: number;
  /** Blob copies at once (4). */
  parallel?: number;
  /** Called after each snapshot, before its blobs are copied (tests write or collect garbage there). */
  onSnapshot?: (attempt: number, contents: SnapshotContents) => Promise<void> | void;
}

/** What `outpost backup` prints: the manifest, with the folder and without the files' hashes. */
export interface BackupSummary extends Omit<BackupManifest, 'files' | 'format' | 'metadata'> {
  backup: string;
  metadataBytes: number;
  /** The node's own files kept (paths in the data folder; their content is never shown). */
  files: string[];
}

/**
 * Backs up a node's data folder, while the node runs on it or not, into a new folder
 * (docs/operations.md, "Backup and restore"):
 *
 * 1. a snapshot of the metadata with SQLite's online backup (one consistent read; the node's
 *    writes go on);
 * 2. every blob that snapshot references, read through the node's storage driver and verified
 *    by digest and size as it is written. A blob that is gone by then was unreferenced after the
 *    snapshot and collected (garbage collection runs meanwhile): a new snapshot is taken and what
 *    it references is copied, until one snapshot has every blob it references (at most
 *    `maxSnapshots`; then BLOB_MISSING: the storage really lacks content its metadata uses).
 *    Blobs copied for an earlier snapshot that the last one no longer references are dropped, so
 *    the backup is exactly one snapshot and its blobs;
 * 3. the node's other files of its data folder (signing key, admin password, …);
 * 4. the manifest, last, then the folder is published under its name (see StagedFolder): a
 *    backup cut short leaves only a `.…-partial-…` folder, never a folder that looks finished.
 *
 * Throws BackupError (TARGET_NOT_EMPTY, SOURCE_INVALID, STORAGE_UNSUPPORTED, SCHEMA_TOO_NEW,
 * BLOB_MISSING, CONTENT_INVALID, COPY_FAILED, INTERRUPTED) or the filesystem's and SQLite's
 * errors (a full disk); nothing is left at `to` then.
 */
export async function backupNode(options: BackupOptions): Promise<BackupSummary> {
  const { clock, signal } = options;
  const dataDir = resolve(options.dataDir);
  const to = resolve(options.to);
  const live = join(dataDir, METADATA_FILE);
  checkStorageSpec(options.storage, 'backed up');
  if (isInside(to, dataDir)) {
    throw new BackupError('SOURCE_INVALID', `the backup target ${to} is inside the data folder ${dataDir}: put backups somewhere else`);
  }
  if (!(await exists(live))) {
    throw new BackupError('SOURCE_INVALID', `${dataDir} holds no ${METADATA_FILE}: it is not a node's data folder (give --data-dir)`);
  }
  const source = blobStoreOf(options.storage, join(dataDir, STORAGE_FOLDER), clock, 'backed up');
  const staged = await StagedFolder.create(to, 'backup', 'the backup target');
  try {
    // The backup's blobs, laid out as a blob store does (`blobs/<alg>/<2 hex>/<hex>`).
    const target = blobStoreOf('filesystem', staged.path, clock, 'backed up');
    const snapshotFile = join(staged.path, BACKUP_METADATA_FILE);
    const copied = new Map<string, number>();
    let contents: SnapshotContents;
    let attempt = 0;
    for (;;) {
      attempt += 1;
      signal?.throwIfAborted();
      await rm(snapshotFile, { force: true });
      contents = await takeSnapshot(live, snapshotFile);
      // It holds password hashes and sync state: the owner's only, like the rest of the backup.
      await chmod(snapshotFile, 0o600);
      await options.onSnapshot?.(attempt, contents);
      const { missing } = await copyBlobs(contents.content, source, target, {
        done: copied, parallel: options.parallel ?? PARALLEL_COPIES, ...(signal ? { signal } : {}),
      }).catch((err: unknown) => {
        throw describeCopyFailure(err);
      });
      if (missing.length === 0) break;
      if (attempt >= (options.maxSnapshots ?? MAX_SNAPSHOTS)) {
        throw new BackupError('BLOB_MISSING', `${missing.length} blob(s) the metadata references are missing from the node's storage `
          + `(${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}), in ${attempt} snapshots in a row: the storage has lost content `
          + '(docs/operations.md, "Backup and restore")');
      }
    }
    // The backup is the last snapshot: blobs only earlier ones referenced go.
    for (const digest of [...copied.keys()]) {
      if (contents.content.has(digest)) continue;
      await target.delete(digest);
      copied.delete(digest);
    }
    await target.clearTemp();
    const files = await copyNodeFiles(dataDir, join(staged.path, BACKUP_FILES_FOLDER));
    const metadata = await hashFile(snapshotFile, signal);
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      formatVersion: BACKUP_FORMAT_VERSION,
      outpostVersion: options.outpostVersion,
      createdAt: new Date(clock.now()).toISOString(),
      schemaVersion: contents.schemaVersion,
      metadata,
      repositories: contents.repositories,
      tags: contents.tags,
      manifests: contents.manifests,
      blobs: { count: contents.content.size, bytes: sum(contents.content.values()) },
      files,
      sync: contents.sync,
      snapshots: attempt,
    };
    signal?.throwIfAborted();
    await writeBackupManifest(staged.path, manifest);
    await staged.publish(BACKUP_MANIFEST_FILE);
    const { format: _format, metadata: _metadata, files: _files, ...shown } = manifest;
    return { backup: to, ...shown, metadataBytes: metadata.size, files: files.map((f) => f.path) };
  } catch (err) {
    await staged.discard();
    if (signal?.aborted) throw new BackupError('INTERRUPTED', `the backup was interrupted: nothing was kept at ${to}`, { cause: err });
    throw err;
  }
}

/** A snapshot of the live database into `file`, and what it holds. */
async function takeSnapshot(live: string, file: string): Promise<SnapshotContents> {
  try {
    await snapshotSqliteDatabase(live, file);
    return readSqliteSnapshot(file);
  } catch (err) {
    if (err instanceof SchemaTooNewError) {
      throw new BackupError('SCHEMA_TOO_NEW', `${err.message}: back it up with the Outpost that runs the node`, { cause: err });
    }
    if (err instanceof NotAMetadataDatabaseError) throw new BackupError('SOURCE_INVALID', err.message, { cause: err });
    throw err;
  }
}

/** A blob of the node that does not match its digest is damage in the node's storage, said as such; any other failure is the copy's. */
function describeCopyFailure(err: unknown): unknown {
  if (!(err instanceof BlobCopyError)) return err;
  if (err.reason instanceof DigestMismatchError || err.reason instanceof SizeMismatchError) {
    return new BackupError('CONTENT_INVALID', `blob ${err.digest} in the node's storage does not match its digest or size `
      + `(${err.reason.message}): the storage is damaged; restore that blob (push the image again) and back up again`, { cause: err });
  }
  return new BackupError('COPY_FAILED', `${err.message}; nothing was kept`, { cause: err });
}

/** Copies the node's own files (data-folder.ts) into `folder`, each fsynced, with its mode; returns their entries. */
async function copyNodeFiles(dataDir: string, folder: string): Promise<BackupFileEntry[]> {
  const entries: BackupFileEntry[] = [];
  for (const file of await nodeFilesOf(dataDir)) {
    const copy = join(folder, ...file.path.split('/'));
    await mkdir(dirname(copy), { recursive: true, mode: 0o700 });
    await copyFile(join(dataDir, ...file.path.split('/')), copy);
    await chmod(copy, file.mode);
    const handle = await open(copy, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await syncDirectory(dirname(copy));
    const { sha256, size } = await hashFile(copy);
    entries.push({ path: file.path, size, sha256, mode: file.mode });
  }
  return entries;
}

/** Is `path` the folder `folder` or below it? */
function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
