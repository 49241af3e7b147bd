import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { BackupError } from './backup-errors.js';

/** What a fresh filesystem holds of its own (ext4's `lost+found`): a volume holding only that is empty. */
const IGNORED_ENTRIES: ReadonlySet<string> = new Set(['lost+found']);

/**
 * A folder filled under a temporary name and published whole at the end, so that a backup or a
 * restore cut short (an error, a signal, a crash) can never be taken for a finished one.
 *
 * - When the target does not exist, the work is done in a sibling (`.<name>.<purpose>-partial-<random>`,
 *   on the same filesystem) and published by renaming it to the target: one atomic step.
 * - When the target is an existing empty folder (a mounted volume cannot be renamed over), the
 *   work is done in `<target>/.<purpose>-partial-<random>` and published by moving its entries up
 *   one by one, the `last` one last: a crash in that short window leaves the partial folder
 *   behind, so the target is not empty and is not mistaken for a finished one by a second run.
 *
 * On failure the caller discards the folder: nothing is left of the attempt.
 */
export class StagedFolder {
  private constructor(
    /** The folder the result is published as (absolute). */
    readonly target: string,
    /** Where the result is built. */
    readonly path: string,
    private readonly insideTarget: boolean,
  ) {}

  /**
   * Prepares a staged folder for `target`, which must be absent or an empty folder; `what`
   * names it in the refusal ("the backup target"). Throws BackupError TARGET_NOT_EMPTY.
   */
  static async create(target: string, purpose: 'backup' | 'restore', what: string): Promise<StagedFolder> {
    const resolved = resolve(target);
    const entries = await entriesOf(resolved, what);
    const suffix = randomBytes(6).toString('hex');
    if (entries === null) {
      await mkdir(dirname(resolved), { recursive: true });
      const path = join(dirname(resolved), `.${basename(resolved)}.${purpose}-partial-${suffix}`);
      // Owner only: a backup and a data folder hold the node's secrets.
      await mkdir(path, { mode: 0o700 });
      return new StagedFolder(resolved, path, false);
    }
    if (entries.length > 0) throw notEmpty(what, resolved, entries);
    const path = join(resolved, `.${purpose}-partial-${suffix}`);
    await mkdir(path, { mode: 0o700 });
    return new StagedFolder(resolved, path, true);
  }

  /** Makes the staged content the target's. `last`: the entry moved last when entries are moved one by one. */
  async publish(last: string): Promise<void> {
    await syncDirectory(this.path);
    if (!this.insideTarget) {
      try {
        // rename(2) also replaces an empty folder created meanwhile; a non-empty one makes it fail.
        await rename(this.path, this.target);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') {
          throw notEmpty('the target', this.target, (await entriesOf(this.target, 'the target')) ?? []);
        }
        throw err;
      }
      await syncDirectory(dirname(this.target));
      return;
    }
    const others = ((await entriesOf(this.target, 'the target')) ?? []).filter((name) => join(this.target, name) !== this.path);
    if (others.length > 0) throw notEmpty('the target', this.target, others);
    const names = (await readdir(this.path)).sort((a, b) => Number(a === last) - Number(b === last));
    for (const name of names) await rename(join(this.path, name), join(this.target, name));
    await rm(this.path, { recursive: true, force: true });
    await syncDirectory(this.target);
  }

  /** Removes everything of the attempt (a failed or interrupted run). */
  async discard(): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
  }
}

/** The entries of `path` that count (null when nothing is there); refuses a file. */
async function entriesOf(path: string, what: string): Promise<string[] | null> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (!info.isDirectory()) throw new BackupError('TARGET_NOT_EMPTY', `${what} ${path} exists and is not a folder`);
  return (await readdir(path)).filter((name) => !IGNORED_ENTRIES.has(name)).sort();
}

function notEmpty(what: string, path: string, entries: readonly string[]): BackupError {
  const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', …' : '');
  return new BackupError('TARGET_NOT_EMPTY', `${what} ${path} is not empty (it holds ${shown}): give a new or empty folder`);
}

/** Fsyncs a folder so the renames and creations in it survive a power loss (where the platform can). */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await handle?.close();
  }
}
