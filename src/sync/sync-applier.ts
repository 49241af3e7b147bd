import type { PutManifestInput, WriteOutcome } from '../metadata/index.js';
import type { RegistryWriter } from '../registry/registry-writer.js';
import { manifestAsked, planParentChange, repositoryOf, type ParentChange } from './apply-policy.js';

/**
 * The sync agent's writes: each change from the parent goes through the node's write pipeline,
 * decided by the sync policy (`apply-policy.ts`). Given a `cursor`, the change is a message of the
 * parent's log: the cursor commits with it (or not at all), and it settles the echo of this
 * node's own pushed write. Without one (a reconcile, a parked item's retry, an index's child,
 * a comparison after a push whose echo never came), it only converges.
 *
 * Every method throws what the store refuses (MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID, …) with
 * nothing applied, and SyncWriteConflictError when local writes never leave the repository quiet.
 */
export class SyncApplier {
  constructor(private readonly writer: RegistryWriter) {}

  /** Stores a manifest from the parent, with its tag when `input.tag` is given. */
  applyManifest(input: PutManifestInput, cursor?: number): Promise<WriteOutcome> {
    return this.apply({ kind: 'manifest', input }, cursor);
  }

  applyTagDelete(repository: string, tag: string, cursor?: number): Promise<WriteOutcome> {
    return this.apply({ kind: 'tag-delete', repository, tag }, cursor);
  }

  applyManifestDelete(repository: string, digest: string, cursor?: number): Promise<WriteOutcome> {
    return this.apply({ kind: 'manifest-delete', repository, digest }, cursor);
  }

  applyRepositoryDelete(repository: string, cursor?: number): Promise<WriteOutcome> {
    return this.apply({ kind: 'repository-delete', repository }, cursor);
  }

  applyBlobDelete(repository: string, digest: string, cursor?: number): Promise<WriteOutcome> {
    return this.apply({ kind: 'blob-delete', repository, digest }, cursor);
  }

  private apply(change: ParentChange, cursor: number | undefined): Promise<WriteOutcome> {
    const message = cursor !== undefined;
    return this.writer.applySync(repositoryOf(change), manifestAsked(change), (facts) => planParentChange(change, facts, message), cursor);
  }
}
