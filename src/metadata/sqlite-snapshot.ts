import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';
import { SYNC_STATE_KEYS } from './sync-types.js';

/** The newest schema version this Outpost knows (what `runMigrations` brings a database to). */
export const LATEST_SCHEMA_VERSION: number = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

/** How long the copy waits for another process's lock (a node's WAL checkpoint) before failing. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * What a metadata snapshot holds, as a backup and a restore need it: the content it references
 * and a few counts to check a restore against.
 */
export interface SnapshotContents {
  /** The schema version (`PRAGMA user_version`) the snapshot was written at. */
  schemaVersion: number;
  /**
   * Every blob the snapshot references, digest → size: each repository's blob links and each
   * manifest's own bytes (manifests are stored as blobs). What a node needs to serve all of it.
   */
  content: Map<string, number>;
  repositories: number;
  tags: number;
  manifests: number;
  /** On a connected node: where its sync stood (null on a node that never synced: a root). */
  sync: { cursor: number | null; instanceId: string | null } | null;
}

/** The database is not one this Outpost can read: written by a newer one (`schemaVersion` > LATEST_SCHEMA_VERSION). */
export class SchemaTooNewError extends Error {
  readonly code = 'SCHEMA_TOO_NEW';
  constructor(readonly schemaVersion: number) {
    super(`the metadata database is at schema version ${schemaVersion}, newer than this Outpost knows (${LATEST_SCHEMA_VERSION})`);
    this.name = 'SchemaTooNewError';
  }
}

/** The file is not an Outpost metadata database (no schema, or SQLite refuses it). */
export class NotAMetadataDatabaseError extends Error {
  readonly code = 'METADATA_INVALID';
  constructor(path: string, why: string) {
    super(`${path} is not a usable Outpost metadata database: ${why}`);
    this.name = 'NotAMetadataDatabaseError';
  }
}

/**
 * Copies the metadata database at `livePath` — which a running node may hold open and write to
 * meanwhile — into a new file `destPath` with SQLite's online backup, as one consistent snapshot.
 *
 * The copy is made in a single backup step: one read transaction over the whole database. In WAL
 * mode a read transaction blocks no writer, so the node goes on committing; and a copy in several
 * steps would start over each time the node wrote between two of them (never ending under load).
 * Nothing is migrated or written in the live database. The copy is switched to a rollback
 * journal, so the snapshot is one self-contained file (the node turns WAL on again when it opens it).
 *
 * Throws NotAMetadataDatabaseError when `livePath` is missing or not an Outpost database,
 * SchemaTooNewError when a newer Outpost wrote it (nothing is copied then).
 */
export async function snapshotSqliteDatabase(livePath: string, destPath: string): Promise<void> {
  let live: Database.Database;
  try {
    live = new Database(livePath, { fileMustExist: true });
  } catch (err) {
    throw new NotAMetadataDatabaseError(livePath, err instanceof Error ? err.message : String(err));
  }
  try {
    live.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    schemaVersionOf(live, livePath);
    // The progress callback sets how many pages the next step copies: all of them at once.
    await live.backup(destPath, { progress: () => 0x7fffffff });
  } finally {
    live.close();
  }
  const copy = new Database(destPath, { fileMustExist: true });
  try {
    const mode = copy.pragma('journal_mode = DELETE', { simple: true });
    if (mode !== 'delete') throw new Error(`cannot switch the snapshot ${destPath} to a rollback journal (got ${String(mode)})`);
  } finally {
    copy.close();
  }
}

/**
 * Reads what a snapshot made by `snapshotSqliteDatabase` holds (opened read-only: the file is not
 * changed). With `check`, SQLite's `quick_check` must pass first (a restore verifies the copy it
 * is about to hand a node). Throws NotAMetadataDatabaseError, SchemaTooNewError.
 */
export function readSqliteSnapshot(path: string, options: { check?: boolean } = {}): SnapshotContents {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new NotAMetadataDatabaseError(path, err instanceof Error ? err.message : String(err));
  }
  try {
    if (options.check) {
      const problems = db.pragma('quick_check', { simple: false }) as Array<{ quick_check: string }>;
      const first = problems[0]?.quick_check;
      if (first !== 'ok') throw new NotAMetadataDatabaseError(path, `SQLite's quick_check failed: ${String(first)}`);
    }
    const schemaVersion = schemaVersionOf(db, path);
    // Read in one transaction, so counts and content agree even if the file were shared.
    return db.transaction((): SnapshotContents => {
      const content = new Map<string, number>();
      const rows = db.prepare<[], { digest: string; size: number }>(
        `SELECT digest, size FROM repository_blobs UNION SELECT digest, size FROM manifests ORDER BY digest`).all();
      for (const row of rows) content.set(row.digest, row.size);
      const count = (table: string): number => db.prepare<[], number>(`SELECT count(*) FROM ${table}`).pluck().get() ?? 0;
      const hasSyncState = db.prepare<[], number>(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'sync_state'`).pluck().get() === 1;
      const state = (key: string): string | null => (hasSyncState
        ? db.prepare<[string], string>('SELECT value FROM sync_state WHERE key = ?').pluck().get(key) ?? null
        : null);
      const cursor = state(SYNC_STATE_KEYS.cursor);
      const instanceId = state(SYNC_STATE_KEYS.instanceId);
      return {
        schemaVersion,
        content,
        repositories: count('repositories'),
        tags: count('tags'),
        manifests: count('manifests'),
        sync: cursor === null && instanceId === null ? null : { cursor: cursor === null ? null : Number(cursor), instanceId },
      };
    })();
  } catch (err) {
    if (err instanceof Database.SqliteError) throw new NotAMetadataDatabaseError(path, err.message);
    throw err;
  } finally {
    db.close();
  }
}

/**
 * Moves the change log's sequence of the database at `path` (a restored copy, no node running on
 * it) `by` numbers ahead, so the next change a node appends there gets a number no child has
 * seen. Children hold cursors into this log, and the node a backup came from may have appended
 * changes after its snapshot that they already applied: without the jump, the restored log would
 * hand out those numbers again for other changes and a child would skip them. With it, every
 * child finds a gap after its cursor (or its cursor ahead of the log) and reconciles in full
 * once (RESYNC_REQUIRED), then follows the restored log. Returns the new head.
 */
export function advanceChangeSequence(path: string, by: number): number {
  const db = new Database(path, { fileMustExist: true });
  try {
    return db.transaction((): number => {
      const head = db.prepare<[], number>("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").pluck().get() ?? 0;
      db.prepare("DELETE FROM sqlite_sequence WHERE name = 'changes'").run();
      db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('changes', ?)").run(head + by);
      return head + by;
    }).immediate();
  } finally {
    db.close();
  }
}

/** The database's schema version; refuses an empty file (no schema) and a newer Outpost's. */
function schemaVersionOf(db: Database.Database, path: string): number {
  let version: unknown;
  try {
    version = db.pragma('user_version', { simple: true });
  } catch (err) {
    // "file is not a database" surfaces at the first read.
    throw new NotAMetadataDatabaseError(path, err instanceof Error ? err.message : String(err));
  }
  if (typeof version !== 'number' || version < 1) throw new NotAMetadataDatabaseError(path, 'it has no Outpost schema');
  if (version > LATEST_SCHEMA_VERSION) throw new SchemaTooNewError(version);
  return version;
}
