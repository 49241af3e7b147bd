import { setMaxListeners } from 'node:events';

/** Runs at most `limit` tasks at once; the rest wait in order. */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    // A freed slot passes straight to the first waiter (see the finally): a caller arriving
    // between the release and that waiter's turn finds it taken and queues behind.
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active += 1;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}

/**
 * Runs `task` on every item, at most `limit` at once, and returns the results in order. On the
 * first failure no further task starts, the signal the running ones were given aborts, and the
 * failure is thrown once every started task has settled: nothing a task of a failed call does
 * (such as committing what it fetched) happens after the call has returned.
 */
export async function runAll<T, R>(items: readonly T[], limit: number, signal: AbortSignal | undefined, task: (item: T, signal: AbortSignal) => Promise<R>): Promise<R[]> {
  const failed = new AbortController();
  const inner = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
  // Each running task's requests listen to it (many at once): not a leak.
  setMaxListeners(0, inner);
  const results: R[] = [];
  let firstError: unknown;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (!failed.signal.aborted && next < items.length) {
      const index = next++;
      try {
        results[index] = await task(items[index]!, inner);
      } catch (error) {
        if (!failed.signal.aborted) {
          firstError = error;
          failed.abort(error);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed.signal.aborted) throw firstError;
  return results;
}
