import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SyncActivity } from '../../src/sync/sync-activity.js';

/** The agent's state derived from the work in flight (docs/architecture.md, "Connected node and sync agent"). */
describe('SyncActivity', () => {
  test('the phase shows as it is until connected; connected, the work in flight says Syncing or Online', async () => {
    const activity = new SyncActivity();
    assert.equal(activity.state, 'Starting');
    activity.enter('Offline');
    assert.equal(activity.state, 'Offline');
    activity.enter('Connected');
    assert.equal(activity.state, 'Online');
    assert.equal(activity.connectionState, 'Online');
    let finish!: () => void;
    const apply = activity.track('apply', () => new Promise<void>((resolve) => {
      finish = resolve;
    }));
    assert.equal(activity.state, 'Syncing', 'counted from before the work starts');
    assert.equal(activity.connectionState, 'Syncing');
    finish();
    await apply;
    assert.equal(activity.state, 'Online');
    activity.enter('OutsideWindow');
    assert.equal(activity.state, 'OutsideWindow');
  });

  test('one piece of work ending leaves the state Syncing while another runs (a drain that ends mid-apply)', async () => {
    const activity = new SyncActivity();
    activity.enter('Connected');
    let endApply!: () => void;
    const apply = activity.track('apply', () => new Promise<void>((resolve) => {
      endApply = resolve;
    }));
    await activity.track('drain', async () => {
      assert.equal(activity.inFlight(), 2);
    });
    assert.equal(activity.inFlight('drain'), 0);
    assert.equal(activity.connectionState, 'Syncing');
    endApply();
    await apply;
    assert.equal(activity.connectionState, 'Online');
  });

  test('work that fails stops counting too, and its failure reaches the caller', async () => {
    const activity = new SyncActivity();
    activity.enter('Connected');
    await assert.rejects(activity.track('reconcile', async () => {
      throw new Error('the link went down');
    }), /the link went down/);
    assert.equal(activity.inFlight(), 0);
    assert.equal(activity.state, 'Online');
  });
});
