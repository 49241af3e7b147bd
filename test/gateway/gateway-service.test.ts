import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteMetadataStore, type ConnectedRegistryInput } from '../../src/metadata/index.js';
import { GatewayService } from '../../src/gateway/gateway-service.js';
import { LOCAL, digestOf, manifestInput } from '../metadata/store-suite.js';
import { syncWrites } from '../metadata/sync-store-suite.js';

const DAY_MS = 24 * 60 * 60 * 1000;

function input(name: string, parent: string | null = null): ConnectedRegistryInput {
  return {
    name, mode: 'ReadOnly', parent,
    sync: { tokenName: name, schedule: '* * * * *', syncWindow: null, messageTtl: 'P2D' },
    clientTokenIds: [], logging: { logLevel: 'Information', auditLogStatus: 'Disabled' },
    notificationsList: [], garbageCollection: { enabled: false, schedule: '0 0 * * *' },
  };
}

/**
 * GatewayService over a real in-memory SQLite store, with a clock the test moves. `prune` first
 * marks every change as made into notification events, as a running node's LocalEvents does
 * (the change log keeps what is not yet: test/metadata/sqlite-store.test.ts).
 */
async function open(selfName: string | null): Promise<{ store: SqliteMetadataStore; service: GatewayService; clock: { now: number }; prune(): Promise<number> }> {
  const clock = { now: 100 * DAY_MS };
  const store = await SqliteMetadataStore.open(':memory:', { clock: () => clock.now });
  const service = new GatewayService(
    { metadata: store, identities: store.identity, connectedRegistries: store.connectedRegistries, ...(selfName !== null ? { outbox: store } : {}) },
    selfName,
    () => clock.now,
  );
  const prune = async (): Promise<number> => {
    await store.notifications.recordNotified([], await store.lastChangeSeq());
    return service.prune();
  };
  return { store, service, clock, prune };
}

describe('GatewayService', () => {
  test('prune never drops a local write still waiting in the outbox, nor anything after it', async () => {
    const { store, clock, prune } = await open('site-main');
    try {
      await store.putManifest({ origin: 'sync', actor: null, cursor: 7 }, manifestInput('app', 'from-parent', { tag: 'p' })); // rows 1, 2 (sync)
      await store.putManifest(LOCAL, manifestInput('app', 'local-1', { tag: 'l1' })); // rows 3, 4 (local)
      await store.markPushed(4);
      await store.putManifest(LOCAL, manifestInput('app', 'local-2', { tag: 'l2' })); // rows 5, 6 (local, pending)
      clock.now -= 10 * DAY_MS; // the clock stepped back: row 7 and 8 look older than row 5
      await store.putManifest(LOCAL, manifestInput('app', 'local-3', { tag: 'l3' })); // rows 7, 8 (local, pending)
      clock.now += 200 * DAY_MS; // everything is older than the 90 days a node without children keeps
      assert.equal(await prune(), 4, 'the rows before the first pending write');
      assert.deepEqual((await store.changesSince(0, 100)).map((c) => c.seq), [5, 6, 7, 8]);
      assert.deepEqual((await store.pendingOutbox(10)).map((c) => c.digest), [
        digestOf('local-2'), digestOf('local-2'), digestOf('local-3'), digestOf('local-3'),
      ]);
      await store.markPushed(8);
      assert.equal(await prune(), 3, 'once pushed, all but the newest row');
    } finally {
      await store.close();
    }
  });

  test('prune keeps a pushed local write until its echo settles it, and a parked one', async () => {
    const { store, clock, prune } = await open('site-main');
    try {
      await store.putManifest(LOCAL, manifestInput('app', 'local-1', { tag: 'l1' })); // rows 1, 2
      const [manifest, tag] = await store.pendingOutbox(10);
      await store.recordPushed(manifest!, true);
      await store.parkOutboxChange(tag!, { code: 'BLOB_UNKNOWN', message: 'missing here', at: new Date(clock.now), nextAttemptAt: new Date(clock.now + 10_000) });
      await store.putManifest(LOCAL, manifestInput('app', 'local-2')); // row 3
      await store.markPushed(3);
      clock.now += 200 * DAY_MS;
      assert.equal(await prune(), 0, 'row 1 awaits its echo');
      await syncWrites(store).applier.applyManifest(manifestInput('app', 'local-1'), 50); // the echo (nothing to change here: no row)
      assert.equal(await prune(), 1, 'row 1 goes; row 2 is parked');
      await store.recordPushed(tag!, false);
      assert.equal(await prune(), 1, 'row 2 goes; the newest row always stays');
    } finally {
      await store.close();
    }
  });

  test('messages carry blob deletes like every other change', async () => {
    const { store, service } = await open(null);
    try {
      await store.linkBlob(LOCAL, 'app', digestOf('layer'), 3);
      await store.unlinkBlob(LOCAL, 'app', digestOf('layer'));
      await store.connectedRegistries.createConnectedRegistry(input('edge-one'));
      const page = await service.messages(await service.directChild('edge-one'), ['app'], 0, true);
      assert.deepEqual(page.messages.map((m) => [m.kind, m.repository, m.digest]), [['blob-delete', 'app', digestOf('layer')]]);
    } finally {
      await store.close();
    }
  });

  test('config: a record read before an invalidation does not put a stale document in the cache', async () => {
    const { store, service } = await open(null);
    try {
      await store.connectedRegistries.createConnectedRegistry(input('edge-one'));
      const before = (await service.directChild('edge-one'));
      const first = await service.config(before);
      // A management write commits and raises the config signal while a caller still holds `before`.
      await store.connectedRegistries.updateConnectedRegistry('edge-one', { sync: { messageTtl: 'P5D' } });
      service.invalidateConfig();
      const built = await service.config(before);
      assert.equal(built.doc.self.sync.messageTtl, 'P5D', 'built from the record as it is now');
      assert.notEqual(built.etag, first.etag);
      const fresh = await service.config(await service.directChild('edge-one'));
      assert.equal(fresh.etag, built.etag, 'the cache holds the current document');
    } finally {
      await store.close();
    }
  });
});
