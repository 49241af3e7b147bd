import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { EventBus, REPOSITORY_EVENT_TYPES, type RepositoryEvent } from '../../src/core/events.js';
import type { Change, MetadataStore, SyncStore, WriteContext } from '../../src/metadata/index.js';
import { isRegistryError } from '../../src/oci/errors.js';
import { RegistryWriter, type WriterStore } from '../../src/registry/registry-writer.js';
import { SyncApplier } from '../../src/sync/sync-applier.js';
import { LOCAL, SYNC, digestOf, manifestInput } from './store-suite.js';

type SyncCapableStore = MetadataStore & SyncStore;

/** What an implementation hands the suite: a fresh, empty store and how to throw it away. */
export interface OpenedSyncStore {
  store: SyncCapableStore;
  cleanup(): Promise<void>;
}

/** The sync agent's write path over a store: the write pipeline, the sync policy, and the events they published. */
export function syncWrites(store: SyncCapableStore): { writer: RegistryWriter; applier: SyncApplier; events: RepositoryEvent[] } {
  const events: RepositoryEvent[] = [];
  const bus = new EventBus((err) => {
    throw err;
  });
  bus.subscribe(REPOSITORY_EVENT_TYPES, (event) => events.push(event));
  const writer = new RegistryWriter(store, bus);
  return { writer, applier: new SyncApplier(writer), events };
}

/** A sync write applying the parent's message `cursor`. */
function message(cursor: number): WriteContext {
  return { origin: 'sync', actor: null, cursor };
}

/** Does a still-unsettled local write of the repository set or delete this tag? */
async function tagProtected(store: SyncStore, repository: string, tag: string): Promise<boolean> {
  return (await store.syncFacts(repository, null)).unsettled.some((w) => w.change.kind !== 'blob-delete' && w.change.tag === tag);
}

const refusedWith = (code: string) => (err: unknown): boolean => isRegistryError(err) && err.code === code;

/**
 * The SyncStore contract as tests (the child side of sync: facts and plans, cursor, outbox,
 * echoes, parked items, state values), and the read-your-writes behaviour the sync policy gives
 * on top of it. Every implementation (SQLite, PostgreSQL) runs it; `open` must give an empty store.
 */
