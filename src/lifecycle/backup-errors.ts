/**
 * The errors of `outpost backup` and `outpost restore`, one table: each code with when it is
 * raised (docs/operations.md, "Backup and restore", lists them). Callers match on `code`; the
 * message says what was wrong and what to do, on one line, and never holds a secret.
 */
export const BACKUP_ERROR_CODES = {
  /** The backup target, or the data folder a restore writes, exists and holds something. */
  TARGET_NOT_EMPTY: 'the target folder exists and is not empty',
  /** The folder to back up is not a node's data folder (no metadata database), or the target lies inside it. */
  SOURCE_INVALID: 'the data folder cannot be backed up',
  /** The storage driver keeps nothing another process can read or a node can find again (`memory`). */
  STORAGE_UNSUPPORTED: 'the storage driver cannot be backed up or restored',
  /** Blobs the metadata references are missing from the node's storage, snapshot after snapshot. */
  BLOB_MISSING: "the node's storage lacks blobs its metadata references",
  /** A blob of the node's storage does not hash to its digest (or has the wrong size). */
  CONTENT_INVALID: "the node's storage holds a damaged blob",
  /** The folder has no backup manifest: not a backup, or one that did not finish. */
  BACKUP_INCOMPLETE: 'the folder is not a complete backup',
  /** The backup manifest is unreadable, or of a format this Outpost does not know. */
  BACKUP_INVALID: 'the backup manifest cannot be used',
  /** Something in the backup does not match its manifest or its digest: a blob, the database, a file. */
  BACKUP_CORRUPT: 'the backup is damaged',
  /** The backup's metadata was written by a newer Outpost (a schema this one does not know). */
  SCHEMA_TOO_NEW: 'the backup comes from a newer Outpost',
  /** A blob could not be written where it was going (the disk full, read-only or failing). */
  COPY_FAILED: 'a blob could not be copied',
  /** The command was stopped (a signal) before it finished; nothing was kept. */
  INTERRUPTED: 'the command was interrupted',
} as const;

export type BackupErrorCode = keyof typeof BACKUP_ERROR_CODES;

export class BackupError extends Error {
  constructor(readonly code: BackupErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackupError';
  }

  /** The CLI's exit status: 130 for a command stopped by a signal (as shells report SIGINT), else 1. */
  get exitCode(): number {
    return this.code === 'INTERRUPTED' ? 130 : 1;
  }
}
