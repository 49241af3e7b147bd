import type { Logger } from 'pino';
import type { SyncStore } from '../metadata/index.js';
import type { Clock } from '../core/clock.js';
import type { EdgePolicy } from './edge-policy.js';
import type { OutboxPusher } from './outbox-pusher.js';
import type { SyncActivity } from './sync-activity.js';

/** How long the loop waits between drains when no local write wakes it. */
const IDLE_MS = 5_000;

export interface OutboxLoopDeps {
  pusher: Pick<OutboxPusher, 'drain'>;
  store: Pick<SyncStore, 'outboxSize'>;
  policy: Pick<EdgePolicy, 'currentMode'>;
  activity: Pick<SyncActivity, 'track'>;
  clock: Clock;
  /** Says what a drain pushed (one line per drain that pushed something). */
  logger?: Pick<Logger, 'info'>;
}

/**
 * The push-back loop of a session on a ReadWrite node (docs/architecture.md, "Outbox"): drains
 * the outbox when a local write wakes it and every 5 s; each drain counts as work in flight.
 * OutboxPusher runs one drain at a time, so a drain asked for elsewhere (a scheduled session's
 * end) never pushes the same change beside this one.
 */
export class OutboxLoop {
  private wakeWait: (() => void) | null = null;

  constructor(private readonly deps: OutboxLoopDeps) {}

  /** A local write was committed: the wait ends at once (a drain running now is followed by another). */
  wake(): void {
    this.wakeWait?.();
  }

  /** Pushes everything pending now (tracked as a drain); returns how many changes were handled. Throws RemoteError on link failures. */
  async drain(signal: AbortSignal): Promise<number> {
    const handled = await this.deps.activity.track('drain', () => this.deps.pusher.drain(signal));
    if (handled > 0) this.deps.logger?.info({ changes: handled }, `pushed ${handled} queued ${handled === 1 ? 'change' : 'changes'} to the parent`);
    return handled;
  }

  /** Drains until `signal` aborts; on a ReadOnly node only waits for it. Throws what a drain throws. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, store, policy } = this.deps;
    if (policy.currentMode !== 'ReadWrite') return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    while (!signal.aborted) {
      // A local write during the drain or the wait after it ends the wait: one timer per wait,
      // gone with it (wake-ups come by the hundred while a reconcile commits).
      const wake = new AbortController();
      const stop = (): void => wake.abort();
      this.wakeWait = stop;
      signal.addEventListener('abort', stop, { once: true });
      try {
        if ((await store.outboxSize()) > 0) await this.drain(signal);
        await clock.sleep(IDLE_MS, wake.signal);
      } finally {
        signal.removeEventListener('abort', stop);
      }
    }
  }
}
