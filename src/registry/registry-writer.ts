import type { EventBus, RepositoryEvent, WriteRequest } from '../core/events.js';
import type { MetadataStore, PutManifestInput, SyncFacts, SyncOp, SyncStore, WriteContext, WriteOutcome } from '../metadata/index.js';
import { RegistryError } from '../oci/index.js';
import type { BlobGate, BlobStore } from '../storage/index.js';

/** What the writer needs of the stores: the plain writes, and the two steps of a sync apply. */
export type WriterStore = Pick<MetadataStore, 'putManifest' | 'deleteTag' | 'deleteManifest' | 'deleteRepository' | 'linkBlob' | 'unlinkBlob'
  | 'deleteManifestsIfUnchanged' | 'touchBlobLink'>
  & Pick<SyncStore, 'syncFacts' | 'applySync'>;

/**
 * The node's blob bytes and the gate that keeps garbage collection off the bytes a write relies
 * on (storage/blob-gate.ts). With them, the writer never commits a new reference to bytes that
 * are not stored: it holds the digests, checks the bytes are there, commits, then releases.
 */
export interface StoredBytes {
  blobs: Pick<BlobStore, 'stat'>;
  gate: BlobGate;
}

/**
 * How many times a parent change is decided again while local writes to its repository keep
 * committing between the read of the facts and the apply. Each round is two short store calls;
 * running out means a client writes to that repository without pause, and the sync session
 * retries later.
 */
const MAX_DECISIONS = 16;

/** A parent change could not be applied: local writes to its repository kept changing the facts it was decided from. */
export class SyncWriteConflictError extends Error {
  readonly code = 'SYNC_WRITE_CONFLICT';

  constructor(readonly repository: string) {
    super(`local writes to ${repository} kept committing while a change from the parent was decided (${MAX_DECISIONS} times); it is applied at the next attempt`);
    this.name = 'SyncWriteConflictError';
  }
}

/**
 * The one write pipeline of a node's repositories (docs/architecture.md, "The write pipeline").
 * Every write goes through here — the /v2 handlers', the management API's deletes, the sync
 * agent's applies — with an explicit WriteContext, and after each commit the writer publishes
 * the repository events of exactly what the store did (none for an idempotent no-op): each
 * change-log row as its event, with the row's `seq`, and each new blob link.
 *
 * Local writes (`actor`: the identity's name) are plain store writes. A change from the parent is
 * decided by the sync policy from facts the store gives (`applySync`), then applied in one
 * transaction that the store refuses if a local write to the repository committed in between,
 * and then decided again: the decision never rests on stale facts, and no store needs to be
 * synchronous for it (see SyncStore).
 */
export class RegistryWriter {
  /**
   * `bytes`: the node's blob store and gate (every node has them; unit tests of the metadata
   * alone leave them out, and then nothing is checked).
   */
  constructor(
    private readonly store: WriterStore,
    private readonly events: EventBus,
    private readonly bytes?: StoredBytes,
  ) {}

  // --- local writes (clients of this node) ------------------------------------------------------

  // `request`: the HTTP request the write came in, when there is one (the events carry it: the
  // webhook payload's `request`).

  /** putManifest, for a client (integrity refusals as there; BLOB_UNKNOWN when the manifest's own bytes are not stored). */
  async putManifest(actor: string | null, input: PutManifestInput, request?: WriteRequest): Promise<WriteOutcome> {
    const ctx = local(actor, request);
    return this.withStoredBytes(referencedBytes([input]), async () =>
      this.published(ctx, await this.store.putManifest(ctx, input), sizesOf([input])));
  }

  /** Deletes a tag; false when there was none. */
  async deleteTag(actor: string | null, repository: string, tag: string, request?: WriteRequest): Promise<boolean> {
    const ctx = local(actor, request);
    return wrote(this.published(ctx, await this.store.deleteTag(ctx, repository, tag), new Map()));
  }

