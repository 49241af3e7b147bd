import type { WriteOrigin, WriteRequest } from '../core/events.js';

/**
 * Who makes a write, passed explicitly to every write of a store (docs/architecture.md, "The write
 * pipeline"). The store records `origin`, `actor` and `request` on the change rows it appends
 * (the outbox is the `local` ones; notification events are made from them) and, when `cursor` is
 * given, stores it as the sync cursor in the same transaction.
 */
export interface WriteContext {
  origin: ChangeOrigin;
  /** The identity that made a local write (a token name, `admin`); null for sync writes and unknown callers. */
  actor: string | null;
  /** The parent's sequence number this (sync) write applies: committed with it, or not at all. */
  cursor?: number;
  /** The HTTP request a local write came in, when there is one (the webhook payload's `request`). */
  request?: WriteRequest;
}

/**
 * What a committed write did: exactly the change-log rows it appended and the blob links it
 * added, in order. An idempotent no-op has neither (and publishes no event).
 */
export interface WriteOutcome {
  changes: Change[];
  linked: Array<{ repository: string; digest: string; size: number }>;
}

/**
 * The metadata store: repositories, tags, manifests and what they reference, referrers, the
 * repository blob links, and the change log. Every method is asynchronous and runs as ONE
 * transaction: either all of its effects (including its change-log rows) are committed or none.
 * SQLite is the embedded implementation; PostgreSQL follows for scale-out with the same contract.
 *
 * Stores do storage: every write takes its WriteContext explicitly and returns its WriteOutcome.
 * The integrity rules of the data (MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID sizes,
 * BLOB_REFERENCED, MANIFEST_REFERENCED) are checked in the write's own transaction; the sync
 * policy (what a parent change may touch at the edge) is not the store's: it lives above, in
 * `sync/apply-policy.ts`, and reaches the store as plain operations (`SyncStore.applySync`).
 * Writes go through `registry/registry-writer.ts`, which publishes the events after the commit.
 */
export interface MetadataStore {
  // --- repositories -------------------------------------------------------------------------
  // A repository exists while it holds at least one manifest or blob link: linkBlob and
  // putManifest create it, and the unlinkBlob or deleteManifest that empties it removes it
  // (without a `repository-delete` change; the `manifest-delete` rows already say it all).
  /** Repository names in lexical order, after `last` (exclusive), at most `limit`. */
  listRepositories(options: { last?: string; limit: number }): Promise<string[]>;
  repositoryExists(repository: string): Promise<boolean>;
  /** Deletes a repository with its tags, manifests and blob links; appends one `repository-delete` (nothing when absent). */
  deleteRepository(ctx: WriteContext, repository: string): Promise<WriteOutcome>;

  // --- blobs linked to repositories ---------------------------------------------------------
  /** Records that `repository` holds blob `digest` (idempotent: `linked` is empty when it did). Creates the repository row. Appends no change. */
  linkBlob(ctx: WriteContext, repository: string, digest: string, size: number): Promise<WriteOutcome>;
  /** The blob's size if it is linked to the repository, else null. */
  getBlobLink(repository: string, digest: string): Promise<{ size: number } | null>;
  /**
   * Removes the link with a `blob-delete` change (none when there was no link). Throws
   * RegistryError BLOB_REFERENCED (detail: `{digest, count, manifests}` with up to 5 manifest
   * digests) when a manifest of the repository uses the blob (config or layer): the check and the
   * unlink are one transaction.
   */
  unlinkBlob(ctx: WriteContext, repository: string, digest: string): Promise<WriteOutcome>;
  /**
   * The repositories that link blob `digest`, with its size, in lexical order of name after
   * `last` (exclusive), at most `limit`: a mount without `from` looks for one the caller may
   * read. Never answer "does any repository hold this digest" to a client with it.
   */
  blobLinksOf(digest: string, options: { last?: string; limit: number }): Promise<Array<{ repository: string; size: number }>>;

