import { test, describe, before, after } from 'node:test';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnectedRegistry, showAtRoot, startEdge, tagDigest, tempDir, waitFor } from '../helpers/hierarchy.js';
import { mountTmpfs, unmountTmpfs } from '../helpers/tmpfs.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { FAST_SYNC, pushImage, startRoot, type Root } from './sync-fixture.js';

/**
 * An edge whose disk fills up reports a DiskError (the root shows it Unhealthy); once space is
 * back and the sync that failed succeeds, it reports healthy again, also when that sync was a
 * full reconcile and no new message follows it. (The agent's side on a fake parent:
 * sync-agent.test.ts.)
 */
describe('a full disk at an edge shows at the root until the failed sync succeeds', () => {
  let root: Root;
  let dir: { path: string; cleanup(): Promise<void> };
  let mounted = false;
  let edge: TestNode | null = null;

  before(async () => {
    dir = await tempDir();
    mounted = mountTmpfs(dir.path, '2m');
    root = await startRoot();
  });

  after(async () => {
    await edge?.close();
    await root?.node.close();
    if (mounted) unmountTmpfs(dir.path);
    await dir?.cleanup();
  });

  test('full disk during the first reconcile: Unhealthy, then Online once it fits', async (t) => {
    if (!mounted) {
      t.skip('cannot mount a tmpfs here');
      return;
    }
    const big = await pushImage(root.admin, 'app', 'big', { layers: [randomBytes(3 * 1024 * 1024)] });
    const cr = await createConnectedRegistry(root.admin, { name: 'edgefulldisk', mode: 'ReadOnly', repositories: ['app'], logLevel: 'None' });
    edge = await startEdge(cr.connectionString, { app: FAST_SYNC, dataDir: dir.path });
    await waitFor('Unhealthy at the root', async () => (await showAtRoot(root.admin, 'edgefulldisk')).connectionState === 'Unhealthy', 15_000);
    execFileSync('mount', ['-o', 'remount,size=32m', dir.path]);
    await waitFor('app:big at the edge', async () => (await tagDigest(new TestClient(edge!.url), 'app', 'big')) === big.digest, 20_000);
    await waitFor('Online at the root', async () => (await showAtRoot(root.admin, 'edgefulldisk')).connectionState === 'Online', 5_000);
  });
});
