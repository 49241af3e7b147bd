/** The first wait after a failure. */
export const FIRST_RETRY_MS = 500;
/** The longest wait: noticing that the parent is back costs at most this much more than the outage. */
export const MAX_RETRY_MS = 5_000;

/**
 * The waits between attempts while the parent is unreachable (docs/architecture.md, "Start"):
 * from 0.5 s, doubling, at most 5 s, each drawn between half and all of that (jitter: a fleet of
 * edges does not return in step). An attempt that held longer than the current wait (a session
 * that ran a while before it failed) starts the waits over, else every outage in a node's life
 * would be followed by a longer silence than the last.
 */
export class RetryBackoff {
  private currentMs = FIRST_RETRY_MS;

  /** `random`: a number in [0, 1) (Math.random; tests fix it). */
  constructor(private readonly random: () => number = Math.random) {}

  /** An attempt succeeded: the next failure waits the shortest again. */
  reset(): void {
    this.currentMs = FIRST_RETRY_MS;
  }

  /** An attempt that lasted `heldMs` failed: the wait before the next one (and the next failure's wait doubles). */
  next(heldMs: number): number {
    if (heldMs > this.currentMs) this.currentMs = FIRST_RETRY_MS;
    const waitMs = this.currentMs / 2 + this.random() * (this.currentMs / 2);
    this.currentMs = Math.min(this.currentMs * 2, MAX_RETRY_MS);
    return waitMs;
  }
}
