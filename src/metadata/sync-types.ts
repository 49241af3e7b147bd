import type { Change, PutManifestInput } from './types.js';

/**
 * The child side of sync on the metadata database (docs/architecture.md, "Connected node and sync agent"). Writes through here come from
 * the parent: their change rows are marked `sync`, so they are served to this node's own children
 * but never pushed back up. Each apply method stores the parent `cursor` (when given) in the same
 * transaction as its effect, so a restart resumes exactly after the last applied message.
 *
 * Read-your-writes: a local write by a client of this node is **unsettled** until the parent's
 * log is known to have passed it — while it waits in the outbox (after the pushed mark), while
 * it is parked after a local failure, and after it went up until its echo (the parent's change
 * row for it) comes back in the messages. The apply methods leave alone (in the same
 * transaction) anything an unsettled write touches: a tag it sets or deletes, a manifest it
 * stores or deletes, a repository it writes to, a blob it unlinks. A parent message is older
 * than such a write in the parent's order, since the write's echo, which the parent appended
 * after it, has not come yet. Once it is settled, the parent's order wins.
 *
 * An apply given a `cursor` is a parent message: it first settles the local write it echoes (the
 * oldest pushed write of the same kind, repository, tag and digest), and every write pushed
 * before that one (their echoes, had they any, came earlier).
 */
export interface SyncStore {
  /**
   * Stores a manifest from the parent (with its tag, when given). Same rules as putManifest;
   * blobLinks to a blob that an unsettled local blob-delete unlinked are left out. On success
   * (applied or left alone) a parked item of the same manifest is forgotten.
   */
  applyManifest(input: PutManifestInput, cursor?: number): Promise<void>;
  applyTagDelete(repository: string, tag: string, cursor?: number): Promise<void>;
  /** Deletes the manifest (see deleteManifest) and forgets a parked item of it. */
  applyManifestDelete(repository: string, digest: string, cursor?: number): Promise<void>;
  /** Deletes the repository (see deleteRepository) and forgets its parked items. */
  applyRepositoryDelete(repository: string, cursor?: number): Promise<void>;
  /** Unlinks a blob from the repository, unless a manifest here still references it. */
  applyBlobDelete(repository: string, digest: string, cursor?: number): Promise<void>;
  /** The parent sequence number applied last; null before the first full sync. */
  getCursor(): Promise<number | null>;
  setCursor(cursor: number): Promise<void>;

  // --- parked pull items ------------------------------------------------------------------
  /**
   * Parks a manifest the node could not complete, and stores `cursor` (when given) in the same
   * transaction, so the log moves on past it. An existing item of the same repository and digest
   * is updated in place (its first failure time is kept).
   */
  parkItem(item: ParkedItemInput, cursor?: number): Promise<void>;
  /** Every parked item, oldest failure first. */
  parkedItems(): Promise<ParkedItem[]>;
  /** Forgets a parked item (gone at the parent, out of scope). */
  forgetParked(repository: string, digest: string): Promise<void>;

  // --- the outbox (ReadWrite) ---------------------------------------------------------------
  /** Local writes not yet pushed to the parent (after the pushed mark), oldest first. Parked ones are not included. */
  pendingOutbox(limit: number): Promise<Change[]>;
  /** Local writes still to go up: those after the pushed mark and the parked ones. */
  outboxSize(): Promise<number>;
  /** Everything up to `seq` has reached the parent (moves the mark only; it never goes back). */
  markPushed(seq: number): Promise<void>;
  /**
   * `change` reached the parent: moves the mark past it, forgets a failure recorded for it and
   * for earlier writes of the same tag or manifest, and with `expectEcho` (the parent appended a
   * change for it) keeps it unsettled until its echo comes back.
   */
  recordPushed(change: Change, expectEcho: boolean): Promise<void>;
  /** The parent refused `change` for good: moves the mark past it and keeps the refusal to report (the newest few). */
  recordRejected(change: Change, failure: FailureInput): Promise<void>;
  /**
   * `change` failed here (content this node cannot read back): moves the mark past it, but it
   * stays unsettled and counted in the outbox, to be retried at `failure.nextAttemptAt`.
   */
  parkOutboxChange(change: Change, failure: FailureInput & { nextAttemptAt: Date }): Promise<void>;
  /** Parked and refused local writes, oldest first. */
  outboxFailures(): Promise<OutboxFailure[]>;
  /** Is a local write of this repository's tag (or of this manifest digest) still unsettled? */
  hasPendingLocalWrite(repository: string, tag: string | null, digest: string | null): Promise<boolean>;
  /** The oldest unsettled local write's seq, or null: the change log is never pruned from there on. */
  oldestUnsettledLocalWrite(): Promise<number | null>;
  /** The order number of the newest push awaiting its echo (0 when none ever): see noteParentHead. */
  lastPushOrder(): Promise<number>;
  /**
   * The parent answered a request sent after every push up to `pushOrder` had been accepted, with
   * its head `head`: those pushes' echoes are at or before `head`.
   */
  noteParentHead(head: number, pushOrder: number): Promise<void>;
  /**
   * Settles the pushed writes whose echoes would be at or before `through` but never came (the
   * parent already had what they wrote, so it appended nothing). Returns them: a parent message
   * on what they touch may have been left alone meanwhile, so the caller compares those with the
   * parent again.
   */
  settleUnechoed(through: number): Promise<Change[]>;
  /** The smallest parent head recorded for a push still awaiting its echo, or null. */
  nextEchoDeadline(): Promise<number | null>;

