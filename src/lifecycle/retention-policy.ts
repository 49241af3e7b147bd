import type { ManifestGraph, ManifestNode } from '../metadata/index.js';

export const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * However short the policy (`days: 0`), a manifest is not deleted within this long of its push or
 * of losing its last tag: a client pushing an image index sends the platform manifests untagged
 * first and the index after them, and retention must not take the children in between.
 */
export const RETENTION_GRACE_MS = 60 * 60 * 1000;

/** The time an untagged manifest's age counts from: its push, or when its last tag left it, whichever is later. */
export function untaggedSince(manifest: ManifestNode): number {
  return Math.max(manifest.createdAt.getTime(), manifest.untaggedAt?.getTime() ?? 0);
}

/**
 * The retention decision for one repository (docs/operations.md, "Retention"): the manifests a
 * policy of `days` deletes at `now`, in an order the store can delete them in (an index before
 * the manifests it lists).
 *
 * A manifest is kept when it is tagged, when it has been untagged (or was pushed) for less than
 * `days` (and RETENTION_GRACE_MS), or when a kept manifest holds on to it: an index lists it, or it
 * is a referrer (signature, SBOM, …) whose subject is kept. Holding is transitive, so an untagged
 * platform manifest of a tagged index stays, and so does the signature of that platform manifest,
 * and a signature of the signature. Everything else goes, chains included: an old untagged index
 * goes with the old platform manifests only it listed, and a referrer goes with its subject.
 *
 * A pure function of the facts: no I/O, no clock of its own.
 */
export function expiredManifests(graph: Pick<ManifestGraph, 'manifests'>, days: number, now: number): string[] {
  const cutoff = now - Math.max(days * DAY_MS, RETENTION_GRACE_MS);
  const byDigest = new Map(graph.manifests.map((m) => [m.digest, m]));
  const referrersOf = new Map<string, string[]>();
  for (const m of graph.manifests) {
    if (m.subject === null) continue;
    const list = referrersOf.get(m.subject);
    if (list) list.push(m.digest);
    else referrersOf.set(m.subject, [m.digest]);
  }

  // Mark: from the manifests kept for themselves, along "lists" and "is the subject of".
  const kept = new Set<string>();
  const pending: string[] = [];
  const keep = (digest: string): void => {
    if (kept.has(digest) || !byDigest.has(digest)) return;
    kept.add(digest);
    pending.push(digest);
  };
  for (const m of graph.manifests) if (m.tagged || untaggedSince(m) > cutoff) keep(m.digest);
  while (pending.length > 0) {
    const digest = pending.pop()!;
    for (const child of byDigest.get(digest)!.children) keep(child);
    for (const referrer of referrersOf.get(digest) ?? []) keep(referrer);
  }

  // Order what goes so that every index comes before what it lists (the graph has no cycles:
  // an index names its children by digest). Ties by digest, so the order is reproducible.
  const expired = graph.manifests.filter((m) => !kept.has(m.digest));
  const listedBy = new Map<string, number>(expired.map((m) => [m.digest, 0]));
  for (const m of expired) for (const child of new Set(m.children)) if (listedBy.has(child)) listedBy.set(child, listedBy.get(child)! + 1);
  const ready = expired.filter((m) => listedBy.get(m.digest) === 0).map((m) => m.digest).sort();
  const order: string[] = [];
  while (ready.length > 0) {
    const digest = ready.shift()!;
    order.push(digest);
    const freed: string[] = [];
    for (const child of new Set(byDigest.get(digest)!.children)) {
      const left = listedBy.get(child);
      if (left === undefined) continue;
      listedBy.set(child, left - 1);
      if (left === 1) freed.push(child);
    }
    ready.push(...freed.sort());
  }
  return order;
}
