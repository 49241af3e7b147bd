import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import type { StorageUsageDoc } from '../../src/client/gateway-protocol.js';
import { StorageMeter } from '../../src/lifecycle/storage-meter.js';
import { SqliteMetadataStore } from '../../src/metadata/index.js';
import { StatusReporter } from '../../src/sync/status-reporter.js';
import { SyncActivity } from '../../src/sync/sync-activity.js';
import { tempDir } from '../helpers/test-node.js';
import { LOCAL, digestOf } from '../metadata/store-suite.js';
import { FakeParent } from '../sync/fake-parent.js';
import { localNode, manualClock } from '../sync/unit-fixture.js';

/** StorageMeter (docs/operations.md, "Disk planning and usage") over a real SQLite store and the real filesystem of a temporary folder. */
describe('StorageMeter', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let store: SqliteMetadataStore;
  const clock = new ManualClock(Date.UTC(2026, 6, 1));

  before(async () => {
    dir = await tempDir('outpost-meter-');
    store = await SqliteMetadataStore.open(join(dir.path, 'metadata.db'));
  });

  after(async () => {
    await store?.close();
    await dir?.cleanup();
  });

  test('measures the stored bytes and the filesystem of a storage folder not made yet (its parent\'s)', async () => {
    await store.linkBlob(LOCAL, 'app', digestOf('a'), 1000);
    const meter = new StorageMeter({ metadata: store, path: join(dir.path, 'storage', 'not-yet'), clock });
    const figures = await meter.measure();
    const disk = await statfs(dir.path, { bigint: true });
    assert.equal(figures.usedBytes, 1000);
    assert.equal(figures.filesystem?.totalBytes, Number(disk.blocks * disk.bsize));
    assert.ok(figures.filesystem!.availableBytes <= figures.filesystem!.freeBytes);
    assert.equal(figures.measuredAt.getTime(), clock.now());
  });

  test('keeps the stored bytes until told a write changed them', async () => {
    const meter = new StorageMeter({ metadata: store, path: dir.path, clock });
    const first = (await meter.measure()).usedBytes;
    await store.linkBlob(LOCAL, 'app', digestOf('b'), 500);
    assert.equal((await meter.measure()).usedBytes, first, 'counted once, not at every heartbeat');
    meter.invalidate();
    assert.equal((await meter.measure()).usedBytes, first + 500);
  });

  test('storage that is not a local filesystem has no filesystem figures', async () => {
    const meter = new StorageMeter({ metadata: store, path: null, clock });
    assert.equal((await meter.measure()).filesystem, null);
    assert.equal(await meter.filesystem(), null);
  });

  test('a heartbeat whose measurement fails is still sent, without storage; a working one carries it', async () => {
    const unitClock = manualClock();
    const parent = new FakeParent({ clock: unitClock, name: 'edge' });
    parent.activeInstance = 'instance-1';
    const local = await localNode(parent);
    const activity = new SyncActivity();
    activity.enter('Connected');
    const reporter = (storage: () => Promise<StorageUsageDoc | null>): StatusReporter => new StatusReporter({
      gateway: parent, store: local.store, connectedRegistries: local.store.connectedRegistries, activity,
      config: { refreshIfChanged: async () => undefined }, selfName: 'edge', version: '1', loginServer: () => null, instanceId: () => 'instance-1',
      reactivate: async () => undefined, clock: unitClock, logger: local.logger, storage,
    });
    try {
      await reporter(() => Promise.reject(new Error('EIO: statfs failed'))).send(new AbortController().signal);
      assert.equal(parent.reports.at(-1)?.storage, null);
      const measured = { usedBytes: 42, totalBytes: null, freeBytes: null, availableBytes: null, measuredAt: new Date(unitClock.now()).toISOString() };
      await reporter(async () => measured).send(new AbortController().signal);
      assert.deepEqual(parent.reports.at(-1)?.storage, measured);
    } finally {
      parent.releaseAll();
      await local.close();
    }
  });
});
