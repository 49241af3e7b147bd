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
