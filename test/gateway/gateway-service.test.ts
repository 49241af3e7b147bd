import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteMetadataStore } from '../../src/metadata/index.js';
import { GatewayService } from '../../src/gateway/gateway-service.js';
import { digestOf, manifestInput } from '../metadata/store-suite.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** GatewayService over a real in-memory SQLite store, with a clock the test moves. */
async function open(selfName: string | null): Promise<{ store: SqliteMetadataStore; service: GatewayService; clock: { now: number } }> {
  const clock = { now: 100 * DAY_MS };
  const store = await SqliteMetadataStore.open(':memory:', { clock: () => clock.now });
  const service = new GatewayService(
    { metadata: store, identities: store.identity, connectedRegistries: store.connectedRegistries, ...(selfName !== null ? { outbox: store } : {}) },
    selfName,
    () => clock.now,
  );
  return { store, service, clock };
}

describe('GatewayService', () => {
  test('prune never drops a local write still waiting in the outbox, nor anything after it', async () => {
    const { store, service, clock } = await open('site-main');
    try {
      await store.applyManifest(manifestInput('app', 'from-parent', { tag: 'p' }), 7); // rows 1, 2 (sync)
      await store.putManifest(manifestInput('app', 'local-1', { tag: 'l1' })); // rows 3, 4 (local)
      await store.markPushed(4);
      await store.putManifest(manifestInput('app', 'local-2', { tag: 'l2' })); // rows 5, 6 (local, pending)
      clock.now -= 10 * DAY_MS; // the clock stepped back: row 7 and 8 look older than row 5
      await store.putManifest(manifestInput('app', 'local-3', { tag: 'l3' })); // rows 7, 8 (local, pending)
      clock.now += 200 * DAY_MS; // everything is older than the 90 days a node without children keeps
      assert.equal(await service.prune(), 4, 'the rows before the first pending write');
      assert.deepEqual((await store.changesSince(0, 100)).map((c) => c.seq), [5, 6, 7, 8]);
      assert.deepEqual((await store.pendingOutbox(10)).map((c) => c.digest), [
        digestOf('local-2'), digestOf('local-2'), digestOf('local-3'), digestOf('local-3'),
      ]);
      await store.markPushed(8);
      assert.equal(await service.prune(), 3, 'once pushed, all but the newest row');
    } finally {
      await store.close();
    }
  });
});
