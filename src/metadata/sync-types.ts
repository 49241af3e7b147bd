import type { Change, PutManifestInput } from './types.js';

/**
 * The child side of sync on the metadata database (DESIGN.md §5). Writes through here come from
 * the parent: their change rows are marked `sync`, so they are served to this node's own children
 * but never pushed back up. Each apply method stores the parent `cursor` (when given) in the same
 * transaction as its effect, so a restart resumes exactly after the last applied message.
 * Writes by local clients (`local` rows after the pushed mark) are the outbox of a ReadWrite node,
 * and the apply methods leave alone (in the same transaction) anything such a pending write
 * touches: a tag it sets or deletes, a manifest it stores, a repository it writes to. Once the
 * outbox has reached the parent, the parent's order wins.
 */
export interface SyncStore {
  /** Stores a manifest from the parent (with its tag, when given). Same rules as putManifest. */
  applyManifest(input: PutManifestInput, cursor?: number): Promise<void>;
  applyTagDelete(repository: string, tag: string, cursor?: number): Promise<void>;
  applyManifestDelete(repository: string, digest: string, cursor?: number): Promise<void>;
  applyRepositoryDelete(repository: string, cursor?: number): Promise<void>;
  /** The parent sequence number applied last; null before the first full sync. */
  getCursor(): Promise<number | null>;
  setCursor(cursor: number): Promise<void>;

  /** Local writes not yet pushed to the parent, oldest first. */
  pendingOutbox(limit: number): Promise<Change[]>;
  outboxSize(): Promise<number>;
  /** Everything up to `seq` has reached the parent. */
  markPushed(seq: number): Promise<void>;
  /** Is a local write of this repository's tag (or of this manifest digest) still waiting in the outbox? */
  hasPendingLocalWrite(repository: string, tag: string | null, digest: string | null): Promise<boolean>;

  /** Small named values of the sync agent (instance id, config version, handled resync time). */
  getState(key: string): Promise<string | null>;
  setState(key: string, value: string): Promise<void>;
}
