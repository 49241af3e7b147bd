/**
 * "The configuration of this node's connected registries may have changed": raised by the
 * composition root after every successful management write and by the sync agent after it
 * applies a new config from its parent. Long-polls on the gateway wake on it and recompute the
 * config ETag of their child, so a client-token change reaches the child at once, not at the end
 * of its poll. In-process only, like MetadataStore.subscribe.
 */
export class ConfigSignal {
  private readonly listeners = new Set<() => void>();

  /** How many listeners wait on it now (each held long-poll is one). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Wakes every listener. A listener's failure is its own. */
  notify(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch {
        // The notifier must not fail because one waiter did.
      }
    }
  }

  /** Calls `listener` after each notify(); returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
