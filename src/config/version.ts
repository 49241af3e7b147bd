import { readFileSync } from 'node:fs';

/**
 * Outpost's version, from `package.json`: the one place it is written. Read once, when this
 * module loads; the node reports it to its parent and the CLI prints it (`outpost --version`).
 */
export const OUTPOST_VERSION: string = readVersion();

function readVersion(): string {
  // The nearest package.json of Outpost up the tree: the compiled code runs from dist/src/config/.
  for (let dir = new URL('./', import.meta.url); dir.pathname !== '/'; dir = new URL('../', dir)) {
    let text: string;
    try {
      text = readFileSync(new URL('package.json', dir), 'utf8');
    } catch {
      continue;
    }
    const manifest = JSON.parse(text) as { name?: unknown; version?: unknown };
    if (manifest.name === 'outpost' && typeof manifest.version === 'string') return manifest.version;
  }
  throw new Error(`no package.json of outpost above ${import.meta.url}`);
}
