import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** The metadata database in a data folder, as the composition root opens it (server/build-app.ts). */
export const METADATA_FILE = 'metadata.db';
/** The filesystem storage driver's root in a data folder (server/build-app.ts). */
export const STORAGE_FOLDER = 'storage';

/** Leftovers of an interrupted backup or restore: never part of what a node needs. */
const PARTIAL_FOLDER = /^\..*(backup|restore)-partial-[a-f0-9]+$/;

/**
 * The node's own files in its data folder, besides the metadata and the blobs (which a backup
 * takes by their own means): today the JWT signing key and the admin password, and whatever a
 * later version keeps there, so a backup never silently drops what a node needs to come back as
 * itself. Left out: the database and its journal files (copied by SQLite's online backup), the
 * storage folder (blobs copied one by one; upload sessions in progress are not kept: clients
 * start them again), leftovers of an interrupted backup or restore, and anything not a regular
 * file or folder (sockets, links). Paths are relative, `/`-separated, sorted.
 */
export async function nodeFilesOf(dataDir: string): Promise<Array<{ path: string; mode: number; size: number }>> {
  const found: Array<{ path: string; mode: number; size: number }> = [];
  async function walk(relative: string): Promise<void> {
    const names = (await readdir(relative === '' ? dataDir : join(dataDir, relative))).sort();
    for (const name of names) {
      const path = relative === '' ? name : `${relative}/${name}`;
      if (relative === '' && (name === STORAGE_FOLDER || name.startsWith(METADATA_FILE) || PARTIAL_FOLDER.test(name))) continue;
      // lstat: a link is not followed (it is left out, as the comment above says).
      const info = await lstat(join(dataDir, path)).catch(() => null);
      if (info === null) continue;
      if (info.isDirectory()) await walk(path);
      else if (info.isFile()) found.push({ path, mode: info.mode & 0o7777, size: info.size });
    }
  }
  await walk('');
  return found;
}

/**
 * Whether `path` (relative, `/`-separated) may be written below a data folder by a restore: no
 * `.` or `..` segment, not absolute, and not the database or the storage folder (those come
 * from the backup's own parts). A manifest naming anything else is refused.
 */
export function isNodeFilePath(path: string): boolean {
  if (path === '' || path.startsWith('/') || path.includes('\\') || path.includes('\0')) return false;
  const segments = path.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return false;
  return segments[0] !== STORAGE_FOLDER && !segments[0]!.startsWith(METADATA_FILE);
}
