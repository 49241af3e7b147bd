/**
 * A latch for one long-poll: sources call fire(); wait() returns at once when something fired
 * since the last wait (so an event between "read" and "wait" is never lost), else when the next
 * one fires, the time is up or the signal aborts. Reports what woke it.
 */
export class Wakeup {
  private pending = new Set<string>();
  private resolve: (() => void) | null = null;

  /** A listener for one source, named for `wait()`'s answer. */
  source(name: string): () => void {
    return () => {
      this.pending.add(name);
      const resolve = this.resolve;
      this.resolve = null;
      resolve?.();
    };
  }

  /** The sources that fired since the last wait (empty when it timed out or was aborted). */
  async wait(ms: number, signal: AbortSignal): Promise<Set<string>> {
    if (this.pending.size === 0 && ms > 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          this.resolve = null;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener('abort', done, { once: true });
        this.resolve = done;
      });
    }
    const fired = this.pending;
    this.pending = new Set();
    return fired;
  }
}
