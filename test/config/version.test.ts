import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OUTPOST_VERSION } from '../../src/config/version.js';
import { REPO_ROOT, OUTPOST_BIN } from '../helpers/test-node.js';
import { runProcess } from '../helpers/sync-e2e.js';

test('one version: package.json\'s, reported by the node and printed by the CLI', async () => {
  const manifest = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.match(manifest.version, /^\d+\.\d+\.\d+/);
  assert.equal(OUTPOST_VERSION, manifest.version);
  const printed = await runProcess(process.execPath, [OUTPOST_BIN, '--version'], { timeoutMs: 20_000 });
  assert.equal(printed.code, 0);
  assert.equal(printed.stdout.trim(), manifest.version);
});
