/**
 * Keeps the garbage collector's byte sweep from deleting blob bytes a write is relying on, in
 * this process (docs/architecture.md, "Garbage collection").
 *
 * A write **holds** a digest from the moment it relies on the bytes being stored (before it
 * stores them, or before it looks whether they are: a dedup, a mount, a HEAD) until the metadata
 * that references them has committed. The sweep **claims** a batch of digests before it checks
 * the metadata again and deletes the bytes: a digest a write holds is not claimed (it is left
 * for the next run), and a write that wants a digest while it is claimed waits until the claim
 * ends, then finds the bytes gone and stores them again. Both sides decide with no await between
 * the check and the mark, so either the write holds first (the sweep skips the digest) or the
 * sweep claims first (the write waits, then sees what the sweep left) — never both.
 *
 * It is per digest: a write never waits for the sweep unless it wants the very bytes being
 * deleted at that moment, and the sweep never waits for a write (a long upload holds one
 * digest, not a global lock). Several processes sharing one storage would need the same
 * protocol through a shared store; a node is one process (docs/api.md).
 */
export class BlobGate {
  readonly #holds = new Map<string, number>();
  readonly #claims = new Map<string, Promise<void>>();

  /**
   * Holds `digests` for a write; resolves once none of them is claimed by the sweep, with the
   * function that releases them (calling it again does nothing). Hold BEFORE looking at or
   * storing the bytes, release AFTER the metadata that references them has committed (or
   * failed).
   */
  async hold(digests: Iterable<string>): Promise<() => void> {
    const wanted = [...new Set(digests)];
    for (;;) {
      const claimed = wanted.flatMap((digest) => this.#claims.get(digest) ?? []);
      if (claimed.length === 0) break;
      await Promise.all(claimed);
    }
    // No await since the check above: no claim can have started in between.
    for (const digest of wanted) this.#holds.set(digest, (this.#holds.get(digest) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const digest of wanted) {
        const left = (this.#holds.get(digest) ?? 1) - 1;
        if (left > 0) this.#holds.set(digest, left);
        else this.#holds.delete(digest);
      }
    };
  }

  /** Runs `work` while holding `digests` (see hold). */
  async holding<T>(digests: Iterable<string>, work: () => Promise<T>): Promise<T> {
    const release = await this.hold(digests);
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** Is a write holding `digest` now? (A dry run counts such bytes as in use.) */
  isHeld(digest: string): boolean {
    return this.#holds.has(digest);
  }

  /**
   * The sweep's side: claims, at once, those of `digests` that no write holds and no other
   * sweep has claimed. Writes that want a claimed digest wait until `release()`; the sweep checks
   * the metadata again and deletes only while it holds the claim, and must always release it.
   */
  claim(digests: Iterable<string>): BlobClaim {
    const claimed: string[] = [];
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    for (const digest of new Set(digests)) {
      if (this.#holds.has(digest) || this.#claims.has(digest)) continue;
      this.#claims.set(digest, ended);
      claimed.push(digest);
    }
    let released = false;
    return {
      digests: claimed,
      release: () => {
        if (released) return;
        released = true;
        for (const digest of claimed) this.#claims.delete(digest);
        end();
      },
    };
  }
}

/** Digests claimed by the sweep (BlobGate.claim). */
export interface BlobClaim {
  /** The digests claimed: no write holds them until `release()`. */
  readonly digests: readonly string[];
  release(): void;
}
