// Worker thread: samples the RSS of a process tree every intervalMs until told to stop.
import { parentPort, workerData } from 'node:worker_threads';
import { setInterval, clearInterval } from 'node:timers';
import { processTree, treeRssKiB } from './proc.mjs';

const { pid, intervalMs } = workerData;
let pids = processTree(pid);
let ticks = 0;
let peak = 0;
let first = 0;
let last = 0;
let samples = 0;

function sample() {
  if (++ticks % 10 === 0) pids = processTree(pid); // refresh the tree once a second
  const kib = treeRssKiB(pids);
  if (samples === 0) first = kib;
  samples++;
  last = kib;
  if (kib > peak) peak = kib;
}

sample();
parentPort.postMessage({ ready: true });
const timer = setInterval(sample, intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  sample();
  parentPort.postMessage({ peakKiB: peak, firstKiB: first, lastKiB: last, samples, pids });
});
