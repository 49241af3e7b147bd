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

  function follower(collectGarbage?: (dryRun: boolean) => Promise<unknown>): ConfigFollower {
    return new ConfigFollower({
      gateway: parent, applier: new ConfigApplier(local.store.connectedRegistries, local.store.identity, local.store, local.policy),
      state: local.store, reconciles: owed, selfName: 'edge', logger: local.logger, onApplied: () => (applied += 1),
      ...(collectGarbage ? { collectGarbage } : {}),
    });
  }

  /** A collection the test ends when it wants, recording the runs asked for. */
  function collections(): { runs: boolean[]; finish(err?: Error): void; collect(dryRun: boolean): Promise<unknown> } {
    const runs: boolean[] = [];
    let end: (err?: Error) => void = () => undefined;
    return {
      runs,
      finish: (err) => end(err),
      collect: (dryRun) => {
        runs.push(dryRun);
        return new Promise((resolve, reject) => (end = (err) => (err ? reject(err) : resolve(undefined))));
      },
    };
  }

  test('a gc request at the root runs once in the background; it is handled only once it has run to its end', async () => {
    const gc = collections();
    const config = follower(gc.collect);
    await config.refresh(signal);
    assert.deepEqual(gc.runs, [], 'no request, no collection');
    parent.setConfig((doc) => {
      doc.self.gcRequest = { requestedAt: '2030-01-01T00:00:00.000Z', dryRun: true };
    });
    await config.refresh(signal);
    assert.deepEqual(gc.runs, [true], 'the refresh did not wait for the collection');
    parent.setConfig((doc) => {
      doc.self.logging.logLevel = 'Warning';
    });
    await config.refresh(signal);
    assert.deepEqual(gc.runs, [true], 'the same request while it runs starts nothing');
    assert.equal(await local.store.getState(SYNC_STATE_KEYS.gcHandled), null);
    gc.finish();
    await until('the request handled', async () => (await local.store.getState(SYNC_STATE_KEYS.gcHandled)) === '2030-01-01T00:00:00.000Z');
    parent.setConfig((doc) => {
      doc.self.logging.logLevel = 'Error';
    });
    await config.refresh(signal);
    assert.deepEqual(gc.runs, [true], 'a handled request does not run again');
    const restarted = follower(gc.collect);
    await restarted.load();
    assert.deepEqual(gc.runs, [true], 'nor after a restart');
  });

  test('a gc request that did not run to its end runs again at the next start', async () => {
    const gc = collections();
    const config = follower(gc.collect);
    parent.setConfig((doc) => {
      doc.self.gcRequest = { requestedAt: '2030-01-02T00:00:00.000Z', dryRun: false };
    });
    await config.refresh(signal);
    gc.finish(new Error('the node stopped'));
    await until('the failure noted', () => local.lines.some((line) => line.msg.includes('garbage collection requested at the root failed')));
    assert.equal(await local.store.getState(SYNC_STATE_KEYS.gcHandled), null);
    const restarted = follower(gc.collect);
    await restarted.load();
    assert.deepEqual(gc.runs, [false, false], 'asked again from the stored config');
    gc.finish();
    await until('handled at last', async () => (await local.store.getState(SYNC_STATE_KEYS.gcHandled)) === '2030-01-02T00:00:00.000Z');
  });

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
