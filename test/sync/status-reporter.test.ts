import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { ManualClock } from '../../src/core/clock.js';
import type { GcReport } from '../../src/core/gc-report.js';
import { SYNC_STATE_KEYS } from '../../src/metadata/index.js';
import { ConfigApplier } from '../../src/sync/config-applier.js';
import { MAX_ITEM_DETAILS } from '../../src/sync/status-details.js';
import { StatusReporter } from '../../src/sync/status-reporter.js';
import { SyncActivity } from '../../src/sync/sync-activity.js';
import { FakeParent, parentError } from './fake-parent.js';
import { localNode, manualClock, until, type LocalNode } from './unit-fixture.js';

/** Status reporting of a connected node (docs/architecture.md, "Connected node and sync agent"), to a fake parent. */
describe('StatusReporter', () => {
  let clock: ManualClock;
  let parent: FakeParent;
  let local: LocalNode;
  let activity: SyncActivity;
  let refreshedWith: string[];
  let reactivations: number;

  beforeEach(async () => {
    clock = manualClock();
    parent = new FakeParent({ clock, name: 'edge' });
    parent.activeInstance = 'instance-1';
    local = await localNode(parent);
    activity = new SyncActivity();
    activity.enter('Connected');
    refreshedWith = [];
    reactivations = 0;
  });

  afterEach(async () => {
    parent.releaseAll();
    await local.close();
  });

  function reporter(): StatusReporter {
    return new StatusReporter({
      gateway: parent, store: local.store, connectedRegistries: local.store.connectedRegistries, activity,
      config: { refreshIfChanged: async (etag) => void refreshedWith.push(etag) },
      selfName: 'edge', version: '9.9.9', loginServer: () => ({ host: 'edge.example:443' }), instanceId: () => 'instance-1',
      reactivate: async () => {
        reactivations += 1;
        parent.activeInstance = 'instance-1';
      },
      clock, logger: local.logger, heartbeatSeconds: 10,
    });
  }

  test('the report carries the last garbage collection\'s, as stored (null before the first)', async () => {
    assert.equal((await reporter().report()).lastGarbageCollection, null);
    const gc: GcReport = {
      dryRun: true, startedAt: '2030-01-01T00:00:00.000Z', finishedAt: '2030-01-01T00:00:01.000Z', graceSeconds: 3600,
      links: { count: 1, bytes: 10 }, blobs: { count: 2, bytes: 20 }, manifests: { count: 0, bytes: 0 }, uploads: { count: 0, bytes: 0 },
      freedBytes: 20, skipped: 0, timings: { linksMs: 1, markMs: 2, sweepMs: 3, uploadsMs: 0, totalMs: 6 },
    };
    await local.store.setState(SYNC_STATE_KEYS.gcLastReport, JSON.stringify(gc));
    assert.deepEqual((await reporter().report()).lastGarbageCollection, gc);
  });

  test('the report: state from the work in flight, version, login server, cursor, outbox, last sync', async () => {
    const status = reporter();
    let report = await status.report();
    assert.equal(report.connectionState, 'Online');
    assert.equal(report.lastSyncTime, null);
    assert.equal(report.cursor, null);
    assert.deepEqual([report.instanceId, report.version, report.loginServer, report.outbox], ['instance-1', '9.9.9', { host: 'edge.example:443' }, 0]);
    let finish!: () => void;
    const apply = activity.track('apply', () => new Promise<void>((resolve) => {
      finish = resolve;
    }));
    await local.store.setCursor(12);
    status.noteSynced();
    report = await status.report();
    assert.equal(report.connectionState, 'Syncing');
    assert.equal(report.cursor, 12);
    assert.equal(report.lastSyncTime, new Date(clock.now()).toISOString());
    finish();
    await apply;
    assert.equal((await status.report()).connectionState, 'Online');
  });

  test('a failing disk is a DiskError until cleared; other failures are not reported', async () => {
    const status = reporter();
    status.noteFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    assert.deepEqual((await status.report()).statusDetails, []);
    status.noteFailure(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
    const [detail] = (await status.report()).statusDetails;
    assert.equal(detail?.type, 'DiskError');
    assert.equal(detail.code, 'ENOSPC');
    assert.equal(detail.correlationId, 'instance-1');
    status.clearDiskError();
    assert.deepEqual((await status.report()).statusDetails, []);
  });

  test('every parked item is reported (at most 20 of a type, and how many more), from the durable records', async () => {
    for (let i = 0; i < MAX_ITEM_DETAILS + 3; i++) {
      await local.store.parkItem({
        repository: 'app', digest: `sha256:${String(i).padStart(64, '0')}`, tag: `t${i}`, parentSeq: i + 1, code: 'BLOB_UNKNOWN', message: 'blob unknown',
        attempts: 1, failedAt: new Date(clock.now()), nextAttemptAt: new Date(clock.now() + 10_000),
      });
    }
    const details = (await reporter().report()).statusDetails;
    assert.equal(details.length, MAX_ITEM_DETAILS + 1);
    assert.ok(details.slice(0, MAX_ITEM_DETAILS).every((d) => d.type === 'SyncItemFailed' && d.repository === 'app' && d.code === 'BLOB_UNKNOWN'));
    assert.equal(details[0]!.tag, 't0');
    assert.equal(details[0]!.correlationId, 'parent-seq:1');
    assert.equal(details[MAX_ITEM_DETAILS]!.code, 'MORE');
  });

  test('the descendants this node\'s gateway serves are relayed, not its own record', async () => {
    parent.setConfig((doc) => {
      doc.descendants = [{ ...structuredClone(doc.self), name: 'child', parent: 'edge', sync: { ...doc.self.sync, tokenName: 'child-sync' } }];
    });
    await new ConfigApplier(local.store.connectedRegistries, local.store.identity, local.store, local.policy).apply(parent.configDocument, parent.configEtag);
    const { descendants } = await reporter().report();
    assert.deepEqual(descendants.map((d) => [d.name, d.activationStatus, d.connectionState]), [['child', 'Inactive', 'Offline']]);
  });

  test('a heartbeat whose answer carries another config ETag refreshes the config', async () => {
    await reporter().send(new AbortController().signal);
    assert.equal(parent.reports.length, 1);
    assert.deepEqual(refreshedWith, [parent.configEtag]);
  });

  test('heartbeats: every interval; a failed one is only logged; a deactivation activates again', async () => {
    const stop = new AbortController();
    const running = reporter().heartbeats(stop.signal);
    await until('the first heartbeat', () => parent.reports.length === 1);
    const down = parent.rule((method) => method === 'PUT', { fail: () => parentError(503, 'UNAVAILABLE') }, 1);
    clock.advance(10_000);
    await until('the failed heartbeat logged', () => down.matched === 1 && local.lines.some((l) => l.msg === 'heartbeat failed'));
    parent.deactivate();
    clock.advance(10_000);
    await until('activated again', () => reactivations === 1);
    clock.advance(10_000);
    await until('heartbeats again', () => parent.reports.length === 2);
    stop.abort();
    await running;
  });
});
