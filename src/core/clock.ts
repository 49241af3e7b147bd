/**
 * The one clock of a node: every part that reads the time or waits (token expiry, TTLs, the
 * gateway's activity times, sync windows and backoff, background jobs) takes it from here, so
 * tests move time with a ManualClock instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` of this clock's time, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  }),
};

/**
 * A clock tests set: `now()` is what they say; a sleep ends when the clock is advanced past its
 * deadline (or after `realLimitMs` of real time, so a waiting loop still looks around now and then).
 */
export class ManualClock implements Clock {
  private current: number;
  private readonly sleepers = new Set<{ until: number; wake: () => void }>();

  constructor(start: number = Date.now(), private readonly realLimitMs = 200) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  set(time: number): void {
    this.current = time;
    for (const sleeper of [...this.sleepers]) if (sleeper.until <= time) sleeper.wake();
  }

  advance(ms: number): void {
    this.set(this.current + ms);
  }

  /** How many sleeps are waiting on this clock now (tests wait for a loop to reach its sleep). */
  get sleeping(): number {
    return this.sleepers.size;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const sleeper = { until: this.current + ms, wake: () => finish() };
      const timer = setTimeout(() => finish(), Math.min(Math.max(0, ms), this.realLimitMs));
      const finish = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(sleeper);
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      if (signal?.aborted || ms <= 0) return finish();
      this.sleepers.add(sleeper);
      signal?.addEventListener('abort', finish, { once: true });
    });
  }
}
