import { execFileSync } from 'node:child_process';

/**
 * Mounts a tmpfs of `size` (e.g. `8m`) at `path`, to make a disk that really fills up; false
 * where this process cannot mount one (not root), so the test says it is skipped there.
 */
export function mountTmpfs(path: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function unmountTmpfs(path: string): void {
  execFileSync('umount', [path]);
}
