import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { tagDigest, waitFor } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import {
  GateProxy, edgeStore, getManifest, mustMgmt, pushImage, startGatedEdge, type GateRule, type GatedEdge, type Root,
} from './sync-fixture.js';

const isMessages = (method: string, path: string): boolean => method === 'GET' && path.includes('/messages?');

/**
 * A client reads its own writes at a ReadWrite edge (docs/architecture.md, "Connected node and sync agent": read-your-writes): the parent's echo of a change
 * this edge pushed never overrides a newer local write of the same tag or manifest, pending or
 * already pushed, while the parent's order still wins over writes others made after the edge's.
 * The link is a GateProxy: the test chooses which part of the parent's log an answer carries and
 * when the edge gets it, so each interleaving is made on purpose.
 */
describe('read-your-writes at a ReadWrite edge', () => {
  let gated: GatedEdge;
  let root: Root;
  let gate: GateProxy;
  let edge: TestNode;
  let atEdge: TestClient;
  let ttlFlip = false;

  before(async () => {
    // Long-polls held up to 25 s (the default): a held poll is answered by the next change only.
    gated = await startGatedEdge('edgeryw', 'ReadWrite', { heartbeatSeconds: 1 });
    ({ root, gate, edge, atEdge } = gated);
  });

  afterEach(() => gate.releaseAll());

  after(async () => {
    await gated?.close();
  });

  const drained = async (): Promise<boolean> => (await edgeStore(edge).outboxSize()) === 0;

  /**
   * Makes the edge's next long-poll wait at the proxy (not at the parent) until `forward()`, so
   * that its answer holds exactly the parent's log at that moment, and is delivered at
   * `release()`. A config change ends the poll in flight, so the next one is that poll.
   */
  async function nextPollHeld(): Promise<GateRule> {
    const rule = gate.rule(isMessages, 'hold-both', 1);
    ttlFlip = !ttlFlip;
    await mustMgmt(root.admin, 'PATCH', '/connected-registries/edgeryw', { syncMessageTtl: ttlFlip ? 'P3D' : 'P2D' });
    await waitFor('the edge\'s next poll held', async () => rule.matched === 1);
    return rule;
  }

  /** Forwards a held poll, waits for the parent's answer, then stops the poll after it and delivers the answer. */
  async function deliver(rule: GateRule): Promise<GateRule> {
    const after = gate.rule(isMessages, 'hold');
    rule.release();
    // The agent has applied the page once it asks again.
    await waitFor('the page applied', async () => after.matched >= 1);
    return after;
  }

  async function answerNow(rule: GateRule): Promise<void> {
    rule.forward();
    await waitFor('the parent\'s answer at the proxy', async () => rule.answered >= 1);
  }

  test('a manifest deleted at the edge stays deleted when the echo of its push is committed after the delete went up', async () => {
    const poll = await nextPollHeld();
    // The page starts with a change whose content is slow to come (its layer is held at the
    // link): the echoes after it are prefetched from local content at once, but committed only
    // after it — by then the client has deleted the manifest at the edge and the delete is up.
    const slow = await pushImage(root.admin, 'app', 'slow');
    const image = await pushImage(atEdge, 'app', 'gone');
    await waitFor('app:gone at the root', async () => (await tagDigest(root.admin, 'app', 'gone')) === image.digest && (await drained()));
    const layer = gate.rule((method, path) => method === 'GET' && path.endsWith(`/blobs/${slow.blobs[1]!}`), 'hold');
    poll.release();
    await waitFor('the slow layer requested', async () => layer.matched >= 1);
    await sleep(300); // the echoes' prefetch reads local content only: nothing to wait on at the link
    assert.equal((await atEdge.request('DELETE', `/v2/app/manifests/${image.digest}`)).status, 202);
    await waitFor('the delete at the root', async () => (await getManifest(root.admin, 'app', image.digest)).status === 404 && (await drained()));
    const next = gate.rule(isMessages, 'hold');
    layer.release();
    await waitFor('the page applied', async () => next.matched >= 1);
    assert.equal(await tagDigest(atEdge, 'app', 'slow'), slow.digest);
    assert.equal((await getManifest(atEdge, 'app', image.digest)).status, 404, 'the echo brought the deleted manifest back');
    assert.equal(await tagDigest(atEdge, 'app', 'gone'), null, 'the echo brought the deleted manifest\'s tag back');
    next.release();
    await waitFor('caught up', async () => (await edgeStore(edge).getCursor()) === (await root.node.node.metadata.lastChangeSeq()));
    assert.equal((await getManifest(atEdge, 'app', image.digest)).status, 404);
    assert.equal((await getManifest(root.admin, 'app', image.digest)).status, 404);
  });

  test('a tag deleted at the edge stays deleted when the echo of its push arrives after the delete went up', async () => {
    const poll = await nextPollHeld();
    const image = await pushImage(atEdge, 'app', 'untag');
    await waitFor('app:untag at the root', async () => (await tagDigest(root.admin, 'app', 'untag')) === image.digest && (await drained()));
    await answerNow(poll);
    assert.equal((await atEdge.request('DELETE', '/v2/app/manifests/untag')).status, 202);
    await waitFor('the tag delete at the root', async () => (await tagDigest(root.admin, 'app', 'untag')) === null && (await drained()));
    const next = await deliver(poll);
    assert.equal(await tagDigest(atEdge, 'app', 'untag'), null, 'the echo brought the deleted tag back');
    next.release();
    await waitFor('caught up', async () => (await edgeStore(edge).getCursor()) === (await root.node.node.metadata.lastChangeSeq()));
    assert.equal(await tagDigest(atEdge, 'app', 'untag'), null);
    assert.equal(await tagDigest(root.admin, 'app', 'untag'), null);
    assert.equal((await getManifest(atEdge, 'app', image.digest)).status, 200, 'the manifest itself stays');
  });

  test('a tag moved at the edge is not moved back by the echo of its earlier push', async () => {
    const poll = await nextPollHeld();
    const first = await pushImage(atEdge, 'app', 'moving');
    await waitFor('app:moving at the root', async () => (await tagDigest(root.admin, 'app', 'moving')) === first.digest && (await drained()));
    await answerNow(poll);
    const second = await pushImage(atEdge, 'app', 'moving');
    await waitFor('the move at the root', async () => (await tagDigest(root.admin, 'app', 'moving')) === second.digest && (await drained()));
    const next = await deliver(poll);
    assert.equal(await tagDigest(atEdge, 'app', 'moving'), second.digest, 'the echo moved the tag back');
    next.release();
    await waitFor('caught up', async () => (await edgeStore(edge).getCursor()) === (await root.node.node.metadata.lastChangeSeq()));
    assert.equal(await tagDigest(atEdge, 'app', 'moving'), second.digest);
  });

  test('a write by others that the parent accepted before the edge\'s write does not override it at the edge', async () => {
    const base = await pushImage(root.admin, 'app', 'contested');
    await waitFor('app:contested at the edge', async () => (await tagDigest(atEdge, 'app', 'contested')) === base.digest);
    const poll = await nextPollHeld();
    const theirs = await pushImage(root.admin, 'app', 'contested');
    await answerNow(poll); // carries their move, not the edge's
    const ours = await pushImage(atEdge, 'app', 'contested');
    await waitFor('ours at the root', async () => (await tagDigest(root.admin, 'app', 'contested')) === ours.digest && (await drained()));
    const next = await deliver(poll);
    assert.equal(await tagDigest(atEdge, 'app', 'contested'), ours.digest, `their older move (${theirs.digest}) overrode the edge's newer write`);
    next.release();
    await waitFor('caught up', async () => (await edgeStore(edge).getCursor()) === (await root.node.node.metadata.lastChangeSeq()));
    assert.equal(await tagDigest(atEdge, 'app', 'contested'), ours.digest);
    assert.equal(await tagDigest(root.admin, 'app', 'contested'), ours.digest);
  });

  test('a write by others that the parent accepted after the edge\'s write wins at the edge (the parent\'s order)', async () => {
    const poll = await nextPollHeld();
    const ours = await pushImage(atEdge, 'app', 'later-wins');
    await waitFor('ours at the root', async () => (await tagDigest(root.admin, 'app', 'later-wins')) === ours.digest && (await drained()));
    const theirs = await pushImage(root.admin, 'app', 'later-wins');
    await answerNow(poll); // the echo of ours, then their move
    const next = await deliver(poll);
    assert.equal(await tagDigest(atEdge, 'app', 'later-wins'), theirs.digest);
    next.release();
    // And a delete by others after the edge's push wins too.
    const poll2 = await nextPollHeld();
    const again = await pushImage(atEdge, 'app', 'deleted-by-them');
    await waitFor('at the root', async () => (await tagDigest(root.admin, 'app', 'deleted-by-them')) === again.digest && (await drained()));
    assert.equal((await root.admin.request('DELETE', `/v2/app/manifests/${again.digest}`)).status, 202);
    await answerNow(poll2);
    const next2 = await deliver(poll2);
    assert.equal((await getManifest(atEdge, 'app', again.digest)).status, 404);
    next2.release();
  });

  test('under a run of pushes and deletes through the edge, nothing a client deleted there comes back', async () => {
    const store = edgeStore(edge);
    const deletedManifests = new Set<string>();
    const deletedTags = new Set<string>();
    const violations: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const digest of deletedManifests) if (await store.getManifest('app', digest)) violations.push(`manifest ${digest}`);
        for (const tag of deletedTags) if ((await store.resolveTag('app', tag)) !== null) violations.push(`tag ${tag}`);
        await tick();
      }
    })();
    for (let i = 0; i < 30; i++) {
      const tag = `churn-${i}`;
      const image = await pushImage(atEdge, 'app', tag);
      if (i % 2 === 0) {
        assert.equal((await atEdge.request('DELETE', `/v2/app/manifests/${image.digest}`)).status, 202);
        deletedManifests.add(image.digest);
      } else {
        assert.equal((await atEdge.request('DELETE', `/v2/app/manifests/${tag}`)).status, 202);
      }
      deletedTags.add(tag);
    }
    await waitFor('everything up and back', async () => (await drained())
      && (await store.getCursor()) === (await root.node.node.metadata.lastChangeSeq()), 20_000);
    watching = false;
    await watcher;
    assert.deepEqual([...new Set(violations)], []);
    for (const tag of deletedTags) assert.equal(await tagDigest(root.admin, 'app', tag), null, `${tag} at the root`);
  });
});
