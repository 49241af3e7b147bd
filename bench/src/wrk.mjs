// Request-rate load generation with wrk (C, epoll): the same generator and
// settings for every registry. A small Lua `done` hook prints a JSON summary.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureBinary } from './deps.mjs';
import { assertLoopback, round } from './util.mjs';

const LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
`;

let wrkBin;
let luaFile;
const running = new Set();

/** Kill any wrk still running (used on Ctrl-C). */
export function killWrk() {
  for (const child of running) child.kill('SIGKILL');
}

export function prepareWrk(workDir) {
  wrkBin = ensureBinary('wrk', 'wrk');
  luaFile = path.join(workDir, 'summary.lua');
  fs.writeFileSync(luaFile, LUA);
}

/**
 * Run wrk against `url`. Returns requests/s, transfer MB/s, latency and error
 * counts. Non-2xx/3xx responses are counted in `errors.status`.
 */
export function runWrk({ url, connections, seconds, threads = 2, headers = {}, timeoutSec = 10 }) {
  assertLoopback(url);
  const args = [
    `-t${Math.min(threads, connections)}`,
    `-c${connections}`,
    `-d${seconds}s`,
    `--timeout`,
    `${timeoutSec}s`,
    '-s',
    luaFile,
  ];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(wrkBin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      running.delete(child);
      const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
      if (code !== 0 || !line) {
        reject(new Error(`wrk exited ${code}: ${err || out}`));
        return;
      }
      const s = JSON.parse(line.slice('WRK_JSON '.length));
      const secs = s.duration_us / 1e6;
      const errors = s.connect + s.read + s.write + s.status + s.timeout;
      resolve({
        rps: s.requests / secs,
        mbps: s.bytes / secs / 1e6,
        requests: s.requests,
        seconds: round(secs, 4),
        p50_ms: round(s.p50_us / 1000),
        p99_ms: round(s.p99_us / 1000),
        mean_ms: round(s.mean_us / 1000),
        errors,
        errorDetail: {
          connect: s.connect,
          read: s.read,
          write: s.write,
          status: s.status,
          timeout: s.timeout,
        },
      });
    });
  });
}
