import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { createConnectedRegistry, showAtRoot, startEdge, tagDigest, waitFor, type CreatedRegistry } from '../helpers/hierarchy.js';
import { TestClient, basicAuth } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { FAST_SYNC, pushImage, startRoot, type Root } from '../sync/sync-fixture.js';

interface StorageShown {
  usedBytes: number;
  totalBytes: number | null;
  freeBytes: number | null;
  availableBytes: number | null;
  measuredAt: string;
}

/**
 * Each edge's storage in its heartbeat (docs/operations.md, "Disk planning and usage"): what it
 * stores and its filesystem's size, free and available space, recorded by the node that serves it
 * and relayed up, so the root shows it for a level-1 and a level-2 edge. Real nodes in this
 * process: root → site → line, heartbeats every second.
 */
describe('storage used and free, reported by every edge and shown at the root', () => {
  let root: Root;
  let site: TestNode;
  let line: TestNode;
  let siteCr: CreatedRegistry;

  before(async () => {
    root = await startRoot();
    siteCr = await createConnectedRegistry(root.admin, { name: 'site-store', mode: 'ReadWrite', repositories: ['app'], logLevel: 'None' });
    site = await startEdge(siteCr.connectionString, { app: FAST_SYNC });
    await waitFor('the site\'s login server at the root', async () => (await showAtRoot(root.admin, 'site-store')).loginServer !== null);
    const lineCr = await createConnectedRegistry(root.admin, { name: 'line-store', mode: 'ReadOnly', parent: 'site-store', repositories: ['app'], logLevel: 'None' });
    line = await startEdge(lineCr.connectionString, { app: FAST_SYNC });
  });

  after(async () => {
    await line?.close();
    await site?.close();
    await root?.node.close();
  });

  const storageAtRoot = async (name: string): Promise<StorageShown | null> => (await showAtRoot(root.admin, name)).storage as StorageShown | null;

  async function expectFilesystemOf(node: TestNode, shown: StorageShown): Promise<void> {
    const disk = await statfs(node.dataDir, { bigint: true });
    assert.equal(shown.totalBytes, Number(disk.blocks * disk.bsize), 'the size of the edge\'s filesystem');
    assert.ok(shown.freeBytes !== null && shown.freeBytes > 0 && shown.freeBytes <= shown.totalBytes!);
    assert.ok(shown.availableBytes !== null && shown.availableBytes <= shown.freeBytes);
    assert.ok(!Number.isNaN(Date.parse(shown.measuredAt)));
  }

  test('a level-1 and a level-2 edge report what they store, exact to the byte, and how full their disk is', async () => {
    const config = JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, note: 'storage' });
    const image = await pushImage(root.admin, 'app', 'v1', { layers: [randomBytes(4000), randomBytes(6000)], config });
    const bytes = Buffer.byteLength(config) + 4000 + 6000 + image.size;
    const atLine = new TestClient(line.url);
    await waitFor('app:v1 at the line', async () => (await tagDigest(atLine, 'app', 'v1')) === image.digest, 20_000);

    const siteShown = await waitFor('the site\'s storage at the root', async () => {
      const s = await storageAtRoot('site-store');
      return s !== null && s.usedBytes === bytes ? s : null;
    });
    await expectFilesystemOf(site, siteShown);
    const lineShown = await waitFor('the line\'s storage at the root, relayed by the site', async () => {
      const s = await storageAtRoot('line-store');
      return s !== null && s.usedBytes === bytes ? s : null;
    });
    await expectFilesystemOf(line, lineShown);

    // A push at the (ReadWrite) site: its figure grows by exactly that image; the line's follows once it syncs it.
    const local = await pushImage(new TestClient(site.url), 'app', 'local', { layers: [randomBytes(1234)], config });
    const grown = bytes + 1234 + local.size;
    await waitFor('the site\'s new figure at the root', async () => (await storageAtRoot('site-store'))?.usedBytes === grown);
    await waitFor('the line\'s new figure at the root', async () => (await storageAtRoot('line-store'))?.usedBytes === grown, 20_000);
  });

  test('the gateway refuses a malformed storage report (400) and keeps what it had', async () => {
    const before = await storageAtRoot('site-store');
    const bad: unknown[] = [
      'full',
      { usedBytes: -1, measuredAt: new Date().toISOString() },
      { usedBytes: 1.5, measuredAt: new Date().toISOString() },
      { usedBytes: 10, totalBytes: 'big', measuredAt: new Date().toISOString() },
      { usedBytes: 10, measuredAt: 'yesterday' },
      { usedBytes: 10 },
    ];
    for (const storage of bad) {
      const res = await fetch(`${root.node.url}/gateway/v1/${siteCr.name}/status`, {
        method: 'PUT',
        headers: { Authorization: basicAuth(siteCr.tokenName, siteCr.tokenPassword), 'Content-Type': 'application/json' },
        body: JSON.stringify({ instanceId: 'not-the-one', connectionState: 'Online', version: '0', outbox: 0, storage }),
      });
      const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
      assert.equal(res.status, 400, JSON.stringify(storage));
      assert.equal(body.errors[0]!.code, 'REQUEST_INVALID');
      assert.match(body.errors[0]!.message, /^storage/);
    }
    const after = await storageAtRoot('site-store');
    assert.equal(after?.usedBytes, before?.usedBytes);
  });
});
