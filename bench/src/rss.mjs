// Resident-memory sampling of a registry process (and any children it forked).
// The sampler runs in a worker thread so that a busy bench event loop (e.g. 16
// concurrent downloads) does not delay the 100 ms samples.
import { Worker } from 'node:worker_threads';
import { URL } from 'node:url';
import { processTree, treeRssKiB } from './proc.mjs';

/**
 * Start sampling; resolves once the first sample is taken, to
 * { stop() -> Promise<{ peakKiB, firstKiB, lastKiB, samples, pids }> }.
 */
export function startRssSampler(pid, intervalMs = 100) {
  const worker = new Worker(new URL('./rss-worker.mjs', import.meta.url), { workerData: { pid, intervalMs } });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', () =>
      resolve({
        stop: () =>
          new Promise((res) => {
            worker.once('message', (m) => {
              worker.terminate();
              res(m);
            });
            worker.postMessage('stop');
          }),
      }),
    );
  });
}

/** One-shot RSS of the process tree, in KiB. */
export const rssNow = (pid) => treeRssKiB(processTree(pid));
