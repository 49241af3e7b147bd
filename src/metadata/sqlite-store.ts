import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { RegistryError } from '../oci/errors.js';
import { systemClock } from '../core/clock.js';
import { runMigrations } from './migrations.js';
import {
  SYNC_STATE_KEYS, type AgentStateKey, type FailureInput, type OutboxFailure, type ParkedItem, type ParkedItemInput, type SyncApplyResult,
  type SyncFacts, type SyncOp, type SyncPlan, type SyncStore,
} from './sync-types.js';
import type {
  BlobLink, BlobLinkKey, Change, ChangeKind, ChangeOrigin, GuardedWriteResult, ManifestGraph, ManifestRecord, MetadataStore, PutManifestInput,
  RepositoryInfo, StoredUsage, TagDetail, WriteContext, WriteOutcome,
} from './types.js';
import { SqliteIdentityStore } from './sqlite-identity-store.js';
import { SqliteConnectedRegistryStore } from './sqlite-connected-registry-store.js';
import { SqliteSettingsStore } from './sqlite-settings-store.js';
import { toChange, type ChangeRow } from './sqlite-change-rows.js';
import { SqliteNotificationStore } from './sqlite-notification-store.js';
import type { IdentityLimits } from './identity-types.js';

/** How long a statement waits for another process's write lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

interface ManifestRow {
  repository: string;
  digest: string;
  media_type: string;
  size: number;
  artifact_type: string | null;
  subject: string | null;
  annotations: string | null;
  created_at: number;
}

/** A descriptor whose declared size is not the stored one. */
interface SizeMismatch {
  digest: string;
  declared: number;
  stored: number;
}

const MANIFEST_COLUMNS = `r.name AS repository, m.digest, m.media_type, m.size, m.artifact_type, m.subject,
  m.annotations, m.created_at`;

/**
 * The embedded MetadataStore on one SQLite file.
 *
 * Durability: WAL with `synchronous=FULL`, so a transaction is fsynced before its method
 * resolves; with NORMAL a power cut can lose the last acknowledged commits, which would let a
 * client believe a push succeeded that the registry (and its change log) then forgets.
 *
 * Transactions: every method that runs more than one statement is one better-sqlite3
 * transaction (IMMEDIATE for writes, so two processes on the same file queue on the write lock
 * instead of failing on a lock upgrade). Reads that are one statement run without BEGIN/COMMIT:
 * SQLite already makes a single statement atomic and consistent, and the hot paths (resolveTag,
 * getManifest, getBlobLink) save two round trips through the engine.
 *
 * better-sqlite3 is synchronous; the methods are `async` only to share the contract with the
 * PostgreSQL store. Errors therefore surface as rejected promises, never as synchronous throws.
 */
export class SqliteMetadataStore implements MetadataStore, SyncStore {
  private readonly db: Database.Database;
  private readonly stmt: Statements;
  private readonly tx: Transactions;
  private readonly clock: () => number;
  /** Tokens and scope maps, on the same database (docs/architecture.md, "Identity"). */
  readonly identity: SqliteIdentityStore;
  /** Connected registries of the hierarchy, on the same database. */
  readonly connectedRegistries: SqliteConnectedRegistryStore;
  /** Registry-wide settings (the retention policy), on the same database. */
  readonly settings: SqliteSettingsStore;
  /** Notification events, webhooks and their deliveries, on the same database. */
  readonly notifications: SqliteNotificationStore;

  private constructor(db: Database.Database, options: SqliteStoreOptions) {
    this.db = db;
    const clock = options.clock ?? systemClock.now;
    this.clock = clock;
    this.identity = new SqliteIdentityStore(db, options.identityLimits, clock);
    this.connectedRegistries = new SqliteConnectedRegistryStore(db, this.identity, options.connectedRegistryLimit, clock);
    this.settings = new SqliteSettingsStore(db, clock);
    this.notifications = new SqliteNotificationStore(db, clock, options.webhookLimit);
    this.stmt = prepareStatements(db);
    this.tx = prepareTransactions(db, this.stmt, clock);
  }

