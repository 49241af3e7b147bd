import type { Change, PutManifestInput, WriteContext, WriteOutcome } from './types.js';

/**
 * The keys of the sync agent's small named values in `sync_state`, in one table. The store owns
 * `cursor`, `outboxPushed` and `pushOrder` (written only through the SyncStore methods that keep
 * them consistent); the agent reads and writes the others with getState/setState.
 */
export const SYNC_STATE_KEYS = {
  /** The parent sequence number applied last (getCursor/setCursor, and every apply's cursor). */
  cursor: 'cursor',
  /** The outbox's pushed mark: local changes up to it have gone up (markPushed, record*). */
  outboxPushed: 'outbox-pushed',
  /** The order number of the newest push awaiting its echo (lastPushOrder). */
  pushOrder: 'push-order',
  /** This node's persistent instance id, sent at activation. */
  instanceId: 'instance-id',
  /** The parent's `resyncRequestedAt` this node has acted on. */
  resyncHandled: 'resync-handled',
  /** The repository scope of the last applied config (a change of it asks for a reconcile). */
  scope: 'scope',
  /** `pending` from a reconcile request until a full reconcile begun after it ends, then `done`. */
  reconcile: 'reconcile',
  /** The last applied config document with its ETag (JSON). */
  config: 'config',
  /** The `requestedAt` of the last garbage collection asked of this node (`connected-registry gc`) that ran to its end. */
  gcHandled: 'gc-handled',
  /** The report of this node's last garbage collection (JSON), sent up in every heartbeat. */
  gcLastReport: 'gc-last-report',
} as const;

export type SyncStateKey = (typeof SYNC_STATE_KEYS)[keyof typeof SYNC_STATE_KEYS];
/** The keys only the store's transactions write (with what they describe). */
export type StoreStateKey = (typeof SYNC_STATE_KEYS)['cursor' | 'outboxPushed' | 'pushOrder'];
/** The keys the sync agent reads and writes through getState/setState. */
export type AgentStateKey = Exclude<SyncStateKey, StoreStateKey>;

/**
 * A local write that is **unsettled**: the parent's log is not known to have passed it yet —
 * it waits in the outbox (after the pushed mark), it is parked after a local failure, or it went
 * up and its echo (the parent's change row for it) has not come back.
 */
export interface UnsettledWrite {
  change: Change;
  /** Its push order while it awaits its echo; null while it waits in the outbox or is parked. */
  pushOrder: number | null;
}

/**
 * What the sync policy (`sync/apply-policy.ts`) needs to decide a parent change on one
 * repository, read in one consistent snapshot.
 */
export interface SyncFacts {
  repository: string;
  /** The repository's unsettled local writes, oldest first. */
  unsettled: UnsettledWrite[];
  /** Whether manifest `digest` (when asked) is stored in the repository; null when not asked. */
  manifestPresent: boolean | null;
  /**
   * Where the store's local writes stood when these facts were read (opaque to the caller): the
   * plan decided from them hands it back, and applySync refuses the plan if a local write to the
   * repository committed since.
   */
  basis: number;
}

/**
 * The plain storage operations a decided parent change becomes. They do what they say and no
 * more: the decisions (what an unsettled local write protects, which echo a message is) were
 * taken by the policy above the store.
 */
export type SyncOp =
  /** Settles every push awaiting its echo whose push order is at most this one. */
  | { op: 'settle-echoes'; throughPushOrder: number }
  /** Parked items of the repository no longer bring `tag` along (except the one of `exceptDigest`). */
  | { op: 'drop-parked-tag'; tag: string; exceptDigest: string | null }
  /** Forgets the parked item of `digest` in the repository; null: every parked item of the repository. */
  | { op: 'forget-parked'; digest: string | null }
  /** Links blobs (digest → size) to the repository; creates it when needed. */
  | { op: 'link-blobs'; links: Record<string, number> }
  /** putManifest (integrity checks included; the tag only when the input has one). */
  | { op: 'put-manifest'; input: PutManifestInput }
  /** deleteTag. */
  | { op: 'delete-tag'; tag: string }
  /** deleteManifest, without the MANIFEST_REFERENCED refusal: the parent has already decided. */
  | { op: 'delete-manifest'; digest: string }
  /** deleteRepository. */
  | { op: 'delete-repository' }
  /**
   * Deletes every tag of the repository but `tags` and every manifest but `manifests` and those
   * they list (recursively), each with its own change row (`tag-delete`, `manifest-delete`), so
   * the node's children follow exactly. Blob links stay.
   */
  | { op: 'delete-repository-except'; tags: string[]; manifests: string[] }
  /** Unlinks a blob with its `blob-delete` change, unless a manifest of the repository references it (then nothing). */
  | { op: 'unlink-blob'; digest: string };

/** The operations of one parent change on one repository, decided from the facts read at `basis`. */
export interface SyncPlan {
  repository: string;
  basis: number;
  ops: SyncOp[];
}

/** applySync's answer: committed, or refused because a local write to the repository committed after the facts were read. */
export type SyncApplyResult = { committed: true; outcome: WriteOutcome } | { committed: false };

/**
 * The child side of sync on the metadata database (docs/architecture.md, "Connected node and
 * sync agent"): the facts the sync policy decides from, the transaction that applies its
 * decision with the parent cursor, parked pull items, the outbox, the echoes of pushed writes,
 * and small named values. Writes through here are the parent's: their change rows are `sync`, so
 * they are served to this node's own children but never pushed back up.
 *
 * Read-your-writes is the policy's (`sync/apply-policy.ts`): a local write is unsettled while it
 * waits in the outbox, while it is parked, and after it went up until its echo comes back; the
 * policy leaves alone what an unsettled write touches. The store's part is to give the facts and
 * to apply the decided operations atomically, with the guarantee that no local write to the
 * repository committed in between (`basis`): a decision never rests on stale facts.
 */
export interface SyncStore {
  /**
   * The repository's unsettled local writes (with their push orders), whether manifest `digest`
   * is stored there (when given), and the basis to hand back in the plan: one consistent read.
   */
  syncFacts(repository: string, digest: string | null): Promise<SyncFacts>;
  /**
   * Applies `plan.ops` in order in ONE transaction, with `ctx.cursor` when given (a failure of any
   * operation — an integrity refusal such as MANIFEST_BLOB_UNKNOWN — commits nothing, the cursor
   * neither). Refuses the whole plan, committing nothing, when a local write to
   * `plan.repository` committed after the facts at `plan.basis` were read: decide again.
   */
  applySync(ctx: WriteContext, plan: SyncPlan): Promise<SyncApplyResult>;
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