  /** Deletes a manifest with its tags; false when absent. Throws MANIFEST_REFERENCED for a child an index lists. */
  async deleteManifest(actor: string | null, repository: string, digest: string, request?: WriteRequest): Promise<boolean> {
    const ctx = local(actor, request);
    return wrote(this.published(ctx, await this.store.deleteManifest(ctx, repository, digest), new Map()));
  }

  /** Deletes a repository with everything in it; false when absent. */
  async deleteRepository(actor: string | null, repository: string, request?: WriteRequest): Promise<boolean> {
    const ctx = local(actor, request);
    return wrote(this.published(ctx, await this.store.deleteRepository(ctx, repository), new Map()));
  }

  /** Links a stored blob to a repository (idempotent: an event only for a new link). Throws BLOB_UNKNOWN when its bytes are not stored. */
  async linkBlob(actor: string | null, repository: string, digest: string, size: number, request?: WriteRequest): Promise<void> {
    const ctx = local(actor, request);
    await this.withStoredBytes([digest], async () => this.published(ctx, await this.store.linkBlob(ctx, repository, digest, size), new Map()));
  }

  /**
   * A client found a blob the repository links (a HEAD) or linked it again: the grace period of
   * garbage collection starts over for that link, so the manifest it is about to push finds it.
   * Not a change of the repository: no change row, no event.
   */
  async touchBlobLink(repository: string, digest: string): Promise<void> {
    await this.store.touchBlobLink(repository, digest);
  }

  /** Unlinks a blob from a repository; false when it was not linked. Throws BLOB_REFERENCED when a manifest there uses it. */
  async unlinkBlob(actor: string | null, repository: string, digest: string, request?: WriteRequest): Promise<boolean> {
    const ctx = local(actor, request);
    return wrote(this.published(ctx, await this.store.unlinkBlob(ctx, repository, digest), new Map()));
  }

  /**
   * Deletes manifests of a repository as one local write, decided from facts read at `basis` (the
   * retention job: MetadataStore.manifestGraph): written only if nothing changed the repository
   * since, else nothing is and the answer is null (decide again). Throws MANIFEST_REFERENCED, with
   * nothing written, when an index not deleted before a manifest lists it.
   */
  async deleteManifestsIfUnchanged(actor: string, repository: string, digests: readonly string[], basis: number): Promise<WriteOutcome | null> {
    const ctx = local(actor);
    const result = await this.store.deleteManifestsIfUnchanged(ctx, repository, digests, basis);
    return result.committed ? this.published(ctx, result.outcome) : null;
  }

  // --- changes from the parent (the sync agent) ---------------------------------------------------

  /**
   * Applies a change from the parent to `repository`: reads the facts (with the presence of
   * manifest `digest` when given), lets `decide` (the sync policy, a pure function) turn them
   * into plain operations, and has the store apply those with `cursor` in one transaction —
   * deciding again when a local write to the repository committed in between. Integrity
   * refusals of the store (MANIFEST_BLOB_UNKNOWN, …) reject it with nothing applied. Throws
   * SyncWriteConflictError when local writes never leave it a quiet moment.
   */
  async applySync(repository: string, digest: string | null, decide: (facts: SyncFacts) => SyncOp[], cursor?: number): Promise<WriteOutcome> {
    const ctx: WriteContext = cursor === undefined ? { origin: 'sync', actor: null } : { origin: 'sync', actor: null, cursor };
    for (let round = 1; round <= MAX_DECISIONS; round++) {
      const facts = await this.store.syncFacts(repository, digest);
      const ops = decide(facts);
      const puts = ops.flatMap((op) => (op.op === 'put-manifest' ? [op.input] : []));
      const links = ops.flatMap((op) => (op.op === 'link-blobs' ? Object.keys(op.links) : []));
      // The bytes the sync agent stored (or found) before this commit may have been swept since
      // (a collection ran in between): then BLOB_UNKNOWN, and the change is fetched again.
      const result = await this.withStoredBytes([...referencedBytes(puts), ...links], () =>
        this.store.applySync(ctx, { repository, basis: facts.basis, ops }));
      if (result.committed) return this.published(ctx, result.outcome, sizesOf(puts));
    }
    throw new SyncWriteConflictError(repository);
  }

