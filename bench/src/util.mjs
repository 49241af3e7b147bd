// Small helpers shared by the bench modules.
import process from 'node:process';
import { URL } from 'node:url';
import { setTimeout } from 'node:timers';
import net from 'node:net';

export const MiB = 1024 * 1024;
export const MB = 1e6;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Log a progress line to stderr (stdout is kept for the result table). */
export function log(...args) {
  process.stderr.write(`[bench] ${args.join(' ')}\n`);
}

/** Ask the kernel for a free loopback port: listen on port 0, read it, close. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function median(values) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Round to a sensible number of significant digits for display/JSON. */
export function round(v, digits = 3) {
  if (!Number.isFinite(v)) return v;
  if (Math.abs(v) >= 10 ** digits) return Math.round(v);
  return Number(v.toPrecision(digits));
}

/** Guard: the bench never talks to anything but loopback. */
export function assertLoopback(url) {
  const { hostname } = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(hostname)) {
    throw new Error(`refusing non-loopback target ${url}`);
  }
}
