import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { OCI_MANIFEST, sha256 } from '../helpers/oci-client.js';
import type { ManualClock } from '../../src/core/clock.js';
import type { ContentPuller } from '../../src/sync/content-puller.js';
import type { PullSync } from '../../src/sync/pull-sync.js';
import { FakeParent, parentError } from './fake-parent.js';
import { driftTagDelete, localNode, manualClock, pullParts, until, type LocalNode } from './unit-fixture.js';

/**
 * PullSync against a fake parent and the edge's real stores (docs/architecture.md, "Pull" and
 * "Parked items"): the parent's messages applied in order with the cursor, a full reconcile,
 * and the items this node cannot complete parked without blocking the rest.
 */
describe('PullSync', () => {
  let clock: ManualClock;
  let parent: FakeParent;
  let local: LocalNode;
  let pull: PullSync;
  let puller: ContentPuller;

  beforeEach(async () => {
    clock = manualClock();
    parent = new FakeParent({ clock, repositories: ['app', 'web'] });
    local = await localNode(parent);
    ({ pull, puller } = pullParts(parent, local, clock));
  });

  afterEach(async () => {
    parent.releaseAll();
    await local.close();
  });

  /** Applies everything the parent's log has after the edge's cursor, as one page. */
  async function applyLog(): Promise<void> {
    const page = await parent.messages((await local.store.getCursor()) ?? 0, 0, parent.configEtag);
    await pull.apply(page.messages, page.next);
  }

  const tagHere = (repository: string, tag: string): Promise<string | null> => local.store.resolveTag(repository, tag);

  describe('apply', () => {
    test('applies every kind of change in order, each with its cursor', async () => {
      const a = parent.pushImage('app', 'stable');
      const b = parent.pushImage('app', 'beta');
      parent.pushImage('web', 'v1');
      await applyLog();
      assert.equal(await tagHere('app', 'stable'), a.digest);
      assert.equal(await tagHere('app', 'beta'), b.digest);
      assert.equal(await local.store.getCursor(), parent.headSeq);
      for (const blob of a.blobs) assert.ok(await local.store.getBlobLink('app', blob), `blob ${blob} linked`);

      parent.tag('app', 'stable', b.digest);
      parent.deleteTag('app', 'beta');
      parent.deleteManifestAt('app', a.digest);
      parent.deleteRepository('web');
      await applyLog();
      assert.equal(await tagHere('app', 'stable'), b.digest);
      assert.equal(await tagHere('app', 'beta'), null);
      assert.equal(await local.store.getManifest('app', a.digest), null);
      assert.equal(await local.store.repositoryExists('web'), false);
      assert.equal(await local.store.getCursor(), parent.headSeq);
    });

    test('a tagged push (two messages of one digest) is fetched once; a retag fetches nothing', async () => {
      const image = parent.pushImage('app', 'v1');
      await applyLog();
      assert.equal(puller.counters.manifestsFetched, 1);
      assert.equal(puller.counters.blobsFetched, image.blobs.length);
      parent.tag('app', 'also-v1', image.digest);
      await applyLog();
      assert.equal(await tagHere('app', 'also-v1'), image.digest);
      assert.deepEqual({ ...puller.counters }, { manifestsFetched: 1, blobsFetched: image.blobs.length, blobBytesFetched: puller.counters.blobBytesFetched });
    });

    test('a repository deleted and re-created in one page: the delete first, the new content after it, each fetched once', async () => {
      const old = parent.pushImage('web', 'v1');
      await applyLog();
      // One page: an image elsewhere first (its fetch takes a while), then the delete of web and
      // web's new content, which must not be fetched into web before the delete is applied.
      const slow = parent.rule((method, path) => method === 'GET' && path.startsWith('/v2/app/blobs/'), 'hold');
      const elsewhere = parent.pushImage('app', 'big');
      parent.deleteRepository('web');
      const renewed = parent.pushImage('web', 'v2');
      const fetchedBefore = puller.counters.manifestsFetched;
      const applying = applyLog();
      await until('the image elsewhere fetching', () => slow.matched > 0);
      slow.release();
      await applying;
      assert.equal(await tagHere('web', 'v1'), null);
      assert.equal(await local.store.getManifest('web', old.digest), null);
      assert.equal(await tagHere('web', 'v2'), renewed.digest);
      assert.equal(await tagHere('app', 'big'), elsewhere.digest);
      for (const blob of renewed.blobs) assert.ok(await local.store.getBlobLink('web', blob), `blob ${blob} of the new content linked`);
      assert.equal(puller.counters.manifestsFetched - fetchedBefore, 2, 'each manifest fetched once: no failed commit, no second attempt');
      assert.deepEqual(await local.store.parkedItems(), []);
    });

    test('a change out of the scope is stepped over; the cursor moves past it', async () => {
      parent.pushImage('private', 'v1');
      await applyLog();
      assert.equal(await local.store.repositoryExists('private'), false);
      assert.equal(await local.store.getCursor(), parent.headSeq);
    });

    test('a link failure stops the apply with the cursor before the change; the next apply completes it', async () => {
      const image = parent.pushImage('app', 'v1');
      const down = parent.rule((method, path) => method === 'GET' && path.includes('/blobs/'), { fail: () => parentError(0, 'CONNECTION_FAILED') });
      await assert.rejects(applyLog(), { code: 'CONNECTION_FAILED' });
      assert.equal(await local.store.getCursor(), null);
      down.release();
      await applyLog();
      assert.equal(await tagHere('app', 'v1'), image.digest);
      assert.deepEqual(await local.store.parkedItems(), []);
    });
  });

  describe('parked items', () => {
    test('a manifest whose blob the parent lost is parked with the cursor past it; the changes after it apply; a due retry completes it', async () => {
      const broken = parent.pushImage('app', 'broken');
      const lost = parent.loseBlob(broken.blobs[1]!)!;
      const later = parent.pushImage('app', 'later');
      await applyLog();
      assert.equal(await tagHere('app', 'later'), later.digest);
      assert.equal(await local.store.getCursor(), parent.headSeq);
      assert.equal(await local.store.getManifest('app', broken.digest), null);
      const [item] = await local.store.parkedItems();
      assert.equal(item?.digest, broken.digest);
      assert.equal(item.tag, 'broken');
      assert.equal(item.code, 'BLOB_UNKNOWN');
      assert.equal(item.attempts, 1);

      // Not due yet: nothing is asked of the parent.
      parent.restoreBlob(lost);
      assert.equal(await pull.retryParked(), 0);
      assert.equal(await local.store.getManifest('app', broken.digest), null);
      clock.advance(10_000);
      assert.equal(await pull.retryParked(), 1);
      assert.equal(await tagHere('app', 'broken'), broken.digest);
      assert.deepEqual(await local.store.parkedItems(), []);
    });

    test('a retry that fails again parks the item with a longer wait', async () => {
      const broken = parent.pushImage('app', 'broken');
      parent.loseBlob(broken.blobs[1]!);
      await applyLog();
      clock.advance(10_000);
      assert.equal(await pull.retryParked(), 0);
      const [item] = await local.store.parkedItems();
      assert.equal(item?.attempts, 2);
      assert.equal(item.nextAttemptAt.getTime(), clock.now() + 20_000);
    });

    test('a retry moves the tag only where the parent\'s tag still points', async () => {
      const broken = parent.pushImage('app', 'moving');
      const lost = parent.loseBlob(broken.blobs[1]!)!;
      await applyLog();
      const moved = parent.pushImage('app', 'moving');
      await applyLog();
      parent.restoreBlob(lost);
      clock.advance(10_000);
      assert.equal(await pull.retryParked(), 1);
      assert.ok(await local.store.getManifest('app', broken.digest));
      assert.equal(await tagHere('app', 'moving'), moved.digest);
    });

    test('a parked manifest the parent deletes is forgotten', async () => {
      const doomed = parent.pushImage('app', 'doomed');
      parent.loseBlob(doomed.blobs[1]!);
      await applyLog();
      assert.equal((await local.store.parkedItems()).length, 1);
      parent.deleteManifestAt('app', doomed.digest);
      await applyLog();
      assert.deepEqual(await local.store.parkedItems(), []);
    });

    test('a manifest this registry refuses (MANIFEST_INVALID) is parked with its tag', async () => {
      const digest = parent.putRawManifest('app', 'garbage', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: 'not a descriptor', layers: 7 }));
      const later = parent.pushImage('app', 'after-garbage');
      await applyLog();
      assert.equal(await tagHere('app', 'after-garbage'), later.digest);
      const [item] = await local.store.parkedItems();
      assert.equal(item?.digest, digest);
      assert.equal(item.code, 'MANIFEST_INVALID');
      assert.equal(item.tag, 'garbage');
      assert.equal(await tagHere('app', 'garbage'), null);
    });

    test('a parent that fails one item with 5xx session after session: parked at the fifth, not before', async () => {
      const layer = randomBytes(64);
      parent.rule((method, path) => method === 'GET' && path.endsWith(`/blobs/${sha256(layer)}`), { fail: () => parentError(503, 'UNAVAILABLE') });
      const flaky = parent.pushImage('app', 'flaky', { layers: [layer] });
      for (let session = 1; session < 5; session++) await assert.rejects(applyLog(), { code: 'UNAVAILABLE' }, `session ${session}`);
      assert.deepEqual(await local.store.parkedItems(), []);
      const manifestSeq = parent.headSeq - 1;
      // The fifth session in a row ending on the manifest's message parks it (and goes on to the tag's message, which counts on its own).
      await assert.rejects(applyLog(), { code: 'UNAVAILABLE' });
      const [item] = await local.store.parkedItems();
      assert.equal(item?.digest, flaky.digest);
      assert.equal(item.code, 'UNAVAILABLE');
      assert.equal(await local.store.getCursor(), manifestSeq);
      let sessions = 5;
      for (let failed = true; failed; sessions += 1) failed = await applyLog().then(() => false, () => true);
      assert.equal(sessions, 9, 'the ninth session completes');
      assert.equal(await local.store.getCursor(), parent.headSeq);
    });
  });

  describe('reconcile', () => {
    test('converges with the parent: tags moved back, tags and repositories gone there dropped, referrers pulled, cursor at the head', async () => {
      const stable = parent.pushImage('app', 'stable');
      const drift = parent.pushImage('app', 'drift');
      parent.pushImage('web', 'v1');
      await applyLog();
      // Drift behind the log's back; then the parent changes while the edge does not follow.
      await driftTagDelete(local, 'app', 'drift');
      parent.deleteTag('app', 'stable');
      parent.deleteRepository('web');
      const signature = parent.pushImage('app', null, { subject: drift, artifactType: 'application/vnd.example.signature' });
      const head = parent.headSeq;
      const counts = await pull.reconcile(head);
      assert.deepEqual(counts, { repositories: 1, tags: 1 });
      assert.equal(await tagHere('app', 'drift'), drift.digest);
      assert.equal(await tagHere('app', 'stable'), null);
      assert.ok(await local.store.getManifest('app', stable.digest), 'an untagged manifest stays');
      assert.equal(await local.store.repositoryExists('web'), false);
      assert.ok(await local.store.getManifest('app', signature.digest), 'the referrer of a tagged manifest');
      assert.equal(await local.store.getCursor(), head);
    });

    test('the referrers of an index\'s children come too', async () => {
      const child = parent.pushImage('app', null);
      const index = parent.pushIndex('app', 'multi', [child]);
      const signature = parent.pushImage('app', null, { subject: child, artifactType: 'application/vnd.example.signature' });
      await pull.reconcile(parent.headSeq);
      assert.equal(await tagHere('app', 'multi'), index.digest);
      assert.ok(await local.store.getManifest('app', child.digest));
      assert.ok(await local.store.getManifest('app', signature.digest));
    });

    test('a repository out of the scope is deleted on a ReadOnly node only', async () => {
      parent.pushImage('app', 'v1');
      parent.pushImage('web', 'v1');
      await applyLog();
      parent.setConfig((doc) => {
        doc.repositories = ['app'];
      });
      local.policy.update(parent.configDocument);
      await pull.reconcile(parent.headSeq);
      assert.equal(await local.store.repositoryExists('web'), false);

      parent.pushImage('web', 'v2');
      parent.setConfig((doc) => {
        doc.repositories = ['app', 'web'];
        doc.self.mode = 'ReadWrite';
      });
      local.policy.update(parent.configDocument);
      await applyLog();
      parent.setConfig((doc) => {
        doc.repositories = ['app'];
      });
      local.policy.update(parent.configDocument);
      await pull.reconcile(parent.headSeq);
      assert.equal(await local.store.repositoryExists('web'), true, 'kept on a ReadWrite node');
    });

    test('a tag it cannot complete is parked; the reconcile completes, and retries every parked item', async () => {
      const good = parent.pushImage('app', 'good');
      const broken = parent.pushImage('app', 'broken');
      parent.loseBlob(broken.blobs[1]!);
      await pull.reconcile(parent.headSeq);
      assert.equal(await tagHere('app', 'good'), good.digest);
      const [item] = await local.store.parkedItems();
      assert.equal(item?.digest, broken.digest);
      const attempts = item.attempts;
      await pull.reconcile(parent.headSeq);
      const [again] = await local.store.parkedItems();
      assert.ok(again!.attempts > attempts, 'retried by the next reconcile, though not due');
    });

    test('a failed reconcile ends only once its other tags\' work has stopped: an old answer cannot move a tag back after it', async () => {
      parent.pushImage('app', 't1');
      parent.pushImage('app', 't2');
      await applyLog();
      // The parent's answer about t1 (the digest it has now) is held; t2 fails.
      const isHead = (tag: string) => (method: string, path: string): boolean => method === 'HEAD' && path === `/v2/app/manifests/${tag}`;
      const oldAnswer = parent.rule(isHead('t1'), 'hold-answer', 1);
      parent.rule(isHead('t2'), { fail: () => parentError(503, 'UNAVAILABLE') }, 1);
      await assert.rejects(pull.reconcile(parent.headSeq), { code: 'UNAVAILABLE' });
      assert.equal(oldAnswer.pending, 0, 'a request of the failed reconcile still waits for its answer');
      // t1 moves at the parent; the next reconcile follows it; then the old answer would arrive.
      const moved = parent.pushImage('app', 't1');
      await pull.reconcile(parent.headSeq);
      assert.equal(await tagHere('app', 't1'), moved.digest);
      oldAnswer.release();
      await oldAnswer.settled();
      assert.equal(await tagHere('app', 't1'), moved.digest);
    });
  });
});
