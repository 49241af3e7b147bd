import type { ChangeKind, PutManifestInput, SyncFacts, SyncOp, UnsettledWrite } from '../metadata/index.js';

/** A change from the parent, as the sync agent applies it to one repository. */
export type ParentChange =
  /** A manifest to store; with `input.tag`, the tag to move onto it (a `tag` message). */
  | { kind: 'manifest'; input: PutManifestInput }
  | { kind: 'tag-delete'; repository: string; tag: string }
  | { kind: 'manifest-delete'; repository: string; digest: string }
  | { kind: 'repository-delete'; repository: string }
  | { kind: 'blob-delete'; repository: string; digest: string };

export function repositoryOf(change: ParentChange): string {
  return change.kind === 'manifest' ? change.input.repository : change.repository;
}

/** The manifest whose presence the policy asks about (SyncFacts.manifestPresent), if any. */
export function manifestAsked(change: ParentChange): string | null {
  return change.kind === 'manifest' ? change.input.digest : null;
}

/**
 * The sync policy of a connected node (docs/architecture.md, "Read-your-writes"): what a change
 * from the parent does here, given the repository's unsettled local writes. A pure function: the
 * store reads the facts and applies the operations returned (SyncStore.applySync), in one
 * transaction that a local write committed in between invalidates.
 *
 * - **Echoes.** A `message` (a change of the parent's log, applied with its cursor) first settles
 *   the local write it echoes — the oldest push awaiting its echo of the same kind, tag and
 *   digest — and every push made before it (their echoes, had they any, came earlier).
 * - **Pending local writes win.** A parent change never overrides what a still-unsettled local
 *   write touches: it was appended before that write in the parent's order, so it is older. A
 *   tag such a write sets or deletes keeps its place; a manifest it stores, tags or deletes is
 *   not deleted; a manifest it deleted is not brought back (nor tagged) while absent here; a blob
 *   it unlinked is not linked again (the manifest needing it then fails its check and is parked
 *   until the delete settles); a repository delete keeps the tags and manifests such writes name
 *   (and what those manifests list).
 * - **Parked items.** A manifest applied or deleted is no longer parked; a repository delete
 *   forgets the repository's parked items; a later message that moves or deletes a tag drops
 *   that tag from the parked items that would have brought it along.
 * - A blob delete unlinks only a blob no manifest here references.
 */
export function planParentChange(change: ParentChange, facts: SyncFacts, message: boolean): SyncOp[] {
  const ops: SyncOp[] = [];
  let unsettled = facts.unsettled;
  const echo = message ? echoOf(change) : null;
  if (echo !== null) {
    const order = oldestEchoAwaited(unsettled, echo);
    if (order !== null) {
      ops.push({ op: 'settle-echoes', throughPushOrder: order });
      unsettled = unsettled.filter((w) => w.pushOrder === null || w.pushOrder > order);
    }
  }
  // What the unsettled writes touch. A blob-delete's digest is a blob's, never a manifest's or a tag's.
  const writes = unsettled.map((w) => w.change);
  const touchesTag = (tag: string): boolean => writes.some((c) => c.kind !== 'blob-delete' && c.tag === tag);
  const touchesManifest = (digest: string): boolean => writes.some((c) => c.kind !== 'blob-delete' && c.digest === digest);
  const deletedHere = (kind: 'manifest-delete' | 'blob-delete', digest: string): boolean => writes.some((c) => c.kind === kind && c.digest === digest);

  switch (change.kind) {
    case 'manifest': {
      const { tag, blobLinks, ...manifest } = change.input;
      if (message && tag !== undefined) ops.push({ op: 'drop-parked-tag', tag, exceptDigest: manifest.digest });
      const links = blobLinks === undefined ? undefined
        : Object.fromEntries(Object.entries(blobLinks).filter(([digest]) => !deletedHere('blob-delete', digest)));
      if (facts.manifestPresent === false && deletedHere('manifest-delete', manifest.digest)) {
        // Deleted here and not yet settled: the manifest stays away (its new blobs are linked, as ever).
        if (links !== undefined && Object.keys(links).length > 0) ops.push({ op: 'link-blobs', links });
      } else {
        ops.push({
          op: 'put-manifest',
          input: { ...manifest, ...(links !== undefined ? { blobLinks: links } : {}), ...(tag !== undefined && !touchesTag(tag) ? { tag } : {}) },
        });
      }
      ops.push({ op: 'forget-parked', digest: manifest.digest });
      return ops;
    }
    case 'tag-delete':
      if (message) ops.push({ op: 'drop-parked-tag', tag: change.tag, exceptDigest: null });
      if (!touchesTag(change.tag)) ops.push({ op: 'delete-tag', tag: change.tag });
      return ops;
    case 'manifest-delete':
      ops.push({ op: 'forget-parked', digest: change.digest });
      if (!touchesManifest(change.digest)) ops.push({ op: 'delete-manifest', digest: change.digest });
      return ops;
    case 'repository-delete': {
      ops.push({ op: 'forget-parked', digest: null });
      if (writes.length === 0) {
        ops.push({ op: 'delete-repository' });
      } else {
        const tags = unique(writes.flatMap((c) => (c.tag !== null ? [c.tag] : [])));
        const manifests = unique(writes.flatMap((c) => (c.digest !== null ? [c.digest] : [])));
        ops.push({ op: 'delete-repository-except', tags, manifests });
      }
      return ops;
    }
    case 'blob-delete':
      ops.push({ op: 'unlink-blob', digest: change.digest });
      return ops;
  }
}

/** What a parent message is the echo of, when it is one: the kind, tag and digest of the local change it repeats. */
interface EchoKey {
  kind: ChangeKind;
  tag: string | null;
  digest: string | null;
}

function echoOf(change: ParentChange): EchoKey | null {
  switch (change.kind) {
    case 'manifest':
      return change.input.tag === undefined
        ? { kind: 'manifest', tag: null, digest: change.input.digest }
        : { kind: 'tag', tag: change.input.tag, digest: change.input.digest };
    case 'tag-delete':
      return { kind: 'tag-delete', tag: change.tag, digest: null };
    case 'manifest-delete':
      return { kind: 'manifest-delete', tag: null, digest: change.digest };
    case 'blob-delete':
      return { kind: 'blob-delete', tag: null, digest: change.digest };
    case 'repository-delete':
      // Only the root deletes whole repositories: nothing of this node's comes back as one.
      return null;
  }
}

/** The push order of the oldest push awaiting its echo that `echo` matches, or null. */
function oldestEchoAwaited(unsettled: readonly UnsettledWrite[], echo: EchoKey): number | null {
  let oldest: number | null = null;
  for (const { change, pushOrder } of unsettled) {
    if (pushOrder === null || change.kind !== echo.kind || change.tag !== echo.tag || change.digest !== echo.digest) continue;
    if (oldest === null || pushOrder < oldest) oldest = pushOrder;
  }
  return oldest;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
