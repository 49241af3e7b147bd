import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { SYNC_STATE_KEYS } from '../../src/metadata/index.js';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '../helpers/oci-client.js';
import type { ManualClock } from '../../src/core/clock.js';
import type { BlobStore } from '../../src/storage/index.js';
import { SyncFatalError, type SyncAgent } from '../../src/sync/sync-agent.js';
import { FakeParent, parentError, type FakeParentOptions } from './fake-parent.js';
import { driftTagDelete, localNode, manualClock, pushLocal, syncAgent, until, within, type LocalNode } from './unit-fixture.js';

/**
 * The whole agent on a fake parent and the manual clock (docs/architecture.md, "Connected node
 * and sync agent"): its state derived from the work in flight, full reconciles from the parent's
 * head, reconcile requests that are never lost, activation and refusals, stopping, DiskError.
 */
describe('SyncAgent', () => {
  let clock: ManualClock;
  let parent: FakeParent;
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    parent?.releaseAll();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function edge(options: Omit<FakeParentOptions, 'clock'> = {}, local?: LocalNode): Promise<{ agent: SyncAgent; local: LocalNode }> {
    clock ??= manualClock();
    parent ??= new FakeParent({ clock, ...options });
    const node = local ?? (await localNode(parent));
    if (!local) cleanups.push(() => node.close());
    const agent = syncAgent(parent, node, clock);
    cleanups.push(() => agent.stop());
    return { agent, local: node };
  }

  function fresh(): void {
    clock = manualClock();
    parent = undefined as unknown as FakeParent;
  }

  const synced = (local: LocalNode) => async (): Promise<boolean> => (await local.store.getCursor()) !== null;

  /** Moves the clock a heartbeat on and waits for the heartbeat it brings. */
  async function nextHeartbeat(): Promise<FakeParent['reports'][number]> {
    const before = parent.reports.length;
    clock.advance(1_000);
    await until('a heartbeat', () => parent.reports.length > before);
    return parent.reports[parent.reports.length - 1]!;
  }

  test('a heartbeat sent while an apply runs says Syncing, whatever the push-back finishes meanwhile', async () => {
    fresh();
    const { agent, local } = await edge({ mode: 'ReadWrite' });
    await agent.start();
    await until('the first sync', synced(local));
    await until('idle', () => agent.currentState === 'Online');
    // An apply that waits for a layer at the link...
    const layer = randomBytes(64);
    const held = parent.rule((method, path) => method === 'GET' && path.endsWith(`/blobs/${sha256(layer)}`), 'hold');
    const image = parent.pushImage('app', 'slow', { layers: [layer] });
    await until('the apply fetching the held layer', () => held.matched > 0);
    // ...while a local write's drain starts and ends.
    await pushLocal(local, 'app', 'local');
    agent.localWrite();
    await until('the local write at the parent', async () => parent.tagOf('app', 'local') !== null && (await local.store.outboxSize()) === 0);
    assert.equal(agent.currentState, 'Syncing');
    assert.equal((await nextHeartbeat()).connectionState, 'Syncing');
    held.release();
    await until('app:slow at the edge', async () => (await local.store.resolveTag('app', 'slow')) === image.digest);
    await until('idle again', () => agent.currentState === 'Online');
    assert.equal((await nextHeartbeat()).connectionState, 'Online');
  });

  test('the first sync is a full reconcile from the parent\'s head, asked for explicitly (no provoked 410)', async () => {
    fresh();
    const { agent, local } = await edge();
    const image = parent.pushImage('app', 'v1');
    await agent.start();
    await until('the first sync', synced(local));
    assert.equal(await local.store.resolveTag('app', 'v1'), image.digest);
    assert.equal(await local.store.getCursor(), parent.headSeq);
    assert.equal(parent.callsOf((method, path) => method === 'GET' && path === '/gateway/head').length, 1);
    const polls = parent.callsOf((_method, path) => path.startsWith('/gateway/messages')).map((c) => Number(/after=(\d+)/.exec(c.path)![1]));
    assert.ok(polls.every((after) => after <= parent.headSeq), `messages asked after ${polls.join(', ')}`);
    // The reconcile's end is reported at once, not at the next heartbeat.
    await until('a status after the reconcile', () => parent.reports.some((r) => r.cursor === parent.headSeq));
  });

  test('a cursor the parent no longer has (RESYNC_REQUIRED): a full reconcile, then the log from the head', async () => {
    fresh();
    const { agent, local } = await edge();
    parent.pushImage('app', 'drift');
    await agent.start();
    await until('the first sync', synced(local));
    await agent.stop();
    // While it is away the parent drops the rows after its cursor; the edge drifted meanwhile.
    await driftTagDelete(local, 'app', 'drift');
    const moved = parent.pushImage('app', 'moved');
    parent.prune(parent.headSeq);
    const again = syncAgent(parent, local, clock);
    cleanups.push(() => again.stop());
    await again.start();
    await until('the reconcile', async () => (await local.store.resolveTag('app', 'moved')) === moved.digest && (await local.store.resolveTag('app', 'drift')) !== null);
    assert.equal(parent.callsOf((method, path) => method === 'GET' && path === '/gateway/head').length, 2);
    const later = parent.pushImage('app', 'later');
    await until('app:later from the log', async () => (await local.store.resolveTag('app', 'later')) === later.digest);
  });

  test('a scope change that arrives during a reconcile gets a reconcile of its own', async () => {
    fresh();
    const { agent, local } = await edge({ repositories: ['alpha'] });
    parent.pushImage('alpha', '1');
    const beta = parent.pushImage('beta', '1');
    await agent.start();
    await until('alpha:1 at the edge', async () => (await local.store.resolveTag('alpha', '1')) !== null);
    // A resync starts a reconcile; the parent's tag list of alpha is held, so it still runs
    // (its catalog read with the old scope) when beta joins the scope.
    const held = parent.rule((method, path) => method === 'GET' && path === '/v2/alpha/tags/list', 'hold-answer', 1);
    parent.requestResync();
    await until('the reconcile reading alpha\'s tags', () => {
      clock.advance(1_000); // a resync a heartbeat brought waits for the long-poll in flight to end
      return held.matched === 1;
    });
    parent.setConfig((doc) => {
      doc.repositories = ['alpha', 'beta'];
    });
    clock.advance(1_000);
    await until('the new scope at the edge (by a heartbeat)', async () => (await local.store.getState(SYNC_STATE_KEYS.scope)) === JSON.stringify(['alpha', 'beta']));
    held.release();
    await until('beta:1 at the edge', async () => {
      clock.advance(1_000); // the long-poll after the first reconcile ends, the second one runs
      return (await local.store.resolveTag('beta', '1')) === beta.digest;
    });
    await until('no reconcile owed', async () => (await local.store.getState(SYNC_STATE_KEYS.reconcile)) === 'done');
  });

  test('a reconcile asked for that could not finish before a stop is done after the restart', async () => {
    fresh();
    const dir = await mkdtemp(join(tmpdir(), 'outpost-agent-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    clock = manualClock();
    parent = new FakeParent({ clock, repositories: ['alpha'] });
    const first = await localNode(parent, { file: join(dir, 'metadata.db') });
    const { agent } = await edge({}, first);
    parent.pushImage('alpha', '1');
    const beta = parent.pushImage('beta', '1');
    await agent.start();
    await until('alpha:1 at the edge', async () => (await first.store.resolveTag('alpha', '1')) !== null);
    // The parent's /v2 fails from now on: the config with beta arrives, its reconcile cannot run.
    const failing = parent.rule((_method, path) => path.startsWith('/v2/'), { fail: () => parentError(503, 'UNAVAILABLE') });
    parent.setConfig((doc) => {
      doc.repositories = ['alpha', 'beta'];
    });
    await until('the new scope at the edge', async () => {
      clock.advance(1_000);
      return (await first.store.getState(SYNC_STATE_KEYS.scope)) === JSON.stringify(['alpha', 'beta']);
    });
    await agent.stop();
    await first.close();
    failing.release();
    const second = await localNode(parent, { file: join(dir, 'metadata.db'), blobs: first.blobs });
    cleanups.push(() => second.close());
    const { agent: restarted } = await edge({}, second);
    await restarted.start();
    await until('beta:1 at the restarted edge', async () => (await second.store.resolveTag('beta', '1')) === beta.digest);
  });

  test('stopping does not wait for a parent that does not answer', async () => {
    fresh();
    const { agent, local } = await edge();
    await agent.start();
    await until('the first sync', synced(local));
    const held = parent.rule((method, path) => method === 'PUT' && path === '/gateway/status', 'hold');
    clock.advance(1_000);
    await until('a heartbeat held', () => held.matched > 0);
    await within(2_000, agent.stop(), 'stopping');
    assert.equal(held.pending, 0, 'the held heartbeat was abandoned');
  });

  test('deactivated at the root while running: it activates again at its next heartbeat', async () => {
    fresh();
    const { agent, local } = await edge();
    await agent.start();
    await until('the first sync', synced(local));
    const instance = parent.activeInstance;
    assert.ok(instance);
    parent.deactivate();
    clock.advance(1_000);
    await until('activated again', () => parent.activeInstance === instance);
    assert.ok(local.lines.some((l) => l.msg === 'the parent no longer counts this instance as active: activating again'));
  });

  test('another instance took over: the refusal is logged as an error and retried every 30 s, the node keeps serving', async () => {
    fresh();
    const { agent, local } = await edge();
    await agent.start();
    await until('the first sync', synced(local));
    parent.deactivate();
    parent.activeInstance = 'another-instance';
    clock.advance(1_000);
    await until('the refusal logged', () => local.lines.some((l) => l.level === 50 && l.msg.startsWith('the parent refuses this node: ')));
    assert.equal(agent.currentState, 'Offline');
    const activations = (): number => parent.callsOf((method, path) => method === 'POST' && path === '/gateway/activate').length;
    const before = activations();
    await until('the agent waiting', () => clock.sleeping > 0);
    clock.advance(29_000);
    await until('the agent waiting again', () => clock.sleeping > 0);
    assert.equal(activations(), before);
    parent.activeInstance = null;
    clock.advance(1_000);
    await until('activated again', () => activations() > before && agent.currentState !== 'Offline');
  });

  describe('refusals at start stop the node; an unreachable parent does not', () => {
    const cases: Array<[string, () => void, string]> = [
      ['wrong credentials', () => parent.rule((method, path) => method === 'POST' && path === '/gateway/activate', { fail: () => parentError(401, 'UNAUTHORIZED') }), 'UNAUTHORIZED'],
      ['another instance active', () => {
        parent.activeInstance = 'another-instance';
      }, 'ALREADY_ACTIVATED'],
      ['no such connected registry', () => parent.rule(() => true, { fail: () => parentError(404, 'NOT_FOUND') }), 'NOT_FOUND'],
      ['a token without the gateway action', () => parent.rule(() => true, { fail: () => parentError(403, 'DENIED') }), 'DENIED'],
      ['an untrusted certificate', () => parent.rule(() => true, { fail: () => parentError(0, 'CERTIFICATE_UNTRUSTED') }), 'CERTIFICATE_UNTRUSTED'],
    ];
    for (const [what, refuse, code] of cases) {
      test(what, async () => {
        fresh();
        const { agent } = await edge({ name: 'edge-refused' });
        refuse();
        await assert.rejects(agent.start(), (err: unknown) => err instanceof SyncFatalError && err.code === code);
      });
    }

    test('the parent unreachable: a warning, the node serves what it has and connects once the parent answers', async () => {
      fresh();
      const { agent, local } = await edge();
      const down = parent.rule(() => true, { fail: () => parentError(0, 'CONNECTION_FAILED') });
      await agent.start();
      assert.ok(local.lines.some((l) => l.level === 40 && l.msg === 'parent unreachable at start; serving local content and retrying'));
      down.release();
      await until('the first sync', async () => {
        clock.advance(500);
        return synced(local)();
      });
    });
  });

  test('a full disk is reported as a DiskError (the parent shows the node Unhealthy) until the sync that failed succeeds', async () => {
    fresh();
    clock = manualClock();
    parent = new FakeParent({ clock });
    const disk = { full: true };
    const node = await localNode(parent);
    cleanups.push(() => node.close());
    const blobs = node.blobs;
    const filling: BlobStore = {
      stat: (d) => blobs.stat(d), open: (d, r) => blobs.open(d, r), openForRead: (d) => blobs.openForRead(d), get: (d) => blobs.get(d),
      delete: (d) => blobs.delete(d), list: () => blobs.list(),
      put: async (content, digest, size) => {
        if (disk.full) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return blobs.put(content, digest, size);
      },
    };
    const local: LocalNode = { ...node, blobs: filling };
    const { agent } = await edge({}, local);
    const image = parent.pushImage('app', 'big');
    await agent.start();
    const diskError = (r: FakeParent['reports'][number]): boolean => r.statusDetails.some((d) => d.type === 'DiskError' && d.code === 'ENOSPC');
    await until('a DiskError reported', () => {
      clock.advance(500);
      return parent.reports.some(diskError);
    });
    disk.full = false;
    await until('app:big at the edge', async () => {
      clock.advance(500);
      return (await node.store.resolveTag('app', 'big')) === image.digest;
    });
    await until('healthy again', () => !diskError(parent.reports[parent.reports.length - 1]!));
  });
});
