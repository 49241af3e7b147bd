// Make sure the external tools the bench needs (Debian packages) are present.
import process from 'node:process';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { log } from './util.mjs';

export function which(bin) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, bin);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  for (const p of [`/usr/bin/${bin}`, `/usr/local/bin/${bin}`]) if (fs.existsSync(p)) return p;
  return null;
}

function aptGet(args) {
  const asRoot = process.getuid?.() === 0;
  const cmd = asRoot ? 'apt-get' : 'sudo';
  const argv = asRoot ? args : ['-n', 'apt-get', ...args];
  log(`running: ${asRoot ? '' : 'sudo '}apt-get ${args.join(' ')}`);
  const r = spawnSync(cmd, argv, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return r.status === 0;
}

/** Return the path of `bin`, installing Debian package `pkg` with apt-get if it is missing. */
export function ensureBinary(bin, pkg) {
  let p = which(bin);
  if (p) return p;
  log(`${bin} not found; installing Debian package ${pkg}`);
  if (!aptGet(['install', '-y', '--no-install-recommends', pkg])) {
    aptGet(['update']);
    aptGet(['install', '-y', '--no-install-recommends', pkg]);
  }
  p = which(bin);
  if (!p) throw new Error(`could not install ${pkg} (needed for ${bin}); install it by hand`);
  return p;
}
