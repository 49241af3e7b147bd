// Reading a process tree's resident memory from /proc (Linux).
import fs from 'node:fs';

/** Map ppid -> [pid] over all processes. */
function childrenMap() {
  const kids = new Map();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // fields after "(comm)": state ppid ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(e));
    } catch {
      /* process went away */
    }
  }
  return kids;
}

/** pid and all its descendants. */
export function processTree(pid) {
  const kids = childrenMap();
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(kids.get(out[i]) ?? []));
  return out;
}

/** VmRSS of one process in KiB (0 if gone). */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Summed VmRSS of the given pids, in KiB. */
export const treeRssKiB = (pids) => pids.reduce((sum, p) => sum + rssKiB(p), 0);

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on every Linux ABI in use). */
export const CLK_TCK = 100;

/** CPU time (user + system) one process has consumed, in seconds (0 if gone). */
export function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "(comm)": state(3) ppid(4) … utime(14) stime(15)
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Summed CPU seconds of the given pids. */
export const treeCpuSeconds = (pids) => pids.reduce((sum, p) => sum + cpuSeconds(p), 0);

/**
 * Bytes a process has passed to write-like system calls (`wchar` of /proc/<pid>/io): for a
 * registry serving blobs this is mostly what it sent on its sockets (plus its own log and
 * database writes). 0 if unreadable.
 */
export function writtenBytes(pid) {
  try {
    const m = /^wchar:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