  // --- manifests and tags -------------------------------------------------------------------
  /**
   * Stores a manifest in a repository: the manifest row, its blob and child-manifest references,
   * its referrer entry (when it has a subject) and, with `tag`, the tag. Throws RegistryError
   * MANIFEST_BLOB_UNKNOWN (detail lists the digests) when a referenced blob is not linked to the
   * repository or a child manifest is not in it, and MANIFEST_INVALID when a descriptor's size
   * differs from what is stored (`declaredSizes`). Appends a `manifest` change, and a `tag`
   * change when the tag is new or moved. Idempotent for the same content (no changes then).
   */
  putManifest(ctx: WriteContext, input: PutManifestInput): Promise<WriteOutcome>;
  getManifest(repository: string, digest: string): Promise<ManifestRecord | null>;
  /** The digest a tag points to, or null. */
  resolveTag(repository: string, tag: string): Promise<string | null>;
  /** Tags in lexical order after `last` (exclusive), at most `limit`. Null when the repository does not exist. */
  listTags(repository: string, options: { last?: string; limit: number }): Promise<string[] | null>;
  /** Every tag with its digest and times, in lexical order (management API). Null when the repository does not exist. */
  listTagDetails(repository: string): Promise<TagDetail[] | null>;
  /** Digests of every manifest in a repository, in order (management API). Null when it does not exist. */
  listManifestDigests(repository: string): Promise<string[] | null>;
  /** Counts and times of a repository (management API), or null when it does not exist. */
  repositoryInfo(repository: string): Promise<RepositoryInfo | null>;
  /** Deletes one tag (the manifest stays); appends `tag-delete` (nothing when absent). */
  deleteTag(ctx: WriteContext, repository: string, tag: string): Promise<WriteOutcome>;
  /**
   * Deletes a manifest, every tag pointing at it and its referrer entry; appends ONE
   * `manifest-delete` (no `tag-delete` rows: consumers drop the manifest's tags with it).
   * A manifest that an index in the repository lists is not deleted: RegistryError
   * MANIFEST_REFERENCED (detail: `{digest, count, manifests}`, up to 5 index digests), checked in
   * the same transaction, so an index never refers to a missing child. Nothing when absent.
   */
  deleteManifest(ctx: WriteContext, repository: string, digest: string): Promise<WriteOutcome>;
  /** Manifests in the repository whose subject is `subject`, optionally of one artifactType. */
  listReferrers(repository: string, subject: string, artifactType?: string): Promise<ManifestRecord[]>;

  // --- change log ---------------------------------------------------------------------------
  /** Changes with `seq > after`, in order, at most `limit`. */
  changesSince(after: number, limit: number): Promise<Change[]>;
  /** The newest sequence number (0 when empty). */
  lastChangeSeq(): Promise<number>;
  /** How many changes each repository has with `seq > after` (a child's lag behind this node). */
  changeCountsSince(after: number): Promise<Map<string, number>>;
  /**
   * Drops the oldest changes: every row before the first one that is not older than `olderThan`,
   * and before `keepFrom` when given (rows from that seq on stay, however old). Always a prefix of
   * the log, so whatever remains after a cursor has no gaps (readers detect pruning by the first
   * row alone), even when recorded times are not in seq order (a clock stepped back). Never the
   * newest row. Returns how many went.
   */
  pruneChanges(olderThan: Date, keepFrom?: number): Promise<number>;

  // --- retention and usage ------------------------------------------------------------------
  /**
   * What a retention decision is made from, for one repository, in one snapshot: every manifest
   * with whether a tag points at it, its subject, the manifests it lists and the times its age
   * counts from; and `basis`, to hand back to deleteManifestsIfUnchanged. Null when the
   * repository does not exist.
   */
  manifestGraph(repository: string): Promise<ManifestGraph | null>;
  /**
   * Deletes the manifests, in the order given, as ONE transaction — or nothing, with
   * `committed: false`, when any change to the repository (of any origin) was committed after
   * `basis`: the decision is then made again from fresh facts. Each delete is as deleteManifest
   * (one `manifest-delete` each, its tags with it); one that an index not deleted before it still
   * lists throws MANIFEST_REFERENCED and nothing of the call is written. Absent digests are skipped.
   */
  deleteManifestsIfUnchanged(ctx: WriteContext, repository: string, digests: readonly string[], basis: number): Promise<GuardedWriteResult>;
  /** Counts and bytes of what the registry stores, in one snapshot (management API usage). */
  storedUsage(): Promise<StoredUsage>;

  // --- garbage collection -------------------------------------------------------------------
  // The metadata side of the sweep (docs/architecture.md, "Garbage collection"). Nothing here
  // appends a change row: each node collects its own garbage, so none of it travels up (a
  // ReadWrite edge's outbox) or down (children's messages).
  /**
   * The mark: every digest whose bytes the metadata still needs — manifests themselves (their
   * bytes are blobs), the blobs manifests reference, and blobs linked to repositories. With
   * `linksRefreshedAfter`, a link counts only when it was created or refreshed after that time
   * (older links no manifest uses are what the link sweep removes: a dry run marks as if they
   * were gone). One consistent snapshot.
   */
  referencedBlobDigests(options?: { linksRefreshedAfter?: Date }): Promise<Set<string>>;
  /** The re-check before a delete: those of `digests` that a manifest, a manifest's reference or a link names now. */
  referencedDigestsAmong(digests: readonly string[]): Promise<Set<string>>;
  /**
   * Links that no manifest of their repository references (config or layer), created or last
   * refreshed at or before `cutoff`: a page in (repository, digest) order after `after`
   * (exclusive), at most `limit`.
   */
  unreferencedBlobLinks(cutoff: Date, options: { after?: BlobLinkKey; limit: number }): Promise<BlobLink[]>;
  /**
   * Removes those of `links` that are still unreferenced and not refreshed after `cutoff`
   * (checked in the same transaction, in one statement), and the repositories this leaves with
   * no manifest and no link. Appends no change and publishes nothing. Returns the links removed.
   */
  sweepBlobLinks(links: readonly BlobLinkKey[], cutoff: Date): Promise<BlobLink[]>;
  /**
   * A link was used (a HEAD found the blob, a mount or an upload linked it again): its refresh
   * time becomes now, so the grace period protects a client about to push a manifest that names
   * it. Nothing when there is no such link; no change row. May skip a link refreshed moments ago.
   */
  touchBlobLink(repository: string, digest: string): Promise<void>;