  /**
   * Runs `commit` holding `digests` against garbage collection, after checking their bytes are
   * stored (BLOB_UNKNOWN otherwise): a committed reference always names bytes that exist.
   */
  private async withStoredBytes<T>(digests: readonly string[], commit: () => Promise<T>): Promise<T> {
    const bytes = this.bytes;
    if (bytes === undefined || digests.length === 0) return commit();
    return bytes.gate.holding(digests, async () => {
      for (const digest of new Set(digests)) {
        if (!(await bytes.blobs.stat(digest))) {
          throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not stored here (removed by garbage collection since it was found)`, { digest });
        }
      }
      return commit();
    });
  }

  /** Publishes the events of a committed write, in the order the store did it; returns the outcome. */
  private published(ctx: WriteContext, outcome: WriteOutcome, manifestSizes: ReadonlyMap<string, number> = new Map()): WriteOutcome {
    for (const event of repositoryEvents(ctx, outcome, manifestSizes)) this.events.publish(event);
    return outcome;
  }
}

/**
 * The repository events of a committed write: a `blob-linked` per new link (no change row, so no
 * seq), then one event per change-log row. `manifestSizes` gives the size of each manifest the
 * write stored (the change row does not carry it); the context carries the HTTP request of a local write.
 */
export function repositoryEvents(ctx: WriteContext, outcome: WriteOutcome, manifestSizes: ReadonlyMap<string, number>): RepositoryEvent[] {
  const base = { origin: ctx.origin, actor: ctx.actor, ...(ctx.request ? { request: ctx.request } : {}) };
  const events: RepositoryEvent[] = outcome.linked.map((link) => ({
    ...base, type: 'blob-linked', repository: link.repository, digest: link.digest, size: link.size, seq: null,
  }));
  for (const change of outcome.changes) {
    const common = { ...base, repository: change.repository, seq: change.seq };
    // The store fills tag and digest for the kinds that have them (Change); '' never shows.
    const digest = change.digest ?? '';
    const tag = change.tag ?? '';
    switch (change.kind) {
      case 'manifest':
        events.push({ ...common, type: 'manifest-pushed', digest, mediaType: change.mediaType ?? '', size: manifestSizes.get(digest) ?? 0 });
        break;
      case 'tag':
        events.push({ ...common, type: 'tag-set', tag, digest, mediaType: change.mediaType ?? '' });
        break;
      case 'tag-delete':
        events.push({ ...common, type: 'tag-deleted', tag });
        break;
      case 'manifest-delete':
        events.push({ ...common, type: 'manifest-deleted', digest });
        break;
      case 'repository-delete':
        events.push({ ...common, type: 'repository-deleted' });
        break;
      case 'blob-delete':
        events.push({ ...common, type: 'blob-deleted', digest });
        break;
    }
  }
  return events;
}

/**
 * The actor of a /v2 caller key (`<kind>:<name>`, RepositoryAccess.caller): the identity's name,
 * or null for a caller without one (anonymous).
 */
export function actorOfCaller(caller: string): string | null {
  const name = caller.slice(caller.indexOf(':') + 1);
  return name === '' ? null : name;
}

function local(actor: string | null, request?: WriteRequest): WriteContext {
  return { origin: 'local', actor, ...(request ? { request } : {}) };
}

function wrote(outcome: WriteOutcome): boolean {
  return outcome.changes.length > 0;
}

/** The bytes a manifest commit makes referenced: each manifest's own, and the blobs it links in the same transaction. */
function referencedBytes(inputs: readonly PutManifestInput[]): string[] {
  return inputs.flatMap((input) => [input.digest, ...Object.keys(input.blobLinks ?? {})]);
}

function sizesOf(inputs: PutManifestInput[]): Map<string, number> {
  return new Map(inputs.map((input) => [input.digest, input.size]));
}