  /**
   * Opens (creating when missing, with its parent folder) the database at `filePath` and brings
   * its schema up to date. `':memory:'` gives a private in-memory database for tests.
   */
  static async open(filePath: string, options: SqliteStoreOptions = {}): Promise<SqliteMetadataStore> {
    if (filePath !== ':memory:') mkdirSync(dirname(filePath), { recursive: true });
    const db = new Database(filePath);
    try {
      // journal_mode answers 'memory' for ':memory:', which has no WAL; anything else is a failure.
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal' && filePath !== ':memory:') throw new Error(`cannot enable WAL on ${filePath} (got ${String(mode)})`);
      db.pragma('synchronous = FULL');
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('foreign_keys = ON');
      // The cascades that keep tags and references consistent depend on this; fail loudly if the
      // SQLite build ignores it.
      if (db.pragma('foreign_keys', { simple: true }) !== 1) throw new Error('SQLite foreign keys are unavailable');
      runMigrations(db);
      return new SqliteMetadataStore(db, options);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  // --- repositories -------------------------------------------------------------------------

  async listRepositories(options: { last?: string; limit: number }): Promise<string[]> {
    const limit = pageLimit(options.limit);
    if (limit === 0) return [];
    return this.stmt.listRepositories.all(options.last ?? '', limit);
  }

  async repositoryExists(repository: string): Promise<boolean> {
    return this.stmt.repositoryId.get(repository) !== undefined;
  }

  async deleteRepository(ctx: WriteContext, repository: string): Promise<WriteOutcome> {
    return this.tx.deleteRepository(ctx, repository);
  }

  // --- blobs linked to repositories ---------------------------------------------------------

  async linkBlob(ctx: WriteContext, repository: string, digest: string, size: number): Promise<WriteOutcome> {
    return this.tx.linkBlobs(ctx, repository, { [digest]: size });
  }

  async getBlobLink(repository: string, digest: string): Promise<{ size: number } | null> {
    const size = this.stmt.blobLinkSize.get(repository, digest);
    return size === undefined ? null : { size };
  }

  async unlinkBlob(ctx: WriteContext, repository: string, digest: string): Promise<WriteOutcome> {
    // With its `blob-delete` change: children follow, and a ReadWrite edge pushes it up.
    return this.tx.unlinkBlob(ctx, repository, digest, 'refuse');
  }

  async blobLinksOf(digest: string, options: { last?: string; limit: number }): Promise<Array<{ repository: string; size: number }>> {
    const limit = pageLimit(options.limit);
    if (limit === 0) return [];
    return this.stmt.blobLinksOf.all(digest, options.last ?? '', limit);
  }

  // --- manifests and tags -------------------------------------------------------------------

  async putManifest(ctx: WriteContext, input: PutManifestInput): Promise<WriteOutcome> {
    return this.tx.putManifest(ctx, input);
  }

  async getManifest(repository: string, digest: string): Promise<ManifestRecord | null> {
    const row = this.stmt.getManifest.get(repository, digest);
    return row === undefined ? null : toManifestRecord(row);
  }

  async resolveTag(repository: string, tag: string): Promise<string | null> {
    return this.stmt.resolveTag.get(repository, tag) ?? null;
  }

  async listTags(repository: string, options: { last?: string; limit: number }): Promise<string[] | null> {
    return this.tx.listTags.deferred(repository, options.last ?? '', pageLimit(options.limit));
  }

  async listTagDetails(repository: string): Promise<TagDetail[] | null> {
    return this.db.transaction((): TagDetail[] | null => {
      const id = this.stmt.repositoryId.get(repository);
      if (id === undefined) return null;
      return this.db.prepare<[number], { name: string; digest: string; created_at: number; updated_at: number }>(
        `SELECT t.name, t.digest, m.created_at, t.updated_at FROM tags t
        JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
        WHERE t.repository_id = ? ORDER BY t.name`).all(id)
        .map((row) => ({ name: row.name, digest: row.digest, createdAt: new Date(row.created_at), updatedAt: new Date(row.updated_at) }));
    })();
  }

  async listManifestDigests(repository: string): Promise<string[] | null> {
    return this.db.transaction((): string[] | null => {
      const id = this.stmt.repositoryId.get(repository);
      if (id === undefined) return null;
      return this.db.prepare<[number], string>('SELECT digest FROM manifests WHERE repository_id = ? ORDER BY digest').pluck().all(id);
    })();
  }

  async repositoryInfo(repository: string): Promise<RepositoryInfo | null> {
    const row = this.db.prepare<[string], { created_at: number; tags: number; manifests: number; size: number; last: number | null }>(
      `SELECT r.created_at,
        (SELECT count(*) FROM tags t WHERE t.repository_id = r.id) AS tags,
        (SELECT count(*) FROM manifests m WHERE m.repository_id = r.id) AS manifests,
        -- UNION drops a digest that is both a blob link and a manifest (same digest, same bytes).
        (SELECT coalesce(sum(size), 0) FROM (SELECT digest, size FROM repository_blobs b WHERE b.repository_id = r.id
          UNION SELECT digest, size FROM manifests m WHERE m.repository_id = r.id)) AS size,
        max((SELECT max(updated_at) FROM tags t WHERE t.repository_id = r.id),
            (SELECT max(created_at) FROM manifests m WHERE m.repository_id = r.id)) AS last
      FROM repositories r WHERE r.name = ?`).get(repository);
    if (!row) return null;
    return {
      name: repository,
      tagCount: row.tags,
      manifestCount: row.manifests,
      sizeBytes: row.size,
      createdAt: new Date(row.created_at),
      lastUpdatedAt: new Date(row.last ?? row.created_at),
    };
  }

  async deleteTag(ctx: WriteContext, repository: string, tag: string): Promise<WriteOutcome> {
    return this.tx.deleteTag(ctx, repository, tag);
  }

  async deleteManifest(ctx: WriteContext, repository: string, digest: string): Promise<WriteOutcome> {
    return this.tx.deleteManifest(ctx, repository, digest, 'refuse');
  }

  async listReferrers(repository: string, subject: string, artifactType?: string): Promise<ManifestRecord[]> {
    // artifact_type holds what the registry computed when the manifest was pushed (the spec's
    // artifactType, falling back to the config media type), so the filter is a plain equality.
    const rows = artifactType === undefined
      ? this.stmt.listReferrers.all(repository, subject)
      : this.stmt.listReferrersOfType.all(repository, subject, artifactType);
    return rows.map(toManifestRecord);
  }

  // --- retention and usage ------------------------------------------------------------------

  async manifestGraph(repository: string): Promise<ManifestGraph | null> {
    return this.tx.manifestGraph.deferred(repository);
  }

  async deleteManifestsIfUnchanged(ctx: WriteContext, repository: string, digests: readonly string[], basis: number): Promise<GuardedWriteResult> {
    return this.tx.deleteManifestsIfUnchanged.immediate(ctx, repository, digests, basis);
  }

  async storedUsage(): Promise<StoredUsage> {
    // One statement, so one snapshot.
    const row = this.stmt.storedUsage.get()!;
    return { repositories: row.repositories, manifests: row.manifests, blobs: row.blobs, sizeBytes: row.size };
  }

  // --- change log ---------------------------------------------------------------------------

  async changesSince(after: number, limit: number): Promise<Change[]> {
    const pageSize = pageLimit(limit);
    if (pageSize === 0) return [];
    return this.stmt.changesSince.all(after, pageSize).map(toChange);
  }

  async lastChangeSeq(): Promise<number> {
    return this.stmt.lastChangeSeq.get() ?? 0;
  }

  // --- garbage collection -------------------------------------------------------------------

  async referencedBlobDigests(options: { linksRefreshedAfter?: Date } = {}): Promise<Set<string>> {
    return this.tx.referencedDigests.deferred(options.linksRefreshedAfter?.getTime() ?? Number.MIN_SAFE_INTEGER);
  }

  async referencedDigestsAmong(digests: readonly string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    return new Set(this.stmt.referencedAmong.all(JSON.stringify(digests)));
  }

  async unreferencedBlobLinks(cutoff: Date, options: { after?: BlobLinkKey; limit: number }): Promise<BlobLink[]> {
    const limit = pageLimit(options.limit);
    if (limit === 0) return [];
    const after = options.after ?? { repository: '', digest: '' };
    return this.stmt.unreferencedLinks.all(after.repository, after.repository, after.digest, cutoff.getTime(), limit).map(toBlobLink);
  }

  async sweepBlobLinks(links: readonly BlobLinkKey[], cutoff: Date): Promise<BlobLink[]> {
    if (links.length === 0) return [];
    return this.tx.sweepLinks.immediate(links, cutoff.getTime());
  }

  async touchBlobLink(repository: string, digest: string): Promise<void> {
    const now = this.clock();
    this.stmt.touchLink.run(now, repository, digest, now - TOUCH_SKIP_MS);
  }

  async changeCountsSince(after: number): Promise<Map<string, number>> {
    return new Map(this.stmt.changeCountsSince.all(after).map((row) => [row.repository, row.count]));
  }

  async pruneChanges(olderThan: Date, keepFrom = Number.MAX_SAFE_INTEGER): Promise<number> {
    // The newest row always stays: sqlite_sequence keeps the head, but a reader comparing its
    // cursor with the oldest row needs one row to compare with. Deleting by time alone could
    // leave holes in the middle of the log where `at` goes backwards, and a child's cursor check
    // only sees a gap before the first row it reads.
    // Nor a local write its notification events have not been made from yet (they are made from here).
    const head = this.stmt.lastChangeSeq.get() ?? 0;
    const firstKept = this.stmt.firstChangeNotBefore.get(olderThan.getTime()) ?? head;
    const notified = (await this.notifications.notifiedSeq()) + 1;
    return this.stmt.deleteChangesBefore.run(Math.min(head, firstKept, keepFrom, notified)).changes;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  // --- the child side of sync (SyncStore) ---------------------------------------------------

  async syncFacts(repository: string, digest: string | null): Promise<SyncFacts> {
    return this.tx.syncFacts.deferred(repository, digest);
  }

  async applySync(ctx: WriteContext, plan: SyncPlan): Promise<SyncApplyResult> {
    return this.tx.applySync.immediate(ctx, plan);
  }

  async getCursor(): Promise<number | null> {
    const value = this.stmt.getState.get(CURSOR_KEY);
    return value === undefined ? null : Number(value);
  }

  async setCursor(cursor: number): Promise<void> {
    this.stmt.setState.run(CURSOR_KEY, String(cursor));
  }

  async parkItem(item: ParkedItemInput, cursor?: number): Promise<void> {
    this.tx.parkItem.immediate(item, cursor);
  }

  async parkedItems(): Promise<ParkedItem[]> {
    return this.stmt.parkedItems.all().map((row) => ({
      repository: row.repository,
      digest: row.digest,
      tag: row.tag,
      parentSeq: row.parent_seq,
      code: row.code,
      message: row.message,
      attempts: row.attempts,
      firstFailedAt: new Date(row.first_failed_at),
      nextAttemptAt: new Date(row.next_attempt_at),
    }));
  }

  async forgetParked(repository: string, digest: string): Promise<void> {
    this.stmt.deleteParked.run(repository, digest);
  }

  async pendingOutbox(limit: number): Promise<Change[]> {
    return this.stmt.localChangesSince.all(this.pushedMark(), pageLimit(limit)).map(toChange);
  }

  async outboxSize(): Promise<number> {
    return this.tx.outboxSize.deferred();
  }

  async markPushed(seq: number): Promise<void> {
    // The mark only moves forward: a stale caller can never make pushed writes pending again.
    if (seq > this.pushedMark()) this.stmt.setState.run(PUSHED_KEY, String(seq));
  }

  async recordPushed(change: Change, expectEcho: boolean): Promise<void> {
    this.tx.recordPushed.immediate(change, expectEcho);
  }

  async recordRejected(change: Change, failure: FailureInput): Promise<void> {
    this.tx.recordFailure.immediate(change, 'rejected', failure, null);
  }

  async parkOutboxChange(change: Change, failure: FailureInput & { nextAttemptAt: Date }): Promise<void> {
    this.tx.recordFailure.immediate(change, 'parked', failure, failure.nextAttemptAt.getTime());
  }

  async outboxFailures(): Promise<OutboxFailure[]> {
    return this.stmt.outboxFailures.all().map((row) => ({
      change: toChange({ seq: row.local_seq, repository: row.repository, kind: row.kind, tag: row.tag, digest: row.digest, media_type: row.media_type, at: row.changed_at }),
      state: row.state,
      code: row.code,
      message: row.message,
      attempts: row.attempts,
      failedAt: new Date(row.failed_at),
      nextAttemptAt: row.next_attempt_at === null ? null : new Date(row.next_attempt_at),
    }));
  }

  async oldestUnsettledLocalWrite(): Promise<number | null> {
    return this.stmt.oldestUnsettled.get(this.pushedMark()) ?? null;
  }

  async lastPushOrder(): Promise<number> {
    return Number(this.stmt.getState.get(PUSH_ORDER_KEY) ?? 0);
  }

  async noteParentHead(head: number, pushOrder: number): Promise<void> {
    this.stmt.noteParentHead.run(head, pushOrder);
  }

  async settleUnechoed(through: number): Promise<Change[]> {
    return this.tx.settleUnechoed.immediate(through).map(toChange);
  }

  async nextEchoDeadline(): Promise<number | null> {
    return this.stmt.nextEchoDeadline.get() ?? null;
  }

  async getState(key: AgentStateKey): Promise<string | null> {
    return this.stmt.getState.get(key) ?? null;
  }

  async setState(key: AgentStateKey, value: string): Promise<void> {
    this.stmt.setState.run(key, value);
  }

  private pushedMark(): number {
    return Number(this.stmt.getState.get(PUSHED_KEY) ?? 0);
  }

}

/**
 * A link used again within this long of its last refresh is not written again: a burst of HEADs
 * of one blob costs one write. Far below any sensible grace period.
 */
const TOUCH_SKIP_MS = 10_000;

interface LinkRow {
  repository: string;
  digest: string;
  size: number;
  refreshed_at: number;
}

function toBlobLink(row: LinkRow): BlobLink {
  return { repository: row.repository, digest: row.digest, size: row.size, refreshedAt: new Date(row.refreshed_at) };
}

/** How many of the manifests that hold on to a blob or child manifest a refused delete names. */
const REFERENCE_DETAIL_LIMIT = 5;
const CURSOR_KEY = SYNC_STATE_KEYS.cursor;
const PUSHED_KEY = SYNC_STATE_KEYS.outboxPushed;
/**
 * The order number given to the last push recorded in sync_echoes (push_order): it only grows,
 * so a head noted for earlier pushes never covers a later one.
 */
const PUSH_ORDER_KEY = SYNC_STATE_KEYS.pushOrder;
/** Refusals by the parent kept to report (the newest). */
const KEPT_REJECTIONS = 20;

export interface SqliteStoreOptions {
  /** Lower limits for tests; the reference's limits otherwise. */
  identityLimits?: Partial<IdentityLimits>;
  /** Connected registries per root (50 by default; tests lower it). */
  connectedRegistryLimit?: number;
  /** Milliseconds since the epoch for the times it records (change log, tags); tests move it with the gateway's. */
  clock?: () => number;
  /** Webhooks per registry (500 by default; tests lower it). */
  webhookLimit?: number;
}

type Statements = ReturnType<typeof prepareStatements>;
type Transactions = ReturnType<typeof prepareTransactions>;

/**
 * One write transaction in progress: its context (who writes, the cursor to store) and what it
 * has done so far. Every step takes it as an argument, so nothing of a write lives outside it.
 */
class TxWrite {
  readonly changes: Change[] = [];
  readonly linked: WriteOutcome['linked'] = [];
  constructor(readonly ctx: WriteContext, readonly now: number) {}

  get outcome(): WriteOutcome {
    return { changes: this.changes, linked: this.linked };
  }
}

/** The write (and multi-statement read) transactions, built once over the prepared statements. */
function prepareTransactions(db: Database.Database, stmt: Statements, clock: () => number) {
  const pushedMark = (): number => Number(stmt.getState.get(PUSHED_KEY) ?? 0);

  const appendChange = (w: TxWrite, repository: string, kind: ChangeKind, tag: string | null, digest: string | null, mediaType: string | null): void => {
    const request = w.ctx.request ? JSON.stringify(w.ctx.request) : null;
    // Every row of one write names the write's first row (which names none): one write, one notification.
    const writeId = w.changes[0]?.seq ?? null;
    const seq = Number(stmt.appendChange.run(repository, kind, tag, digest, mediaType, w.now, w.ctx.origin, w.ctx.actor, request, writeId).lastInsertRowid);
    w.changes.push({ seq, repository, kind, tag, digest, mediaType, at: new Date(w.now) });
  };

  /**
   * A write transaction (IMMEDIATE): runs `body` under the caller's context, stores the context's
   * cursor (when given) in the same transaction, and returns what the body did.
   */
  const writeTx = <A extends unknown[]>(body: (w: TxWrite, ...args: A) => void) => {
    const tx = db.transaction((ctx: WriteContext, args: A): WriteOutcome => {
      const w = new TxWrite(ctx, clock());
      body(w, ...args);
      if (ctx.cursor !== undefined) stmt.setState.run(CURSOR_KEY, String(ctx.cursor));
      return w.outcome;
    });
    return (ctx: WriteContext, ...args: A): WriteOutcome => tx.immediate(ctx, args);
  };

  const ensureRepository = (repository: string, now: number): number => {
    const id = stmt.repositoryId.get(repository);
    if (id !== undefined) return id;
    return Number(stmt.insertRepository.run(repository, now).lastInsertRowid);
  };

  // --- the plain operations, each a step of a transaction --------------------------------------

  const linkBlobs = (w: TxWrite, repository: string, links: Record<string, number>): void => {
    const entries = Object.entries(links);
    if (entries.length === 0) return;
    const id = ensureRepository(repository, w.now);
    for (const [digest, size] of entries) {
      if (stmt.insertBlobLink.run(id, digest, size, w.now, w.now).changes === 1) w.linked.push({ repository, digest, size });
      // Linked again (an upload or mount of a blob the repository has): the grace runs from now.
      else stmt.refreshLink.run(w.now, id, digest, w.now - TOUCH_SKIP_MS);
    }
  };

  const putManifest = (w: TxWrite, input: PutManifestInput): void => {
    const blobs = [...new Set(input.blobs)];
    const children = [...new Set(input.manifests)];
    // Blobs to link in this same transaction (the sync agent's commits: one fsync, not one per blob).
    if (input.blobLinks !== undefined) linkBlobs(w, input.repository, input.blobLinks);
    const existingId = stmt.repositoryId.get(input.repository);

    // Check every reference before writing anything, so a rejected push leaves no trace even
    // before the rollback; the error lists all missing digests at once, blobs first.
    const missing = existingId === undefined
      ? [...blobs, ...children]
      : [
        ...(blobs.length > 0 ? stmt.missingBlobs.all(JSON.stringify(blobs), existingId) : []),
        ...(children.length > 0 ? stmt.missingManifests.all(JSON.stringify(children), existingId) : []),
      ];
    if (missing.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN',
        `manifest ${input.digest} references ${missing.length} blob(s) or manifest(s) unknown to repository ${input.repository}`,
        { missing });
    }
    // Every reference is here now; each descriptor's size must be what is stored (the root's
    // PUT and an edge's pulled commit both come through here).
    if (existingId !== undefined && input.declaredSizes !== undefined) {
      const sizesOf = (digests: string[]): string => JSON.stringify(Object.fromEntries(
        digests.filter((d) => input.declaredSizes![d] !== undefined).map((d) => [d, input.declaredSizes![d]])));
      const mismatched = [
        ...(blobs.length > 0 ? stmt.blobSizeMismatches.all(sizesOf(blobs), existingId) : []),
        ...(children.length > 0 ? stmt.manifestSizeMismatches.all(sizesOf(children), existingId) : []),
      ];
      if (mismatched.length > 0) {
        throw new RegistryError('MANIFEST_INVALID',
          `manifest ${input.digest} declares ${mismatched.length} size(s) that differ from the stored content: ${mismatched.map((m) => `${m.digest} is ${m.stored} bytes, not ${m.declared}`).slice(0, 3).join('; ')}`,
          { mismatched });
      }
    }

    const repositoryId = existingId ?? ensureRepository(input.repository, w.now);
    const inserted = stmt.insertManifest.run(repositoryId, input.digest, input.mediaType, input.size,
      input.artifactType, input.subject, input.annotations === null ? null : JSON.stringify(input.annotations), w.now);

    let mediaType = input.mediaType;
    if (inserted.changes === 1) {
      for (const blob of blobs) stmt.insertManifestBlob.run(repositoryId, input.digest, blob);
      for (const child of children) stmt.insertManifestChild.run(repositoryId, input.digest, child);
      appendChange(w, input.repository, 'manifest', null, input.digest, mediaType);
    } else {
      // Same digest means same bytes; the first row stays, and the tag change reports its type.
      mediaType = stmt.manifestMediaType.get(repositoryId, input.digest) ?? mediaType;
    }
    if (input.tag !== undefined) {
      const previous = stmt.tagDigest.get(repositoryId, input.tag);
      if (previous !== input.digest) {
        stmt.upsertTag.run(repositoryId, input.tag, input.digest, w.now);
        // The tag moved off `previous`: its retention age counts from now.
        if (previous !== undefined) stmt.markUntagged.run(w.now, repositoryId, previous);
        appendChange(w, input.repository, 'tag', input.tag, input.digest, mediaType);
      }
    }
  };

  /** `whenReferenced`: `refuse` throws BLOB_REFERENCED (a client's delete); `keep` leaves the link (a parent's delete). */
  const unlinkBlob = (w: TxWrite, repository: string, digest: string, whenReferenced: 'refuse' | 'keep'): void => {
    const id = stmt.repositoryId.get(repository);
    if (id === undefined) return;
    if (whenReferenced === 'keep' && stmt.blobReferenced.get(id, digest) !== undefined) return;
    if (stmt.deleteBlobLink.run(id, digest).changes === 0) return;
    // Checked in the same transaction as the unlink (the throw rolls it back), so no manifest
    // put can slip in between: a manifest of the repository never points at an unlinked blob.
    const users = stmt.manifestsUsingBlob.all(id, digest, REFERENCE_DETAIL_LIMIT);
    if (users.length > 0) {
      const count = users[0]!.total;
      throw new RegistryError('BLOB_REFERENCED',
        `blob ${digest} is used by ${count} manifest${count === 1 ? '' : 's'} of repository ${repository}; delete ${count === 1 ? 'it' : 'them'} first`,
        { digest, count, manifests: users.map((u) => u.digest) });
    }
    stmt.deleteRepositoryIfEmpty.run(id);
    appendChange(w, repository, 'blob-delete', null, digest, null);
  };

  /** Removes a tag and notes when it left its manifest (retention counts from then); false when there was none. */
  const removeTag = (w: TxWrite, repositoryId: number, tag: string): boolean => {
    const digest = stmt.deleteTag.get(repositoryId, tag);
    if (digest === undefined) return false;
    stmt.markUntagged.run(w.now, repositoryId, digest);
    return true;
  };

  const deleteTag = (w: TxWrite, repository: string, tag: string): void => {
    const id = stmt.repositoryId.get(repository);
    if (id === undefined) return;
    if (!removeTag(w, id, tag)) return;
    appendChange(w, repository, 'tag-delete', tag, null, null);
  };

  /**
   * `whenListed`: `refuse` throws MANIFEST_REFERENCED when an index of the repository lists the
   * manifest (a client may not break an index); `delete` deletes it anyway (the parent decided).
   */
  const deleteManifest = (w: TxWrite, repository: string, digest: string, whenListed: 'refuse' | 'delete'): void => {
    const id = stmt.repositoryId.get(repository);
    if (id === undefined) return;
    // Foreign keys cascade to the manifest's tags, blob references and child references; its
    // referrer entry is its own subject column, gone with the row.
    if (stmt.deleteManifest.run(id, digest).changes === 0) return;
    if (whenListed === 'refuse') {
      // The throw rolls the delete back.
      const indexes = stmt.indexesListing.all(id, digest, REFERENCE_DETAIL_LIMIT);
      if (indexes.length > 0) {
        const count = indexes[0]!.total;
        throw new RegistryError('MANIFEST_REFERENCED',
          `manifest ${digest} is listed by ${count} ${count === 1 ? 'index' : 'indexes'} of repository ${repository}; delete ${count === 1 ? 'it' : 'them'} first`,
          { digest, count, manifests: indexes.map((i) => i.digest) });
      }
    }
    appendChange(w, repository, 'manifest-delete', null, digest, null);
    stmt.deleteRepositoryIfEmpty.run(id);
  };

  const deleteRepository = (w: TxWrite, repository: string): void => {
    // Cascades to blob links, manifests and through them to tags and references.
    if (stmt.deleteRepository.run(repository).changes === 0) return;
    appendChange(w, repository, 'repository-delete', null, null, null);
  };

  /**
   * Everything of a repository but the given tags and manifests (and what those manifests list,
   * recursively) goes — each tag and manifest with its own change row, so this node's children
   * follow exactly. Blob links stay for the sweep.
   */
  const deleteRepositoryExcept = (w: TxWrite, repository: string, tags: string[], manifests: string[]): void => {
    const id = stmt.repositoryId.get(repository);
    if (id === undefined) return;
    for (const tag of stmt.tagsExcept.all(id, JSON.stringify(tags))) {
      removeTag(w, id, tag);
      appendChange(w, repository, 'tag-delete', tag, null, null);
    }
    for (const digest of stmt.manifestsExcept.all(JSON.stringify(manifests), id, id)) {
      stmt.deleteManifest.run(id, digest);
      appendChange(w, repository, 'manifest-delete', null, digest, null);
    }
  };

  const runSyncOp = (w: TxWrite, repository: string, op: SyncOp): void => {
    switch (op.op) {
      case 'settle-echoes':
        stmt.settleEchoesThrough.run(op.throughPushOrder);
        return;
      case 'drop-parked-tag':
        stmt.dropParkedTag.run(repository, op.tag, op.exceptDigest ?? '');
        return;
      case 'forget-parked':
        if (op.digest === null) stmt.deleteParkedOfRepository.run(repository);
        else stmt.deleteParked.run(repository, op.digest);
        return;
      case 'link-blobs':
        linkBlobs(w, repository, op.links);
        return;
      case 'put-manifest':
        if (op.input.repository !== repository) throw new Error(`a sync plan for ${repository} puts a manifest of ${op.input.repository}`);
        putManifest(w, op.input);
        return;
      case 'delete-tag':
        deleteTag(w, repository, op.tag);
        return;
      case 'delete-manifest':
        deleteManifest(w, repository, op.digest, 'delete');
        return;
      case 'delete-repository':
        deleteRepository(w, repository);
        return;
      case 'delete-repository-except':
        deleteRepositoryExcept(w, repository, op.tags, op.manifests);
        return;
      case 'unlink-blob':
        unlinkBlob(w, repository, op.digest, 'keep');
        return;
    }
  };

  // --- sync: facts, plans, parked items, the outbox ----------------------------------------------

  const syncFacts = db.transaction((repository: string, digest: string | null): SyncFacts => ({
    repository,
    // sqlite_sequence: every change committed later has a greater seq (writes are serialized).
    basis: stmt.lastChangeSeq.get() ?? 0,
    unsettled: stmt.unsettledOf.all(repository, pushedMark()).map((row) => ({ change: toChange(row), pushOrder: row.push_order })),
    manifestPresent: digest === null ? null : stmt.getManifest.get(repository, digest) !== undefined,
  }));

  const applySync = db.transaction((ctx: WriteContext, plan: SyncPlan): SyncApplyResult => {
    // The optimistic check: a local write to the repository committed since the facts were read
    // may protect what the plan touches. Checked inside the write transaction, so none can slip in.
    if (stmt.localWriteSince.get(plan.basis, plan.repository) !== undefined) return { committed: false };
    const w = new TxWrite(ctx, clock());
    for (const op of plan.ops) runSyncOp(w, plan.repository, op);
    if (ctx.cursor !== undefined) stmt.setState.run(CURSOR_KEY, String(ctx.cursor));
    return { committed: true, outcome: w.outcome };
  });

  const parkItem = db.transaction((item: ParkedItemInput, cursor: number | undefined): void => {
    stmt.upsertParked.run(item.repository, item.digest, item.tag, item.parentSeq, item.code, item.message.slice(0, 1000),
      item.attempts, item.failedAt.getTime(), item.nextAttemptAt.getTime());
    if (cursor !== undefined) stmt.setState.run(CURSOR_KEY, String(cursor));
  });

  const moveMark = (seq: number): void => {
    if (seq > pushedMark()) stmt.setState.run(PUSHED_KEY, String(seq));
  };

  const manifestGraph = db.transaction((repository: string): ManifestGraph | null => {
    const basis = stmt.lastChangeSeq.get() ?? 0;
    const id = stmt.repositoryId.get(repository);
    if (id === undefined) return null;
    const children = new Map<string, string[]>();
    for (const edge of stmt.childEdges.all(id)) {
      const list = children.get(edge.parent_digest);
      if (list) list.push(edge.child_digest);
      else children.set(edge.parent_digest, [edge.child_digest]);
    }
    const manifests = stmt.retentionRows.all(id).map((row) => ({
      digest: row.digest,
      tagged: row.tagged === 1,
      subject: row.subject,
      children: children.get(row.digest) ?? [],
      createdAt: new Date(row.created_at),
      untaggedAt: row.untagged_at === null ? null : new Date(row.untagged_at),
    }));
    return { repository, basis, manifests };
  });

  const deleteManifestsIfUnchanged = db.transaction((ctx: WriteContext, repository: string, digests: readonly string[], basis: number): GuardedWriteResult => {
    // Checked inside the write transaction: a tag set or a push committed since the facts were
    // read may protect what the decision would delete.
    if (stmt.changeSince.get(basis, repository) !== undefined) return { committed: false };
    const w = new TxWrite(ctx, clock());
    for (const digest of digests) deleteManifest(w, repository, digest, 'refuse');
    return { committed: true, outcome: w.outcome };
  });

  const listTags = db.transaction((repository: string, last: string, limit: number): string[] | null => {
    const id = stmt.repositoryId.get(repository);
    if (id === undefined) return null;
    return limit === 0 ? [] : stmt.listTags.all(id, last, limit);
  });

  const outboxSize = db.transaction((): number =>
    (stmt.countLocalChangesSince.get(pushedMark()) ?? 0) + (stmt.countParkedOutbox.get() ?? 0));

  const recordPushed = db.transaction((change: Change, expectEcho: boolean): void => {
    moveMark(change.seq);
    stmt.deleteOutboxFailure.run(change.seq);
    // Refusals and local failures of earlier writes of the same tag or manifest are superseded.
    stmt.deleteSupersededFailures.run(change.repository, change.seq, change.tag, change.digest, change.kind === 'blob-delete' ? 1 : 0);
    if (expectEcho) {
      const order = Number(stmt.getState.get(PUSH_ORDER_KEY) ?? 0) + 1;
      stmt.setState.run(PUSH_ORDER_KEY, String(order));
      stmt.insertEcho.run(change.seq, order);
    }
  });

  const recordFailure = db.transaction((change: Change, state: 'parked' | 'rejected', failure: FailureInput, nextAttemptAt: number | null): void => {
    moveMark(change.seq);
    stmt.upsertOutboxFailure.run(change.seq, state, change.repository, change.kind, change.tag, change.digest, change.mediaType,
      change.at.getTime(), failure.code, failure.message.slice(0, 1000), failure.at.getTime(), nextAttemptAt);
    if (state === 'rejected') stmt.trimRejected.run(KEPT_REJECTIONS);
  });

  const settleUnechoed = db.transaction((through: number): ChangeRow[] => {
    const rows = stmt.unechoedThrough.all(through);
    stmt.deleteUnechoedThrough.run(through);
    return rows;
  });

  const referencedDigests = db.transaction((linksRefreshedAfter: number): Set<string> => {
    const digests = new Set<string>();
    for (const digest of stmt.manifestDigests.iterate()) digests.add(digest);
    for (const digest of stmt.manifestBlobDigests.iterate()) digests.add(digest);
    for (const digest of stmt.linkDigestsRefreshedAfter.iterate(linksRefreshedAfter)) digests.add(digest);
    return digests;
  });

  const sweepLinks = db.transaction((links: readonly BlobLinkKey[], cutoff: number): BlobLink[] => {
    const removed = stmt.sweepLinks.all(JSON.stringify(links.map((l) => ({ repository: l.repository, digest: l.digest }))), cutoff);
    const names = new Map<number, string>();
    for (const row of removed) {
      if (names.has(row.repository_id)) continue;
      names.set(row.repository_id, stmt.repositoryName.get(row.repository_id) ?? '');
      // A repository left with no manifest and no link is gone (no repository-delete row, as for an unlink).
      stmt.deleteRepositoryIfEmpty.run(row.repository_id);
    }
    return removed.map((row) => ({ repository: names.get(row.repository_id)!, digest: row.digest, size: row.size, refreshedAt: new Date(row.refreshed_at) }));
  });

  return {
    referencedDigests, sweepLinks,
    putManifest: writeTx(putManifest),
    linkBlobs: writeTx(linkBlobs),
    unlinkBlob: writeTx(unlinkBlob),
    deleteTag: writeTx(deleteTag),
    deleteManifest: writeTx(deleteManifest),
    deleteRepository: writeTx(deleteRepository),
    listTags, syncFacts, applySync, parkItem, outboxSize, recordPushed, recordFailure, settleUnechoed, manifestGraph, deleteManifestsIfUnchanged,
  };
}

/**
 * The sequence numbers of the unsettled local writes (SyncStore): after the pushed mark (the one
 * `?`), parked after a local failure, or pushed and awaiting their echo. A range scan of the few
 * rows after the mark plus two small tables, looked up by primary key, so the check does not scan
 * a long log of settled local writes.
 */
const UNSETTLED_SEQS = `(SELECT seq FROM changes WHERE origin = 'local' AND seq > ?
  UNION ALL SELECT local_seq FROM sync_echoes
  UNION ALL SELECT local_seq FROM sync_outbox_failures WHERE state = 'parked')`;

interface ParkedRow {
  repository: string;
  digest: string;
  tag: string | null;
  parent_seq: number | null;
  code: string;
  message: string;
  attempts: number;
  first_failed_at: number;
  next_attempt_at: number;
}

interface OutboxFailureRow {
  local_seq: number;
  state: 'parked' | 'rejected';
  repository: string;
  kind: ChangeKind;
  tag: string | null;
  digest: string | null;
  media_type: string | null;
  changed_at: number;
  code: string;
  message: string;
  attempts: number;
  failed_at: number;
  next_attempt_at: number | null;
}

/** Every statement, prepared once per connection. Result types are declared per statement. */
function prepareStatements(db: Database.Database) {
  return {
    repositoryId: db.prepare<[string], number>('SELECT id FROM repositories WHERE name = ?').pluck(),
    insertRepository: db.prepare<[string, number], void>('INSERT INTO repositories (name, created_at) VALUES (?, ?)'),
    listRepositories: db.prepare<[string, number], string>(
      'SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?').pluck(),
    deleteRepository: db.prepare<[string], void>('DELETE FROM repositories WHERE name = ?'),
    deleteRepositoryIfEmpty: db.prepare<[number], void>(`DELETE FROM repositories WHERE id = ?
      AND NOT EXISTS (SELECT 1 FROM manifests WHERE repository_id = repositories.id)
      AND NOT EXISTS (SELECT 1 FROM repository_blobs WHERE repository_id = repositories.id)`),

    insertBlobLink: db.prepare<[number, string, number, number, number], void>(`INSERT INTO repository_blobs
      (repository_id, digest, size, created_at, refreshed_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
    // A link used again: garbage collection's grace runs from now (skipped when refreshed moments ago).
    refreshLink: db.prepare<[number, number, string, number], void>(
      'UPDATE repository_blobs SET refreshed_at = ? WHERE repository_id = ? AND digest = ? AND refreshed_at < ?'),
    touchLink: db.prepare<[number, string, string, number], void>(`UPDATE repository_blobs SET refreshed_at = ?
      WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ? AND refreshed_at < ?`),
    blobLinkSize: db.prepare<[string, string], number>(`SELECT b.size FROM repository_blobs b
      JOIN repositories r ON r.id = b.repository_id WHERE r.name = ? AND b.digest = ?`).pluck(),
    blobLinksOf: db.prepare<[string, string, number], { repository: string; size: number }>(`SELECT r.name AS repository, b.size
      FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id WHERE b.digest = ? AND r.name > ?
      ORDER BY r.name LIMIT ?`),
    deleteBlobLink: db.prepare<[number, string], void>('DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?'),
    // The first few users of a blob or child manifest, each row with the count of all of them.
    manifestsUsingBlob: db.prepare<[number, string, number], { digest: string; total: number }>(`SELECT manifest_digest AS digest,
      count(*) OVER () AS total FROM manifest_blobs WHERE repository_id = ? AND blob_digest = ? ORDER BY manifest_digest LIMIT ?`),
    indexesListing: db.prepare<[number, string, number], { digest: string; total: number }>(`SELECT parent_digest AS digest,
      count(*) OVER () AS total FROM manifest_children WHERE repository_id = ? AND child_digest = ? ORDER BY parent_digest LIMIT ?`),

    // The digests arrive as one JSON array so the check is one statement however many layers;
    // ORDER BY key keeps the caller's order in the error detail.
    missingBlobs: db.prepare<[string, number], string>(`SELECT j.value FROM json_each(?) j
      WHERE NOT EXISTS (SELECT 1 FROM repository_blobs b WHERE b.repository_id = ? AND b.digest = j.value)
      ORDER BY j.key`).pluck(),
    missingManifests: db.prepare<[string, number], string>(`SELECT j.value FROM json_each(?) j
      WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = ? AND m.digest = j.value)
      ORDER BY j.key`).pluck(),
    // Declared sizes arrive as one JSON object {digest: size}; rows are the descriptors whose size is not what is stored.
    blobSizeMismatches: db.prepare<[string, number], SizeMismatch>(`SELECT j.key AS digest, j.value AS declared, b.size AS stored
      FROM json_each(?) j JOIN repository_blobs b ON b.repository_id = ? AND b.digest = j.key WHERE b.size <> j.value ORDER BY j.id`),
    manifestSizeMismatches: db.prepare<[string, number], SizeMismatch>(`SELECT j.key AS digest, j.value AS declared, m.size AS stored
      FROM json_each(?) j JOIN manifests m ON m.repository_id = ? AND m.digest = j.key WHERE m.size <> j.value ORDER BY j.id`),
    insertManifest: db.prepare<[number, string, string, number, string | null, string | null, string | null, number], void>(
      `INSERT INTO manifests (repository_id, digest, media_type, size, artifact_type, subject, annotations, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
    insertManifestBlob: db.prepare<[number, string, string], void>(
      'INSERT INTO manifest_blobs (repository_id, manifest_digest, blob_digest) VALUES (?, ?, ?)'),
    insertManifestChild: db.prepare<[number, string, string], void>(
      'INSERT INTO manifest_children (repository_id, parent_digest, child_digest) VALUES (?, ?, ?)'),
    manifestMediaType: db.prepare<[number, string], string>(
      'SELECT media_type FROM manifests WHERE repository_id = ? AND digest = ?').pluck(),
    getManifest: db.prepare<[string, string], ManifestRow>(`SELECT ${MANIFEST_COLUMNS} FROM manifests m
      JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? AND m.digest = ?`),
    deleteManifest: db.prepare<[number, string], void>('DELETE FROM manifests WHERE repository_id = ? AND digest = ?'),
    listReferrers: db.prepare<[string, string], ManifestRow>(`SELECT ${MANIFEST_COLUMNS} FROM manifests m
      JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? AND m.subject = ?
      ORDER BY m.created_at, m.digest`),
    listReferrersOfType: db.prepare<[string, string, string], ManifestRow>(`SELECT ${MANIFEST_COLUMNS} FROM manifests m
      JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? AND m.subject = ? AND m.artifact_type = ?
      ORDER BY m.created_at, m.digest`),

    resolveTag: db.prepare<[string, string], string>(`SELECT t.digest FROM tags t
      JOIN repositories r ON r.id = t.repository_id WHERE r.name = ? AND t.name = ?`).pluck(),
    tagDigest: db.prepare<[number, string], string>('SELECT digest FROM tags WHERE repository_id = ? AND name = ?').pluck(),
    upsertTag: db.prepare<[number, string, string, number], void>(`INSERT INTO tags (repository_id, name, digest, updated_at)
      VALUES (?, ?, ?, ?) ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`),
    listTags: db.prepare<[number, string, number], string>(
      'SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?').pluck(),
    // RETURNING: the manifest the tag left (its untagged_at is set next).
    deleteTag: db.prepare<[number, string], string>('DELETE FROM tags WHERE repository_id = ? AND name = ? RETURNING digest').pluck(),
    markUntagged: db.prepare<[number, number, string], void>('UPDATE manifests SET untagged_at = ? WHERE repository_id = ? AND digest = ?'),

    appendChange: db.prepare<[string, ChangeKind, string | null, string | null, string | null, number, ChangeOrigin, string | null, string | null, number | null], void>(
      'INSERT INTO changes (repository, kind, tag, digest, media_type, at, origin, actor, request, write_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    setState: db.prepare<[string, string], void>(
      'INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    getState: db.prepare<[string], string>('SELECT value FROM sync_state WHERE key = ?').pluck(),
    localChangesSince: db.prepare<[number, number], ChangeRow>(
      "SELECT seq, repository, kind, tag, digest, media_type, at FROM changes WHERE origin = 'local' AND seq > ? ORDER BY seq LIMIT ?"),
    countLocalChangesSince: db.prepare<[number], number>("SELECT count(*) FROM changes WHERE origin = 'local' AND seq > ?").pluck(),
    // The unsettled local writes of a repository (UNSETTLED_SEQS), with their push order while they await their echo.
    unsettledOf: db.prepare<[string, number], ChangeRow & { push_order: number | null }>(`SELECT c.seq, c.repository, c.kind, c.tag,
      c.digest, c.media_type, c.at, e.push_order FROM changes c LEFT JOIN sync_echoes e ON e.local_seq = c.seq
      WHERE c.origin = 'local' AND c.repository = ? AND c.seq IN ${UNSETTLED_SEQS} ORDER BY c.seq`),
    // A local write of the repository committed after `basis` (the optimistic check of applySync): a range of the newest rows.
    localWriteSince: db.prepare<[number, string], number>(
      "SELECT 1 FROM changes WHERE origin = 'local' AND seq > ? AND repository = ? LIMIT 1").pluck(),
    tagsExcept: db.prepare<[number, string], string>(
      'SELECT name FROM tags WHERE repository_id = ? AND name NOT IN (SELECT value FROM json_each(?)) ORDER BY name').pluck(),
    // The given manifests, and those they list (recursively), are kept.
    manifestsExcept: db.prepare<[string, number, number], string>(`WITH RECURSIVE keep (digest) AS (
        SELECT value FROM json_each(?)
        UNION SELECT c.child_digest FROM manifest_children c JOIN keep k ON c.parent_digest = k.digest WHERE c.repository_id = ?)
      SELECT digest FROM manifests WHERE repository_id = ? AND digest NOT IN (SELECT digest FROM keep) ORDER BY digest`).pluck(),
    blobReferenced: db.prepare<[number, string], number>(
      'SELECT 1 FROM manifest_blobs WHERE repository_id = ? AND blob_digest = ? LIMIT 1').pluck(),

    // Echoes of pushed local writes (sync_echoes).
    settleEchoesThrough: db.prepare<[number], void>('DELETE FROM sync_echoes WHERE push_order <= ?'),
    insertEcho: db.prepare<[number, number], void>(`INSERT INTO sync_echoes (local_seq, push_order, parent_head) VALUES (?, ?, NULL)
      ON CONFLICT (local_seq) DO UPDATE SET push_order = excluded.push_order, parent_head = NULL`),
    noteParentHead: db.prepare<[number, number], void>(
      'UPDATE sync_echoes SET parent_head = ? WHERE parent_head IS NULL AND push_order <= ?'),
    unechoedThrough: db.prepare<[number], ChangeRow>(`SELECT c.seq, c.repository, c.kind, c.tag, c.digest, c.media_type, c.at
      FROM sync_echoes e JOIN changes c ON c.seq = e.local_seq WHERE e.parent_head IS NOT NULL AND e.parent_head <= ? ORDER BY e.push_order`),
    deleteUnechoedThrough: db.prepare<[number], void>('DELETE FROM sync_echoes WHERE parent_head IS NOT NULL AND parent_head <= ?'),
    nextEchoDeadline: db.prepare<[], number | null>('SELECT min(parent_head) FROM sync_echoes').pluck(),
    oldestUnsettled: db.prepare<[number], number | null>(`SELECT min(s) FROM (
        SELECT min(seq) AS s FROM changes WHERE origin = 'local' AND seq > ?
        UNION ALL SELECT min(local_seq) FROM sync_echoes
        UNION ALL SELECT min(local_seq) FROM sync_outbox_failures WHERE state = 'parked')`).pluck(),

    // Parked pull items (sync_parked).
    upsertParked: db.prepare<[string, string, string | null, number | null, string, string, number, number, number], void>(
      `INSERT INTO sync_parked (repository, digest, tag, parent_seq, code, message, attempts, first_failed_at, next_attempt_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository, digest) DO UPDATE SET
        tag = coalesce(excluded.tag, sync_parked.tag), parent_seq = coalesce(excluded.parent_seq, sync_parked.parent_seq),
        code = excluded.code, message = excluded.message, attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at`),
    parkedItems: db.prepare<[], ParkedRow>('SELECT * FROM sync_parked ORDER BY first_failed_at, repository, digest'),
    deleteParked: db.prepare<[string, string], void>('DELETE FROM sync_parked WHERE repository = ? AND digest = ?'),
    deleteParkedOfRepository: db.prepare<[string], void>('DELETE FROM sync_parked WHERE repository = ?'),
    dropParkedTag: db.prepare<[string, string, string], void>(
      'UPDATE sync_parked SET tag = NULL WHERE repository = ? AND tag = ? AND digest <> ?'),

    // Local writes that failed here or that the parent refused (sync_outbox_failures).
    upsertOutboxFailure: db.prepare<[number, string, string, ChangeKind, string | null, string | null, string | null, number, string, string, number, number | null], void>(
      `INSERT INTO sync_outbox_failures (local_seq, state, repository, kind, tag, digest, media_type, changed_at, code, message, attempts, failed_at, next_attempt_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (local_seq) DO UPDATE SET state = excluded.state, code = excluded.code,
        message = excluded.message, attempts = sync_outbox_failures.attempts + 1, failed_at = excluded.failed_at, next_attempt_at = excluded.next_attempt_at`),
    outboxFailures: db.prepare<[], OutboxFailureRow>('SELECT * FROM sync_outbox_failures ORDER BY local_seq'),
    countParkedOutbox: db.prepare<[], number>("SELECT count(*) FROM sync_outbox_failures WHERE state = 'parked'").pluck(),
    deleteOutboxFailure: db.prepare<[number], void>('DELETE FROM sync_outbox_failures WHERE local_seq = ?'),
    deleteSupersededFailures: db.prepare<[string, number, string | null, string | null, number], void>(`DELETE FROM sync_outbox_failures
      WHERE repository = ? AND local_seq < ? AND ((tag IS NOT NULL AND tag = ?)
        OR (digest IS NOT NULL AND digest = ? AND (kind = 'blob-delete') = ?))`),
    trimRejected: db.prepare<[number], void>(`DELETE FROM sync_outbox_failures WHERE state = 'rejected' AND local_seq NOT IN
      (SELECT local_seq FROM sync_outbox_failures WHERE state = 'rejected' ORDER BY local_seq DESC LIMIT ?)`),
    changeCountsSince: db.prepare<[number], { repository: string; count: number }>(
      'SELECT repository, count(*) AS count FROM changes WHERE seq > ? GROUP BY repository'),

    changesSince: db.prepare<[number, number], ChangeRow>(
      'SELECT seq, repository, kind, tag, digest, media_type, at FROM changes WHERE seq > ? ORDER BY seq LIMIT ?'),
    // sqlite_sequence remembers the highest seq ever handed out, even once old rows are pruned.
    lastChangeSeq: db.prepare<[], number>("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").pluck(),
    firstChangeNotBefore: db.prepare<[number], number>('SELECT seq FROM changes WHERE at >= ? ORDER BY seq LIMIT 1').pluck(),
    deleteChangesBefore: db.prepare<[number], void>('DELETE FROM changes WHERE seq < ?'),

    // Retention's facts (manifestGraph).
    retentionRows: db.prepare<[number], { digest: string; subject: string | null; created_at: number; untagged_at: number | null; tagged: number }>(
      `SELECT m.digest, m.subject, m.created_at, m.untagged_at,
        EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest) AS tagged
      FROM manifests m WHERE m.repository_id = ? ORDER BY m.digest`),
    childEdges: db.prepare<[number], { parent_digest: string; child_digest: string }>(
      'SELECT parent_digest, child_digest FROM manifest_children WHERE repository_id = ?'),
    // Any change to the repository committed after `basis` (a range of the newest rows).
    changeSince: db.prepare<[number, string], number>('SELECT 1 FROM changes WHERE seq > ? AND repository = ? LIMIT 1').pluck(),
    // Every digest once across the registry (a blob linked to two repositories is stored once).
    storedUsage: db.prepare<[], { repositories: number; manifests: number; blobs: number; size: number }>(`SELECT
      (SELECT count(*) FROM repositories) AS repositories,
      (SELECT count(*) FROM manifests) AS manifests,
      (SELECT count(DISTINCT digest) FROM repository_blobs) AS blobs,
      (SELECT coalesce(sum(size), 0) FROM (SELECT digest, max(size) AS size FROM
        (SELECT digest, size FROM repository_blobs UNION ALL SELECT digest, size FROM manifests) GROUP BY digest)) AS size`),

    referencedDigests: db.prepare<[], string>(`SELECT digest FROM manifests
      UNION SELECT blob_digest FROM manifest_blobs
      UNION SELECT digest FROM repository_blobs`).pluck(),
    // Garbage collection (docs/architecture.md, "Garbage collection"): the mark, one query per source.
    manifestDigests: db.prepare<[], string>('SELECT DISTINCT digest FROM manifests').pluck(),
    manifestBlobDigests: db.prepare<[], string>('SELECT DISTINCT blob_digest FROM manifest_blobs').pluck(),
    linkDigestsRefreshedAfter: db.prepare<[number], string>('SELECT DISTINCT digest FROM repository_blobs WHERE refreshed_at > ?').pluck(),
    // The re-check under the sweep's claim: which of the digests (a JSON array) anything names now.
    referencedAmong: db.prepare<[string], string>(`SELECT j.value FROM json_each(?) j
      WHERE EXISTS (SELECT 1 FROM manifests WHERE digest = j.value)
        OR EXISTS (SELECT 1 FROM manifest_blobs WHERE blob_digest = j.value)
        OR EXISTS (SELECT 1 FROM repository_blobs WHERE digest = j.value)`).pluck(),
    // Links no manifest of their repository uses, not refreshed after the cutoff: a page after (name, digest).
    unreferencedLinks: db.prepare<[string, string, string, number, number], LinkRow>(`SELECT r.name AS repository, b.digest, b.size, b.refreshed_at
      FROM repositories r JOIN repository_blobs b ON b.repository_id = r.id
      WHERE (r.name > ? OR (r.name = ? AND b.digest > ?)) AND b.refreshed_at <= ?
        AND NOT EXISTS (SELECT 1 FROM manifest_blobs m WHERE m.repository_id = b.repository_id AND m.blob_digest = b.digest)
      ORDER BY r.name, b.digest LIMIT ?`),
    // One statement per batch (a JSON array of {repository, digest}): the same conditions checked again as it deletes.
    sweepLinks: db.prepare<[string, number], { repository_id: number; digest: string; size: number; refreshed_at: number }>(`DELETE FROM repository_blobs
      WHERE (repository_id, digest) IN (SELECT r.id, j.value ->> 'digest' FROM json_each(?) j JOIN repositories r ON r.name = j.value ->> 'repository')
        AND refreshed_at <= ?
        AND NOT EXISTS (SELECT 1 FROM manifest_blobs m WHERE m.repository_id = repository_blobs.repository_id AND m.blob_digest = repository_blobs.digest)
      RETURNING repository_id, digest, size, refreshed_at`),
    repositoryName: db.prepare<[number], string>('SELECT name FROM repositories WHERE id = ?').pluck(),
  };
}

/** A page size as SQLite needs it: LIMIT with a negative value would mean "no limit". */
function pageLimit(limit: number): number {
  return Number.isFinite(limit) && limit > 0 ? Math.floor(limit) : 0;
}

function toManifestRecord(row: ManifestRow): ManifestRecord {
  return {
    repository: row.repository,
    digest: row.digest,
    mediaType: row.media_type,
    size: row.size,
    artifactType: row.artifact_type,
    subject: row.subject,
    annotations: row.annotations === null ? null : parseAnnotations(row.annotations),
    createdAt: new Date(row.created_at),
  };
}

function parseAnnotations(text: string): Record<string, string> {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('stored manifest annotations are not a JSON object');
  }
  const annotations: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry === 'string') annotations[key] = entry;
  }
  return annotations;
}