  close(): Promise<void>;
}

/** A repository's link to a blob. */
export interface BlobLinkKey {
  repository: string;
  digest: string;
}

export interface BlobLink extends BlobLinkKey {
  size: number;
  /** When the link was created or last used (a HEAD, a mount, linked again). */
  refreshedAt: Date;
}

/** What is known of a stored manifest, whether being put or read back. */
export interface ManifestFields {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  subject: string | null;
  /** Annotations of the manifest, kept for the referrers API. */
  annotations: Record<string, string> | null;
}

export interface PutManifestInput extends ManifestFields {
  /** Digests of config and layer blobs that must be linked to the repository. */
  blobs: string[];
  /** Digests of child manifests (an index) that must already be in the repository. */
  manifests: string[];
  /**
   * The size each descriptor declares, by digest (blobs and child manifests). Each is compared,
   * in the same transaction, with the repository's blob link or child manifest: a difference
   * throws RegistryError MANIFEST_INVALID (detail `{mismatched: [{digest, declared, stored}]}`).
   * The /v2 PUT and the sync agent always give it (`manifestFields`); a digest absent from it
   * is not compared.
   */
  declaredSizes?: Record<string, number>;
  tag?: string;
  /**
   * Blobs (digest → size) to link to the repository in the same transaction, before the check:
   * the sync agent commits a pulled manifest and its newly stored blobs at once.
   */
  blobLinks?: Record<string, number>;
}

export interface ManifestRecord extends ManifestFields {
  createdAt: Date;
}

/** `blob-delete`: a repository's link to a blob was removed (digest: the blob's). */
export type ChangeKind = 'manifest' | 'tag' | 'tag-delete' | 'manifest-delete' | 'repository-delete' | 'blob-delete';

/** `local`: a client of this node wrote it; `sync`: the sync agent applied it from the parent. */
export type ChangeOrigin = WriteOrigin;

export interface Change {
  seq: number;
  repository: string;
  kind: ChangeKind;
  /** The tag for tag and tag-delete changes. */
  tag: string | null;
  /** The manifest digest for manifest, tag and manifest-delete changes; the blob's for blob-delete. */
  digest: string | null;
  /** Media type of the manifest for manifest and tag changes. */
  mediaType: string | null;
  at: Date;
}

export interface TagDetail {
  name: string;
  digest: string;
  /** When the tagged manifest was first stored in the repository. */
  createdAt: Date;
  /** When the tag was last set or moved. */
  updatedAt: Date;
}

export interface RepositoryInfo {
  name: string;
  tagCount: number;
  manifestCount: number;
  /**
   * Bytes the repository holds: its linked blobs (configs, layers, blobs pushed without a
   * manifest yet) and its manifests, each digest counted once.
   */
  sizeBytes: number;
  createdAt: Date;
  /** The newest of the repository's manifest and tag times (its creation when it has neither). */
  lastUpdatedAt: Date;
}

/** One manifest of a repository as retention sees it (MetadataStore.manifestGraph). */
export interface ManifestNode {
  digest: string;
  /** A tag of the repository points at it. */
  tagged: boolean;
  /** The digest of its subject (it is a referrer of that manifest), or null. */
  subject: string | null;
  /** The manifests it lists (an index), or []. */
  children: string[];
  /** When it was stored in the repository. */
  createdAt: Date;
  /** When a tag last left it (deleted or moved away); null when none ever did. */
  untaggedAt: Date | null;
}

export interface ManifestGraph {
  repository: string;
  /** The change log's head when it was read (deleteManifestsIfUnchanged refuses if the repository changed since). */
  basis: number;
  manifests: ManifestNode[];
}

/** A write made only if nothing changed since its facts were read: what it did, or that it did nothing. */
export type GuardedWriteResult = { committed: true; outcome: WriteOutcome } | { committed: false };

/** What the registry stores, counted once per item. */
export interface StoredUsage {
  repositories: number;
  /** Manifests, counted per repository (the same digest in two repositories counts twice: two images). */
  manifests: number;
  /** Distinct blob digests linked to any repository. */
  blobs: number;
  /** Bytes of the distinct digests stored: every linked blob and every manifest, each digest once across the registry. */
  sizeBytes: number;
}
