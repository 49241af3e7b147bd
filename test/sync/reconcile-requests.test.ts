import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteMetadataStore, SYNC_STATE_KEYS } from '../../src/metadata/index.js';
import { ReconcileRequests } from '../../src/sync/reconcile-requests.js';

/** Full reconciles owed by the agent, never lost (docs/architecture.md, "Config"). */
describe('ReconcileRequests', () => {
  async function requests(setup: (store: SqliteMetadataStore) => Promise<void> = async () => undefined): Promise<{ store: SqliteMetadataStore; owed: ReconcileRequests }> {
    const store = await SqliteMetadataStore.open(':memory:');
    await setup(store);
    const owed = new ReconcileRequests(store);
    await owed.load();
    return { store, owed };
  }

  test('at start: owed by a node that never synced, or whose requested reconcile did not end', async () => {
    assert.equal((await requests()).owed.pending, true, 'never synced');
    assert.equal((await requests(async (s) => s.setCursor(7))).owed.pending, false);
    assert.equal((await requests(async (s) => {
      await s.setCursor(7);
      await s.setState(SYNC_STATE_KEYS.reconcile, 'pending');
    })).owed.pending, true);
    assert.equal((await requests(async (s) => {
      await s.setCursor(7);
      await s.setState(SYNC_STATE_KEYS.reconcile, 'done');
    })).owed.pending, false);
  });

  test('a request is stored; a reconcile begun after it clears it', async () => {
    const { store, owed } = await requests(async (s) => s.setCursor(7));
    await owed.request();
    assert.equal(owed.pending, true);
    assert.equal(await store.getState(SYNC_STATE_KEYS.reconcile), 'pending');
    await owed.run(async () => assert.equal(owed.pending, false, 'cleared before it starts'));
    assert.equal(owed.pending, false);
    assert.equal(await store.getState(SYNC_STATE_KEYS.reconcile), 'done');
  });

  test('a request made while a reconcile runs owes another one, in memory and in the store', async () => {
    const { store, owed } = await requests(async (s) => s.setCursor(7));
    await owed.request();
    await owed.run(async () => {
      await owed.request();
    });
    assert.equal(owed.pending, true);
    assert.equal(await store.getState(SYNC_STATE_KEYS.reconcile), 'pending');
  });

  test('a failed reconcile owes it again; RESYNC_REQUIRED owes one without storing it', async () => {
    const { store, owed } = await requests(async (s) => s.setCursor(7));
    owed.need();
    assert.equal(owed.pending, true);
    assert.equal(await store.getState(SYNC_STATE_KEYS.reconcile), null);
    await assert.rejects(owed.run(async () => {
      throw new Error('the link went down');
    }));
    assert.equal(owed.pending, true);
  });
});
