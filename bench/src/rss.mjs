// Resident-memory sampling of a registry process (and any children it forked).
// The sampler runs in a worker thread so that a busy bench event loop (e.g. 16
// concurrent downloads) does not delay the 100 ms samples.
import { setTimeout } from 'node:timers';
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { pid, intervalMs } = workerData;

function childrenOf() {
  const kids = new Map();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync('/proc/' + e + '/stat', 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(e));
    } catch {}
  }
  return kids;
}
function tree() {
  const kids = childrenOf();
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(kids.get(out[i]) ?? []));
  return out;
}
function rssKiB(p) {
  try {
    const m = /VmRSS:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/' + p + '/status', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}
let pids = tree();
let n = 0, peak = 0, first = 0, last = 0, samples = 0;
const timer = setInterval(() => {
  if (++n % 10 === 0) pids = tree(); // refresh the process tree once a second
  const kib = pids.reduce((a, p) => a + rssKiB(p), 0);
  if (samples === 0) first = kib;
  samples++; last = kib; if (kib > peak) peak = kib;
}, intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  parentPort.postMessage({ peakKiB: peak, firstKiB: first, lastKiB: last, samples, pids });
});
`;

/** Start sampling; returns { stop() -> Promise<{ peakKiB, firstKiB, lastKiB, samples }> }. */
export function startRssSampler(pid, intervalMs = 100) {
  const worker = new Worker(WORKER, { eval: true, workerData: { pid, intervalMs } });
  return {
    stop: () =>
      new Promise((resolve, reject) => {
        worker.once('message', (m) => {
          worker.terminate();
          resolve(m);
        });
        worker.once('error', reject);
        worker.postMessage('stop');
      }),
  };
}

/** One-shot VmRSS of the process tree, in KiB. */
export async function rssNow(pid) {
  const s = startRssSampler(pid, 10);
  await new Promise((r) => setTimeout(r, 50));
  return (await s.stop()).lastKiB;
}