export function runSyncStoreSuite(name: string, open: () => Promise<OpenedSyncStore>): void {
  describe(`SyncStore contract: ${name}`, () => {
    let store: SyncCapableStore;
    let cleanup: () => Promise<void>;
    let applier: SyncApplier;

    beforeEach(async () => {
      ({ store, cleanup } = await open());
      ({ applier } = syncWrites(store));
    });
    afterEach(async () => {
      await cleanup();
    });

    const pushAll = async (): Promise<Change[]> => {
      const pending = await store.pendingOutbox(100);
      for (const change of pending) await store.recordPushed(change, true);
      return pending;
    };

    describe('facts and plans', () => {
      it('syncFacts lists the repository\'s unsettled local writes, oldest first, with their push order while they await their echo', async () => {
        await store.putManifest(LOCAL, { ...manifestInput('app', 'a'), tag: 'x' }); // 1, 2
        await store.putManifest(LOCAL, manifestInput('other', 'b')); // 3: another repository
        await store.putManifest(SYNC, { ...manifestInput('app', 'p'), tag: 'p' }); // 4, 5: from the parent, never unsettled
        await store.deleteTag(LOCAL, 'app', 'x'); // 6
        await store.putManifest(LOCAL, manifestInput('app', 'c')); // 7
        const [m1, t2, t6, c7] = (await store.pendingOutbox(10)).filter((c) => c.repository === 'app');
        assert.ok(m1 && t2 && t6 && c7);
        await store.recordPushed(m1, true); // awaiting its echo
        await store.recordPushed(t2, false); // pushed, nothing appended: settled
        await store.parkOutboxChange(t6, { code: 'BLOB_UNKNOWN', message: 'missing', at: new Date(1), nextAttemptAt: new Date(2) });
        const facts = await store.syncFacts('app', digestOf('p'));
        assert.equal(facts.repository, 'app');
        assert.deepEqual(facts.unsettled.map((w) => [w.change.seq, w.change.kind, w.pushOrder]), [[1, 'manifest', 1], [6, 'tag-delete', null], [7, 'manifest', null]]);
        assert.deepEqual(facts.unsettled[1]!.change, t6, 'the change rows as the outbox has them');
        assert.equal(facts.manifestPresent, true);
        assert.equal((await store.syncFacts('app', digestOf('absent'))).manifestPresent, false);
        assert.equal((await store.syncFacts('app', null)).manifestPresent, null);
        assert.deepEqual((await store.syncFacts('none', null)).unsettled, []);
        await store.recordRejected(c7, { code: 'DENIED', message: 'no', at: new Date(1) });
        assert.deepEqual((await store.syncFacts('app', null)).unsettled.map((w) => w.change.seq), [1, 6], 'a refused write is settled');
      });

      it('applySync applies every operation with its cursor in one transaction; a refused operation leaves nothing, the cursor neither', async () => {
        await store.putManifest(LOCAL, manifestInput('app', 'mine'));
        const [mine] = await pushAll();
        const facts = await store.syncFacts('app', null);
        const result = await store.applySync(message(7), {
          repository: 'app', basis: facts.basis,
          ops: [{ op: 'put-manifest', input: { ...manifestInput('app', 'p'), tag: 'v1' } }, { op: 'delete-tag', tag: 'v1' }],
        });
        assert.ok(result.committed);
        assert.deepEqual(result.outcome.changes.map((c) => c.kind), ['manifest', 'tag', 'tag-delete']);
        assert.equal(await store.getCursor(), 7);
        assert.deepEqual(await store.pendingOutbox(10), [], 'sync rows are never in the outbox');

        const refused = store.applySync(message(8), {
          repository: 'app', basis: (await store.syncFacts('app', null)).basis,
          ops: [
            { op: 'settle-echoes', throughPushOrder: 1 },
            { op: 'put-manifest', input: manifestInput('app', 'q') },
            { op: 'put-manifest', input: manifestInput('app', 'broken', { blobs: [digestOf('absent')] }) },
          ],
        });
        await assert.rejects(refused, refusedWith('MANIFEST_BLOB_UNKNOWN'));
        assert.equal(await store.getCursor(), 7);
        assert.equal(await store.getManifest('app', digestOf('q')), null);
        assert.equal((await store.syncFacts('app', null)).unsettled[0]?.change.seq, mine!.seq, 'the echo is not settled either');
      });

      it('applySync refuses a plan when a local write to its repository committed after the facts were read; other writes do not matter', async () => {
        const stale = await store.syncFacts('app', null);
        await store.putManifest(LOCAL, manifestInput('other', 'elsewhere')); // another repository
        await store.putManifest(SYNC, manifestInput('app', 'synced')); // not a local write
        const fine = await store.applySync(message(3), { repository: 'app', basis: stale.basis, ops: [{ op: 'put-manifest', input: { ...manifestInput('app', 'p'), tag: 't' } }] });
        assert.equal(fine.committed, true);

        const before = await store.syncFacts('app', null);
        await store.putManifest(LOCAL, { ...manifestInput('app', 'mine'), tag: 't' });
        const result = await store.applySync(message(4), { repository: 'app', basis: before.basis, ops: [{ op: 'delete-tag', tag: 't' }] });
        assert.deepEqual(result, { committed: false });
        assert.equal(await store.resolveTag('app', 't'), digestOf('mine'));
        assert.equal(await store.getCursor(), 3, 'nothing of the refused plan, its cursor included');
        const again = await store.syncFacts('app', null);
        assert.ok(again.basis > before.basis);
        assert.equal((await store.applySync(message(4), { repository: 'app', basis: again.basis, ops: [] })).committed, true);
        assert.equal(await store.getCursor(), 4);
      });

      it('the operations do what they say: a listed manifest is deleted, a referenced blob stays, a repository keeps what it is told (and what that lists)', async () => {
        await store.linkBlob(LOCAL, 'app', digestOf('layer'), 3);
        await store.linkBlob(LOCAL, 'app', digestOf('loose'), 3);
        await store.putManifest(LOCAL, manifestInput('app', 'child', { blobs: [digestOf('layer')], tag: 'child' }));
        await store.putManifest(LOCAL, manifestInput('app', 'index', { manifests: [digestOf('child')], tag: 'multi' }));
        await store.putManifest(LOCAL, manifestInput('app', 'other', { tag: 'other' }));
        await store.putManifest(LOCAL, manifestInput('app', 'gone', { tag: 'gone' }));
        const apply = async (ops: Parameters<SyncStore['applySync']>[1]['ops']): Promise<string[]> => {
          const result = await store.applySync(SYNC, { repository: 'app', basis: (await store.syncFacts('app', null)).basis, ops });
          assert.ok(result.committed);
          return result.outcome.changes.map((c) => `${c.kind}:${c.tag ?? c.digest}`);
        };
        assert.deepEqual(await apply([{ op: 'unlink-blob', digest: digestOf('layer') }]), [], 'a manifest references it');
        assert.deepEqual(await apply([{ op: 'unlink-blob', digest: digestOf('loose') }]), [`blob-delete:${digestOf('loose')}`]);
        assert.deepEqual(await apply([{ op: 'delete-repository-except', tags: ['multi', 'other'], manifests: [digestOf('index')] }]),
          ['tag-delete:child', 'tag-delete:gone', `manifest-delete:${digestOf('gone')}`, `manifest-delete:${digestOf('other')}`]);
        assert.ok(await store.getManifest('app', digestOf('child')), 'the kept index lists it');
        assert.equal(await store.resolveTag('app', 'other'), null, 'a kept tag goes with its manifest');
        assert.deepEqual(await apply([{ op: 'delete-manifest', digest: digestOf('child') }]), [`manifest-delete:${digestOf('child')}`], 'the parent decided');
        assert.deepEqual(await apply([{ op: 'delete-repository' }]), ['repository-delete:null']);
        assert.equal(await store.repositoryExists('app'), false);
      });
    });

    describe('the cursor and the outbox', () => {
      it('an apply stores its cursor in the same transaction; a failed apply stores neither', async () => {
        assert.equal(await store.getCursor(), null, 'never synced');
        await applier.applyManifest({ ...manifestInput('app', 'm1'), tag: 'v1' }, 7);
        assert.equal(await store.getCursor(), 7);
        assert.equal(await store.resolveTag('app', 'v1'), manifestInput('app', 'm1').digest);
        // A manifest whose blob is not linked is refused: nothing of it is stored, and the cursor stays.
        await assert.rejects(applier.applyManifest({ ...manifestInput('app', 'm2', { blobs: [manifestInput('x', 'blob').digest] }), tag: 'v2' }, 8),
          refusedWith('MANIFEST_BLOB_UNKNOWN'));
        assert.equal(await store.getCursor(), 7);
        assert.equal(await store.resolveTag('app', 'v2'), null);
        await store.setCursor(9);
        assert.equal(await store.getCursor(), 9);
      });

      it('blobLinks are linked by the commit itself, and not at all when the commit is refused', async () => {
        const layer = manifestInput('x', 'layer').digest;
        const child = manifestInput('app', 'missing-child').digest;
        await assert.rejects(applier.applyManifest({ ...manifestInput('app', 'index', { blobs: [layer], manifests: [child] }), blobLinks: { [layer]: 42 } }, 3),
          refusedWith('MANIFEST_BLOB_UNKNOWN'));
        assert.equal(await store.getBlobLink('app', layer), null, 'the refused commit linked nothing');
        assert.equal(await store.repositoryExists('app'), false);
        await applier.applyManifest({ ...manifestInput('app', 'image', { blobs: [layer] }), blobLinks: { [layer]: 42 }, tag: 'v1' }, 4);
        assert.deepEqual(await store.getBlobLink('app', layer), { size: 42 });
        assert.equal(await store.getCursor(), 4);
      });

      it('sync writes are served to children but are not in the outbox; local writes are, in order, until pushed', async () => {
        await applier.applyManifest({ ...manifestInput('app', 'from-parent'), tag: 'p' }, 1);
        await store.putManifest(LOCAL, { ...manifestInput('app', 'local'), tag: 'l' });
        await store.deleteTag(LOCAL, 'app', 'p');
        const all = await store.changesSince(0, 100);
        assert.deepEqual(all.map((c) => c.kind), ['manifest', 'tag', 'manifest', 'tag', 'tag-delete'], 'the change log has both origins');
        const outbox = await store.pendingOutbox(100);
        assert.deepEqual(outbox.map((c) => `${c.kind}:${c.tag ?? c.digest}`), [
          `manifest:${manifestInput('app', 'local').digest}`, 'tag:l', 'tag-delete:p',
        ]);
        assert.equal(await store.outboxSize(), 3);
        await store.markPushed(outbox[1]!.seq);
        assert.deepEqual((await store.pendingOutbox(100)).map((c) => c.kind), ['tag-delete']);
        // The mark never moves back: a stale caller cannot make pushed writes pending again.
        await store.markPushed(outbox[0]!.seq);
        assert.equal(await store.outboxSize(), 1);
      });

      it('state values are kept, and writes of both origins through the pipeline announce what they appended', async () => {
        const { writer, applier: busApplier, events } = syncWrites(store);
        await busApplier.applyManifest(manifestInput('app', 'a'), 1);
        await writer.putManifest('tester', manifestInput('app', 'b'));
        await writer.deleteTag('tester', 'app', 'absent'); // appends nothing: nothing is announced
        assert.deepEqual(events.map((e) => `${e.type}:${e.origin}`), ['manifest-pushed:sync', 'manifest-pushed:local']);
        await store.setState('instance-id', 'abc');
        assert.equal(await store.getState('instance-id'), 'abc');
        assert.equal(await store.getState('scope'), null);
      });
    });

    describe('read-your-writes (with the sync policy)', () => {
      it('a parent message leaves alone what a pending local write touches, then applies once it is pushed', async () => {
        const parentV1 = manifestInput('app', 'parent-v1');
        const localV1 = manifestInput('app', 'local-v1');
        await applier.applyManifest({ ...parentV1, tag: 'v1' }, 1);
        await store.putManifest(LOCAL, { ...localV1, tag: 'v1' }); // a local client moves v1
        assert.equal(await tagProtected(store, 'app', 'v1'), true);

        // An older parent message for v1 and a tag delete: the manifest is stored, the tag is not touched.
        const parentV1b = manifestInput('app', 'parent-v1b');
        await applier.applyManifest({ ...parentV1b, tag: 'v1' }, 2);
        await applier.applyTagDelete('app', 'v1', 3);
        assert.equal(await store.resolveTag('app', 'v1'), localV1.digest);
        assert.ok(await store.getManifest('app', parentV1b.digest), 'the parent manifest itself is stored');
        assert.equal(await store.getCursor(), 3, 'the cursor moves past what was left alone');
        // A parent manifest delete of the locally written manifest is left alone too.
        await applier.applyManifestDelete('app', localV1.digest, 4);
        assert.ok(await store.getManifest('app', localV1.digest));

        // Once the local writes are up, the parent's order wins.
        const pending = await store.pendingOutbox(100);
        await store.markPushed(pending[pending.length - 1]!.seq);
        assert.equal(await tagProtected(store, 'app', 'v1'), false);
        await applier.applyManifest({ ...parentV1b, tag: 'v1' }, 5);
        assert.equal(await store.resolveTag('app', 'v1'), parentV1b.digest);
      });

      it('a pushed write is left alone by older parent messages until its echo; then the parent\'s order wins', async () => {
        const ours = manifestInput('app', 'ours');
        const theirs = manifestInput('app', 'theirs');
        const later = manifestInput('app', 'later');
        await store.putManifest(LOCAL, { ...ours, tag: 'v1' });
        await pushAll();
        assert.equal(await store.outboxSize(), 0, 'pushed');
        assert.equal(await tagProtected(store, 'app', 'v1'), true, 'but not settled');
        // The parent accepted another writer's move before ours: its message is older than our write.
        await applier.applyManifest({ ...theirs, tag: 'v1' }, 10);
        assert.equal(await store.resolveTag('app', 'v1'), ours.digest);
        // Our echoes: the manifest, then the tag. Settled.
        await applier.applyManifest(ours, 11);
        await applier.applyManifest({ ...ours, tag: 'v1' }, 12);
        assert.equal(await tagProtected(store, 'app', 'v1'), false);
        assert.equal(await store.resolveTag('app', 'v1'), ours.digest);
        // A later move by others wins.
        await applier.applyManifest({ ...later, tag: 'v1' }, 13);
        assert.equal(await store.resolveTag('app', 'v1'), later.digest);
        assert.equal(await store.oldestUnsettledLocalWrite(), null);
      });

      it('an echo settles every write pushed before it; a push whose echo never comes is settled once the log is past its recorded head', async () => {
        await store.putManifest(LOCAL, { ...manifestInput('app', 'a'), tag: 'x' });
        await store.deleteTag(LOCAL, 'app', 'x');
        const [manifestA, tagX, untagX] = await pushAll();
        assert.ok(manifestA && tagX && untagX);
        // The tag-delete's echo: the two pushed before it had no echo of their own (or it was missed).
        await applier.applyTagDelete('app', 'x', 20);
        assert.equal(await store.oldestUnsettledLocalWrite(), null);

        await store.putManifest(LOCAL, { ...manifestInput('app', 'b'), tag: 'y' });
        const first = await store.pendingOutbox(1);
        await store.recordPushed(first[0]!, true);
        const order = await store.lastPushOrder();
        const [tagY] = await store.pendingOutbox(1);
        await store.recordPushed(tagY!, true);
        // A request sent after the first push only: its head bounds the first echo, not the second.
        await store.noteParentHead(30, order);
        assert.equal(await store.nextEchoDeadline(), 30);
        assert.deepEqual(await store.settleUnechoed(29), []);
        assert.deepEqual((await store.settleUnechoed(30)).map((c) => c.kind), ['manifest']);
        assert.equal(await tagProtected(store, 'app', 'y'), true, 'the tag push is still unsettled');
        assert.equal(await store.nextEchoDeadline(), null);
      });

      it('a manifest deleted here is not brought back by the echo of its earlier push, nor its tag', async () => {
        const image = manifestInput('app', 'image');
        await store.putManifest(LOCAL, { ...image, tag: 't' });
        await pushAll();
        await store.deleteManifest(LOCAL, 'app', image.digest);
        await pushAll();
        await applier.applyManifest(image, 5);
        await applier.applyManifest({ ...image, tag: 't' }, 6);
        assert.equal(await store.getManifest('app', image.digest), null);
        assert.equal(await store.resolveTag('app', 't'), null);
        await applier.applyManifestDelete('app', image.digest, 7);
        assert.equal(await store.oldestUnsettledLocalWrite(), null, 'the delete\'s echo settled everything');
      });

      it('a local write that commits between the read of the facts and the apply makes the change be decided again', async () => {
        const parent = manifestInput('app', 'parent');
        const mine = manifestInput('app', 'mine');
        await applier.applyManifest({ ...parent, tag: 'old' }, 1);
        let decisions = 0;
        let raced = false;
        const racing: WriterStore = {
          putManifest: (ctx, input) => store.putManifest(ctx, input),
          deleteTag: (ctx, repository, tag) => store.deleteTag(ctx, repository, tag),
          deleteManifest: (ctx, repository, digest) => store.deleteManifest(ctx, repository, digest),
          deleteRepository: (ctx, repository) => store.deleteRepository(ctx, repository),
          linkBlob: (ctx, repository, digest, size) => store.linkBlob(ctx, repository, digest, size),
          unlinkBlob: (ctx, repository, digest) => store.unlinkBlob(ctx, repository, digest),
          deleteManifestsIfUnchanged: (ctx, repository, digests, basis) => store.deleteManifestsIfUnchanged(ctx, repository, digests, basis),
          touchBlobLink: (repository, digest) => store.touchBlobLink(repository, digest),
          applySync: (ctx, plan) => store.applySync(ctx, plan),
          syncFacts: async (repository, digest) => {
            decisions += 1;
            const facts = await store.syncFacts(repository, digest);
            if (!raced) {
              raced = true;
              // A client moves v1 right after the facts were read: they no longer say it is protected.
              await store.putManifest(LOCAL, { ...mine, tag: 'v1' });
            }
            return facts;
          },
        };
        const racingApplier = new SyncApplier(new RegistryWriter(racing, new EventBus()));
        await racingApplier.applyManifest({ ...parent, tag: 'v1' }, 2);
        assert.equal(decisions, 2, 'the first plan was refused, the second decided on the new facts');
        assert.equal(await store.resolveTag('app', 'v1'), mine.digest, 'the local write wins');
        assert.equal(await store.getCursor(), 2);
      });

      it('a parent repository delete keeps what unsettled local writes name, and the manifests those list', async () => {
        await store.putManifest(LOCAL, { ...manifestInput('app', 'child'), tag: 'child' });
        await store.putManifest(LOCAL, { ...manifestInput('app', 'index', { manifests: [digestOf('child')] }), tag: 'multi' });
        await store.putManifest(LOCAL, { ...manifestInput('app', 'old'), tag: 'old' });
        await store.markPushed(await store.lastChangeSeq()); // up, nothing to echo: settled
        await store.putManifest(LOCAL, { ...manifestInput('app', 'index', { manifests: [digestOf('child')] }), tag: 'keep' }); // unsettled
        await applier.applyRepositoryDelete('app', 200);
        assert.deepEqual(await store.listTags('app', { limit: 10 }), ['keep']);
        assert.ok(await store.getManifest('app', digestOf('index')));
        assert.ok(await store.getManifest('app', digestOf('child')), 'listed by a kept index');
        assert.equal(await store.getManifest('app', digestOf('old')), null);
        assert.equal(await store.getCursor(), 200);
        assert.deepEqual((await store.changesSince(7, 100)).map((c) => `${c.kind}:${c.tag ?? c.digest}`),
          ['tag-delete:child', 'tag-delete:multi', 'tag-delete:old', `manifest-delete:${digestOf('old')}`], 'one row each, for this node\'s children');
        // Nothing unsettled: the whole repository goes, with one repository-delete.
        await store.markPushed(await store.lastChangeSeq());
        await applier.applyRepositoryDelete('app', 201);
        assert.equal(await store.repositoryExists('app'), false);
        assert.equal((await store.changesSince(0, 1000)).at(-1)?.kind, 'repository-delete');
      });
    });

    describe('parked items, outbox failures, blob deletes', () => {
      it('parking moves the cursor; later messages drop its tag or forget it', async () => {
        const item = { repository: 'app', digest: digestOf('broken'), tag: 'v1', parentSeq: 4, code: 'BLOB_UNKNOWN', message: 'lost', attempts: 1, failedAt: new Date(1000), nextAttemptAt: new Date(11_000) };
        await store.parkItem(item, 4);
        assert.equal(await store.getCursor(), 4);
        // The same manifest again (its tag message): still one item, first failure kept.
        await store.parkItem({ ...item, parentSeq: 5, failedAt: new Date(2000) }, 5);
        let parked = await store.parkedItems();
        assert.equal(parked.length, 1);
        assert.equal(parked[0]!.firstFailedAt.getTime(), 1000);
        assert.equal(parked[0]!.tag, 'v1');
        // The parent moves v1 elsewhere: the parked item no longer brings the tag.
        await applier.applyManifest({ ...manifestInput('app', 'other'), tag: 'v1' }, 6);
        parked = await store.parkedItems();
        assert.equal(parked[0]!.tag, null);
        await applier.applyManifestDelete('app', item.digest, 7);
        assert.deepEqual(await store.parkedItems(), []);
        await store.parkItem({ ...item, digest: digestOf('b2') }, 8);
        await applier.applyRepositoryDelete('app', 9);
        assert.deepEqual(await store.parkedItems(), []);
        await store.parkItem({ ...item, digest: digestOf('b3') });
        await store.forgetParked('app', digestOf('b3'));
        assert.deepEqual(await store.parkedItems(), []);
      });

      it('a local write parked after a local failure stays in the outbox and unsettled; refusals are kept to report until a later push of the same tag', async () => {
        await store.putManifest(LOCAL, { ...manifestInput('app', 'm'), tag: 'v1' });
        const [manifest, tag] = await store.pendingOutbox(10);
        const at = new Date(5000);
        await store.parkOutboxChange(manifest!, { code: 'BLOB_UNKNOWN', message: 'missing here', at, nextAttemptAt: new Date(15_000) });
        await store.recordRejected(tag!, { code: 'DENIED', message: 'no', at });
        assert.deepEqual(await store.pendingOutbox(10), [], 'the mark moved past both');
        assert.equal(await store.outboxSize(), 1, 'the parked write still counts');
        assert.ok((await store.syncFacts('app', null)).unsettled.some((w) => w.change.digest === manifest!.digest));
        assert.equal(await store.oldestUnsettledLocalWrite(), manifest!.seq);
        let failures = await store.outboxFailures();
        assert.deepEqual(failures.map((f) => [f.state, f.change.kind, f.code, f.attempts]), [['parked', 'manifest', 'BLOB_UNKNOWN', 1], ['rejected', 'tag', 'DENIED', 1]]);
        await store.parkOutboxChange(manifest!, { code: 'BLOB_UNKNOWN', message: 'missing here', at, nextAttemptAt: new Date(25_000) });
        assert.equal((await store.outboxFailures())[0]!.attempts, 2);
        // The retry succeeds: no longer parked, awaiting its echo instead.
        await store.recordPushed(manifest!, true);
        assert.equal(await store.outboxSize(), 0);
        // A later local move of v1 reaches the parent: the old refusal of v1 is superseded.
        await store.putManifest(LOCAL, { ...manifestInput('app', 'm2'), tag: 'v1' });
        await pushAll();
        failures = await store.outboxFailures();
        assert.deepEqual(failures, []);
      });

      it('a blob unlinked here is a blob-delete change (in the outbox); a parent blob delete leaves a blob a manifest references', async () => {
        const layer = digestOf('layer');
        const loose = digestOf('loose');
        await store.linkBlob(LOCAL, 'app', layer, 10);
        await store.linkBlob(LOCAL, 'app', loose, 10);
        await store.putManifest(LOCAL, manifestInput('app', 'img', { blobs: [layer] }));
        await store.markPushed((await store.pendingOutbox(10)).at(-1)!.seq);
        assert.deepEqual((await store.unlinkBlob(LOCAL, 'app', loose)).changes.map((c) => c.kind), ['blob-delete']);
        const outbox = await store.pendingOutbox(10);
        assert.deepEqual(outbox.map((c) => [c.kind, c.digest]), [['blob-delete', loose]]);
        await applier.applyBlobDelete('app', layer, 3);
        assert.deepEqual(await store.getBlobLink('app', layer), { size: 10 }, 'a manifest here references it');
        // A parent manifest that needs the blob a client unlinked here is not linked again while that delete is unsettled.
        await assert.rejects(applier.applyManifest({ ...manifestInput('app', 'needs-loose', { blobs: [loose] }), blobLinks: { [loose]: 10 } }, 4),
          refusedWith('MANIFEST_BLOB_UNKNOWN'));
        await store.recordPushed(outbox[0]!, true);
        await applier.applyBlobDelete('app', loose, 5); // its echo
        await applier.applyManifest({ ...manifestInput('app', 'needs-loose', { blobs: [loose] }), blobLinks: { [loose]: 10 } }, 6);
        assert.deepEqual(await store.getBlobLink('app', loose), { size: 10 });
      });
    });
  });
}