  /** The sync agent's small named values (SYNC_STATE_KEYS: instance id, applied config, handled resync, …). */
  getState(key: AgentStateKey): Promise<string | null>;
  setState(key: AgentStateKey, value: string): Promise<void>;
}

/**
 * Every key of the `sync_state` table, in one place. The store's own keys are written only
 * inside its transactions (with what they describe); the agent's go through getState/setState.
 */
export const SYNC_STATE_KEYS = {
  // --- the store's own ------------------------------------------------------------------------
  /** The parent sequence number applied last (stored with what it applied). */
  cursor: 'cursor',
  /** The outbox's pushed mark: every local change up to it has reached the parent (or was settled there). */
  outboxPushed: 'outbox-pushed',
  /** The order number of the newest push awaiting its echo (see noteParentHead). */
  pushOrder: 'push-order',
  // --- the sync agent's ------------------------------------------------------------------------
  /** The persistent id of this running instance, sent at activation and in every heartbeat. */
  instanceId: 'instance-id',
  /** The last config document applied, with its ETag (JSON): a restart while the parent is away starts from it. */
  config: 'config',
  /** The sync scope (sorted JSON list) the last config carried: a change of it asks for a full reconcile. */
  scope: 'scope',
  /** The root's last `resyncRequestedAt` already turned into a reconcile request. */
  resyncHandled: 'resync-handled',
  /** `pending` from a reconcile request (scope change, resync) until a full reconcile begun after it ends (`done`). */
  reconcile: 'reconcile',
} as const;

export type SyncStateKey = (typeof SYNC_STATE_KEYS)[keyof typeof SYNC_STATE_KEYS];
/** The keys only the store's transactions write. */
export type StoreStateKey = (typeof SYNC_STATE_KEYS)['cursor' | 'outboxPushed' | 'pushOrder'];
/** The keys the sync agent reads and writes through getState/setState. */
export type AgentStateKey = Exclude<SyncStateKey, StoreStateKey>;

export interface ParkedItemInput {
  repository: string;
  digest: string;
  /** The tag the parent's message moves onto it; null keeps the stored one (none when new). */
  tag: string | null;
  /** The parent message's sequence number; null for a reconcile or a retry. */
  parentSeq: number | null;
  /** The failure: an OCI code (the parent's answer or this registry's refusal). */
  code: string;
  message: string;
  attempts: number;
  failedAt: Date;
  nextAttemptAt: Date;
}

export interface ParkedItem {
  repository: string;
  digest: string;
  tag: string | null;
  parentSeq: number | null;
  code: string;
  message: string;
  attempts: number;
  firstFailedAt: Date;
  nextAttemptAt: Date;
}

export interface FailureInput {
  code: string;
  message: string;
  at: Date;
}

export interface OutboxFailure {
  change: Change;
  /** `parked`: failed here, retried; `rejected`: the parent refused it for good. */
  state: 'parked' | 'rejected';
  code: string;
  message: string;
  attempts: number;
  failedAt: Date;
  nextAttemptAt: Date | null;
}
