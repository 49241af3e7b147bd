/**
 * The connected-registry hierarchy as pure functions over records (anything with a `name` and a
 * `parent`), shared by management/ (list filters, ancestor grants, descendant revokes) and
 * gateway/ (config documents, relayed statuses). The stores refuse a parent that does not exist,
 * so records never form a cycle on their own; every walk here still visits a name at most once,
 * so a cycle in the data (a corrupted copy, a buggy parent config) ends the walk instead of
 * looping or repeating records.
 */

/** What the walks need of a record. */
export interface HierarchyNode {
  name: string;
  parent: string | null;
}

/** Every record below `name` in `all`, parents before children (breadth first, by name within a level); never `name` itself. */
export function descendantsOf<T extends HierarchyNode>(name: string, all: readonly T[]): T[] {
  const out: T[] = [];
  const seen = new Set([name]);
  const queue = [name];
  while (queue.length > 0) {
    const current = queue.shift()!;
    const children = all.filter((c) => c.parent === current && !seen.has(c.name)).sort(byName);
    for (const child of children) {
      seen.add(child.name);
      out.push(child);
      queue.push(child.name);
    }
  }
  return out;
}

/**
 * The records above `record`, its parent first, up to a top-level one. Stops at a parent that is
 * not in `all` (on a connected node the hierarchy above it is not stored) and at a name already
 * seen (a cycle), never returning `record` itself.
 */
export function ancestorsOf<T extends HierarchyNode>(record: HierarchyNode, all: readonly T[]): T[] {
  const byNameMap = new Map(all.map((r) => [r.name, r]));
  const out: T[] = [];
  const seen = new Set([record.name]);
  let next = record.parent;
  while (next !== null && !seen.has(next)) {
    const found = byNameMap.get(next);
    if (!found) break;
    seen.add(found.name);
    out.push(found);
    next = found.parent;
  }
  return out;
}

function byName(a: HierarchyNode, b: HierarchyNode): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
