import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { SYNC_STATE_KEYS } from '../../src/metadata/index.js';
import { ConfigApplier } from '../../src/sync/config-applier.js';
import { ConfigFollower } from '../../src/sync/config-follower.js';
import { ReconcileRequests } from '../../src/sync/reconcile-requests.js';
import { SyncFatalError } from '../../src/sync/sync-failures.js';
import { FakeParent, parentError } from './fake-parent.js';
import { localNode, manualClock, until, type LocalNode } from './unit-fixture.js';

/** Following the parent's config (docs/architecture.md, "Config"), on a fake parent and the edge's real stores. */
describe('ConfigFollower', () => {
  let parent: FakeParent;
  let local: LocalNode;
  let owed: ReconcileRequests;
  let applied: number;
  const signal = new AbortController().signal;

  beforeEach(async () => {
    parent = new FakeParent({ clock: manualClock(), repositories: ['app'] });
    local = await localNode(parent);
    await local.store.setCursor(1);
    owed = new ReconcileRequests(local.store);
    await owed.load();
    applied = 0;
  });

  afterEach(async () => {
    await local.close();
  });

  function follower(): ConfigFollower {
    return new ConfigFollower({
      gateway: parent, applier: new ConfigApplier(local.store.connectedRegistries, local.store.identity, local.store, local.policy),
      state: local.store, reconciles: owed, selfName: 'edge', logger: local.logger, onApplied: () => (applied += 1),
    });
  }

  test('applies a new config, keeps it across a restart, and skips one it has (304)', async () => {
    const config = follower();
    await config.refresh(signal);
    assert.equal(config.etag, parent.configEtag);
    assert.equal(applied, 1);
    assert.equal(local.policy.inScope('app'), true);
    await config.refreshIfChanged(parent.configEtag, signal);
    await config.refresh(signal);
    assert.equal(applied, 1);
    assert.equal(parent.callsOf((_m, path) => path === '/gateway/config').length, 2, 'asked once more, answered 304');

    const restarted = follower();
    await restarted.load();
    assert.equal(restarted.etag, parent.configEtag);
    assert.deepEqual(restarted.document, parent.configDocument);
  });

  test('a restart hands the config applied last to onLoaded (its logging settings apply before the parent answers), a fresh node nothing', async () => {
    const loaded: string[] = [];
    const withLoaded = (): ConfigFollower => new ConfigFollower({
      gateway: parent, applier: new ConfigApplier(local.store.connectedRegistries, local.store.identity, local.store, local.policy),
      state: local.store, reconciles: owed, selfName: 'edge', logger: local.logger, onLoaded: (doc) => loaded.push(doc.self.logging.auditLogStatus),
    });
    await withLoaded().load();
    assert.deepEqual(loaded, [], 'nothing applied yet');
    parent.setConfig((doc) => {
      doc.self.logging.auditLogStatus = 'Enabled';
    });
    await withLoaded().refresh(signal);
    await withLoaded().load();
    assert.deepEqual(loaded, ['Enabled']);
  });

  test('a new scope asks for a reconcile, stored before the scope is stored as handled', async () => {
    const config = follower();
    await config.refresh(signal);
    assert.equal(owed.pending, true, 'the first scope');
    await owed.run(async () => undefined);
    parent.setConfig((doc) => {
      doc.self.logging.logLevel = 'Warning';
    });
    await config.refresh(signal);
    assert.equal(owed.pending, false, 'the same scope asks for nothing');
    parent.setConfig((doc) => {
      doc.repositories = ['web', 'app'];
    });
    await config.refresh(signal);
    assert.equal(owed.pending, true);
    assert.equal(await local.store.getState(SYNC_STATE_KEYS.reconcile), 'pending');
    assert.equal(await local.store.getState(SYNC_STATE_KEYS.scope), JSON.stringify(['app', 'web']));
  });

  test('a resync at the root asks for a reconcile once', async () => {
    const config = follower();
    await config.refresh(signal);
    await owed.run(async () => undefined);
    parent.requestResync();
    await config.refresh(signal);
    assert.equal(owed.pending, true);
    await owed.run(async () => undefined);
    parent.setConfig((doc) => {
      doc.self.logging.logLevel = 'Warning';
    });
    await config.refresh(signal);
    assert.equal(owed.pending, false, 'the same resync time again');
    assert.equal(await local.store.getState(SYNC_STATE_KEYS.resyncHandled), parent.configDocument.self.resyncRequestedAt);
  });

  test('the schedule and window of the config applied', async () => {
    const config = follower();
    assert.equal(config.schedule().continuous, true, 'continuous before the first config');
    parent.setConfig((doc) => {
      doc.self.sync.schedule = '0 */6 * * *';
      doc.self.sync.syncWindow = 'PT1H';
    });
    const before = config.scheduleKey();
    await config.refresh(signal);
    assert.equal(config.schedule().continuous, false);
    assert.notEqual(config.scheduleKey(), before);
  });

  test('a refusal of the parent is a SyncFatalError naming this node', async () => {
    parent.rule(() => true, { fail: () => parentError(401, 'UNAUTHORIZED') });
    await assert.rejects(follower().refresh(signal), (err: unknown) => err instanceof SyncFatalError && err.code === 'UNAUTHORIZED' && err.message.includes("'edge'"));
  });

  test('one refresh at a time: a second one asked for meanwhile runs after the first', async () => {
    const config = follower();
    const held = parent.rule((_m, path) => path === '/gateway/config', 'hold', 1);
    const first = config.refresh(signal);
    const second = config.refresh(signal);
    await until('the first refresh held', () => held.matched === 1);
    for (let i = 0; i < 10; i++) await tick();
    assert.equal(parent.callsOf((_m, path) => path === '/gateway/config').length, 1);
    held.release();
    await Promise.all([first, second]);
    assert.equal(applied, 1, 'the second found the config applied (304)');
  });
});
