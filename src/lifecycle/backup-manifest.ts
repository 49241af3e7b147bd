import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BackupError } from './backup-errors.js';
import { isNodeFilePath } from './data-folder.js';

/**
 * A backup folder (docs/operations.md, "Backup and restore"):
 *
 *   outpost-backup.json     this manifest, written last: a folder without it is not a backup
 *   metadata.db             the metadata snapshot (SQLite, one file)
 *   blobs/<alg>/<2 hex>/<hex>   every blob the snapshot references, as a blob store lays them out
 *   files/…                 the node's other files of its data folder (signing key, admin password)
 */
export const BACKUP_MANIFEST_FILE = 'outpost-backup.json';
export const BACKUP_METADATA_FILE = 'metadata.db';
export const BACKUP_FILES_FOLDER = 'files';
export const BACKUP_FORMAT = 'outpost-backup';
/** Bumped when a backup's layout or manifest changes in a way an older restore would misread. */
export const BACKUP_FORMAT_VERSION = 1;

/** A file of the node's data folder kept in the backup, by its path relative to the data folder. */
export interface BackupFileEntry {
  path: string;
  size: number;
  /** `sha256:<hex>` of its bytes. */
  sha256: string;
  /** Its permission bits (0600 for the secrets), given back by a restore. */
  mode: number;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  formatVersion: number;
  /** The Outpost that made the backup. */
  outpostVersion: string;
  /** When the backup finished (ISO 8601). */
  createdAt: string;
  /** The metadata's schema version: a restore into an older Outpost refuses a newer one. */
  schemaVersion: number;
  metadata: { size: number; sha256: string };
  repositories: number;
  tags: number;
  manifests: number;
  /** The blobs the snapshot references (each repository's blob links and each manifest's bytes). */
  blobs: { count: number; bytes: number };
  files: BackupFileEntry[];
  /** A connected node's sync position at the snapshot; null for a root. */
  sync: { cursor: number | null; instanceId: string | null } | null;
  /** Snapshots taken before one had every blob it references (more than 1 when blobs vanished meanwhile). */
  snapshots: number;
}

/** `sha256:<hex>` and size of a file, read as a stream. */
export async function hashFile(path: string, signal?: AbortSignal): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(createReadStream(path), async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) {
      size += chunk.length;
      hash.update(chunk);
    }
  }, signal ? { signal } : {});
  return { sha256: `sha256:${hash.digest('hex')}`, size };
}

/** Writes the manifest durably (fsynced), readable by its owner only. */
export async function writeBackupManifest(folder: string, manifest: BackupManifest): Promise<void> {
  const handle = await open(join(folder, BACKUP_MANIFEST_FILE), 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(manifest, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Reads and checks the manifest of the backup in `folder`. Throws BackupError:
 * BACKUP_INCOMPLETE when there is none, BACKUP_INVALID when it cannot be used.
 */
export async function readBackupManifest(folder: string): Promise<BackupManifest> {
  let text: string;
  try {
    text = await readFile(join(folder, BACKUP_MANIFEST_FILE), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new BackupError('BACKUP_INCOMPLETE',
        `${folder} holds no ${BACKUP_MANIFEST_FILE}: it is not a backup, or a backup that did not finish`);
    }
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid(folder, 'it is not JSON');
  }
  return checkManifest(folder, value);
}

function checkManifest(folder: string, value: unknown): BackupManifest {
  if (!isRecord(value) || value.format !== BACKUP_FORMAT) throw invalid(folder, `it is not an Outpost backup manifest (no "format": "${BACKUP_FORMAT}")`);
  const formatVersion = value.formatVersion;
  if (!isCount(formatVersion) || formatVersion < 1) throw invalid(folder, 'its formatVersion is not a positive integer');
  if (formatVersion > BACKUP_FORMAT_VERSION) {
    throw invalid(folder, `it is of backup format ${formatVersion}, newer than this Outpost reads (${BACKUP_FORMAT_VERSION}): restore it with the Outpost that made it (${String(value.outpostVersion)}) or a later one`);
  }
  const metadata = value.metadata;
  const blobs = value.blobs;
  const sync = value.sync;
  const ok = typeof value.outpostVersion === 'string' && typeof value.createdAt === 'string'
    && isCount(value.schemaVersion) && isCount(value.repositories) && isCount(value.tags) && isCount(value.manifests)
    && isCount(value.snapshots)
    && isRecord(metadata) && isCount(metadata.size) && isSha256(metadata.sha256)
    && isRecord(blobs) && isCount(blobs.count) && isCount(blobs.bytes)
    && Array.isArray(value.files) && value.files.every(isFileEntry)
    && (sync === null || (isRecord(sync) && (sync.cursor === null || isCount(sync.cursor)) && (sync.instanceId === null || typeof sync.instanceId === 'string')));
  if (!ok) throw invalid(folder, 'a field is missing or of the wrong type');
  const files = value.files as BackupFileEntry[];
  for (const file of files) {
    if (!isNodeFilePath(file.path)) throw invalid(folder, `it names a file a restore may not write (${JSON.stringify(file.path.slice(0, 100))})`);
  }
  return value as unknown as BackupManifest;
}

function invalid(folder: string, why: string): BackupError {
  return new BackupError('BACKUP_INVALID', `the backup manifest ${join(folder, BACKUP_MANIFEST_FILE)} cannot be used: ${why}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isSha256(value: unknown): value is string {
  return typeof value === 'string' && /^sha256:[a-f0-9]{64}$/.test(value);
}

function isFileEntry(value: unknown): value is BackupFileEntry {
  return isRecord(value) && typeof value.path === 'string' && isCount(value.size) && isSha256(value.sha256)
    && isCount(value.mode) && value.mode <= 0o7777;
}
