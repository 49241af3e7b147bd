import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, runMigrations, SqliteMetadataStore, type Change } from '../../src/metadata/index.js';
import { digestOf, manifestInput } from './store-suite.js';

/** The child side of sync on the SQLite store (SyncStore): cursor, origin, outbox, pending-write protection. */
describe('SyncStore on SQLite', () => {
  const open = (): Promise<SqliteMetadataStore> => SqliteMetadataStore.open(':memory:');

  it('an apply stores its cursor in the same transaction; a failed apply stores neither', async () => {
    const store = await open();
    assert.equal(await store.getCursor(), null, 'never synced');
    await store.applyManifest({ ...manifestInput('app', 'm1'), tag: 'v1' }, 7);
    assert.equal(await store.getCursor(), 7);
    assert.equal(await store.resolveTag('app', 'v1'), manifestInput('app', 'm1').digest);
    // A manifest whose blob is not linked is refused: nothing of it is stored, and the cursor stays.
    await assert.rejects(store.applyManifest({ ...manifestInput('app', 'm2', { blobs: [manifestInput('x', 'blob').digest] }), tag: 'v2' }, 8),
      /MANIFEST_BLOB_UNKNOWN|unknown to repository/);
    assert.equal(await store.getCursor(), 7);
    assert.equal(await store.resolveTag('app', 'v2'), null);
    await store.close();
  });

  it('blobLinks are linked by the commit itself, and not at all when the commit is refused', async () => {
    const store = await open();
    const layer = manifestInput('x', 'layer').digest;
    const child = manifestInput('app', 'missing-child').digest;
    await assert.rejects(store.applyManifest({ ...manifestInput('app', 'index', { blobs: [layer], manifests: [child] }), blobLinks: { [layer]: 42 } }, 3),
      /MANIFEST_BLOB_UNKNOWN|unknown to repository/);
    assert.equal(await store.getBlobLink('app', layer), null, 'the refused commit linked nothing');
    assert.equal(await store.repositoryExists('app'), false);
    await store.applyManifest({ ...manifestInput('app', 'image', { blobs: [layer] }), blobLinks: { [layer]: 42 }, tag: 'v1' }, 4);
    assert.deepEqual(await store.getBlobLink('app', layer), { size: 42 });
    assert.equal(await store.getCursor(), 4);
    await store.close();
  });

  it('sync writes are served to children but are not in the outbox; local writes are, in order, until pushed', async () => {
    const store = await open();
    await store.applyManifest({ ...manifestInput('app', 'from-parent'), tag: 'p' }, 1);
    await store.putManifest({ ...manifestInput('app', 'local'), tag: 'l' });
    await store.deleteTag('app', 'p');
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
    await store.close();
  });

  it('a parent message leaves alone what a pending local write touches, then applies once it is pushed', async () => {
    const store = await open();
    const parentV1 = manifestInput('app', 'parent-v1');
    const localV1 = manifestInput('app', 'local-v1');
    await store.applyManifest({ ...parentV1, tag: 'v1' }, 1);
    await store.putManifest({ ...localV1, tag: 'v1' }); // a local client moves v1
    assert.equal(await store.hasPendingLocalWrite('app', 'v1', null), true);

    // An older parent message for v1 and a tag delete: the manifest is stored, the tag is not touched.
    const parentV1b = manifestInput('app', 'parent-v1b');
    await store.applyManifest({ ...parentV1b, tag: 'v1' }, 2);
    await store.applyTagDelete('app', 'v1', 3);
    assert.equal(await store.resolveTag('app', 'v1'), localV1.digest);
    assert.ok(await store.getManifest('app', parentV1b.digest), 'the parent manifest itself is stored');
    assert.equal(await store.getCursor(), 3, 'the cursor moves past what was left alone');
    // A parent manifest delete of the locally written manifest is left alone too.
    await store.applyManifestDelete('app', localV1.digest, 4);
    assert.ok(await store.getManifest('app', localV1.digest));

    // Once the local writes are up, the parent's order wins.
    const pending = await store.pendingOutbox(100);
    await store.markPushed(pending[pending.length - 1]!.seq);
    assert.equal(await store.hasPendingLocalWrite('app', 'v1', null), false);
    await store.applyManifest({ ...parentV1b, tag: 'v1' }, 5);
    assert.equal(await store.resolveTag('app', 'v1'), parentV1b.digest);
    await store.close();
  });

  it('state values survive a reopen, and listeners hear about committed writes of both origins', async () => {
    const store = await open();
    let heard = 0;
    const unsubscribe = store.subscribe(() => (heard += 1));
    await store.applyManifest(manifestInput('app', 'a'), 1);
    await store.putManifest(manifestInput('app', 'b'));
    await store.deleteTag('app', 'absent'); // appends nothing: nobody is woken
    assert.equal(heard, 2);
    unsubscribe();
    await store.putManifest(manifestInput('app', 'c'));
    assert.equal(heard, 2);
    await store.setState('instance-id', 'abc');
    assert.equal(await store.getState('instance-id'), 'abc');
    assert.equal(await store.getState('missing'), null);
    await store.close();
  });
});

/**
 * Read-your-writes on the SyncStore: a local write stays unsettled after it went up until its
 * echo (the parent's change for it) comes back, parked items and outbox failures are durable,
 * and blob deletes are changes like the others.
 */
describe('SyncStore on SQLite: echoes, parked items, outbox failures, blob deletes', () => {
  const open = (): Promise<SqliteMetadataStore> => SqliteMetadataStore.open(':memory:');
  const pushAll = async (store: SqliteMetadataStore): Promise<Change[]> => {
    const pending = await store.pendingOutbox(100);
    for (const change of pending) await store.recordPushed(change, true);
    return pending;
  };

  it('a pushed write is left alone by older parent messages until its echo; then the parent\'s order wins', async () => {
    const store = await open();
    const ours = manifestInput('app', 'ours');
    const theirs = manifestInput('app', 'theirs');
    const later = manifestInput('app', 'later');
    await store.putManifest({ ...ours, tag: 'v1' });
    await pushAll(store);
    assert.equal(await store.outboxSize(), 0, 'pushed');
    assert.equal(await store.hasPendingLocalWrite('app', 'v1', null), true, 'but not settled');
    // The parent accepted another writer's move before ours: its message is older than our write.
    await store.applyManifest({ ...theirs, tag: 'v1' }, 10);
    assert.equal(await store.resolveTag('app', 'v1'), ours.digest);
    // Our echoes: the manifest, then the tag. Settled.
    await store.applyManifest(ours, 11);
    await store.applyManifest({ ...ours, tag: 'v1' }, 12);
    assert.equal(await store.hasPendingLocalWrite('app', 'v1', null), false);
    assert.equal(await store.resolveTag('app', 'v1'), ours.digest);
    // A later move by others wins.
    await store.applyManifest({ ...later, tag: 'v1' }, 13);
    assert.equal(await store.resolveTag('app', 'v1'), later.digest);
    assert.equal(await store.oldestUnsettledLocalWrite(), null);
    await store.close();
  });

  it('an echo settles every write pushed before it; a push whose echo never comes is settled once the log is past its recorded head', async () => {
    const store = await open();
    await store.putManifest({ ...manifestInput('app', 'a'), tag: 'x' });
    await store.deleteTag('app', 'x');
    const [manifestA, tagX, untagX] = await pushAll(store);
    assert.ok(manifestA && tagX && untagX);
    // The tag-delete's echo: the two pushed before it had no echo of their own (or it was missed).
    await store.applyTagDelete('app', 'x', 20);
    assert.equal(await store.oldestUnsettledLocalWrite(), null);

    await store.putManifest({ ...manifestInput('app', 'b'), tag: 'y' });
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
    assert.equal(await store.hasPendingLocalWrite('app', 'y', null), true, 'the tag push is still unsettled');
    assert.equal(await store.nextEchoDeadline(), null);
    await store.close();
  });

  it('a manifest deleted here is not brought back by the echo of its earlier push, nor its tag', async () => {
    const store = await open();
    const image = manifestInput('app', 'image');
    await store.putManifest({ ...image, tag: 't' });
    await pushAll(store);
    await store.deleteManifest('app', image.digest);
    await pushAll(store);
    await store.applyManifest(image, 5);
    await store.applyManifest({ ...image, tag: 't' }, 6);
    assert.equal(await store.getManifest('app', image.digest), null);
    assert.equal(await store.resolveTag('app', 't'), null);
    await store.applyManifestDelete('app', image.digest, 7);
    assert.equal(await store.oldestUnsettledLocalWrite(), null, 'the delete\'s echo settled everything');
    await store.close();
  });

  it('parking moves the cursor; later messages drop its tag or forget it', async () => {
    const store = await open();
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
    await store.applyManifest({ ...manifestInput('app', 'other'), tag: 'v1' }, 6);
    parked = await store.parkedItems();
    assert.equal(parked[0]!.tag, null);
    await store.applyManifestDelete('app', item.digest, 7);
    assert.deepEqual(await store.parkedItems(), []);
    await store.parkItem({ ...item, digest: digestOf('b2') }, 8);
    await store.applyRepositoryDelete('app', 9);
    assert.deepEqual(await store.parkedItems(), []);
    await store.close();
  });

  it('a local write parked after a local failure stays in the outbox and unsettled; refusals are kept to report until a later push of the same tag', async () => {
    const store = await open();
    await store.putManifest({ ...manifestInput('app', 'm'), tag: 'v1' });
    const [manifest, tag] = await store.pendingOutbox(10);
    const at = new Date(5000);
    await store.parkOutboxChange(manifest!, { code: 'BLOB_UNKNOWN', message: 'missing here', at, nextAttemptAt: new Date(15_000) });
    await store.recordRejected(tag!, { code: 'DENIED', message: 'no', at });
    assert.deepEqual(await store.pendingOutbox(10), [], 'the mark moved past both');
    assert.equal(await store.outboxSize(), 1, 'the parked write still counts');
    assert.equal(await store.hasPendingLocalWrite('app', null, manifest!.digest), true);
    assert.equal(await store.oldestUnsettledLocalWrite(), manifest!.seq);
    let failures = await store.outboxFailures();
    assert.deepEqual(failures.map((f) => [f.state, f.change.kind, f.code, f.attempts]), [['parked', 'manifest', 'BLOB_UNKNOWN', 1], ['rejected', 'tag', 'DENIED', 1]]);
    await store.parkOutboxChange(manifest!, { code: 'BLOB_UNKNOWN', message: 'missing here', at, nextAttemptAt: new Date(25_000) });
    assert.equal((await store.outboxFailures())[0]!.attempts, 2);
    // The retry succeeds: no longer parked, awaiting its echo instead.
    await store.recordPushed(manifest!, true);
    assert.equal(await store.outboxSize(), 0);
    // A later local move of v1 reaches the parent: the old refusal of v1 is superseded.
    await store.putManifest({ ...manifestInput('app', 'm2'), tag: 'v1' });
    await pushAll(store);
    failures = await store.outboxFailures();
    assert.deepEqual(failures, []);
    await store.close();
  });

  it('a blob unlinked here is a blob-delete change (in the outbox); a parent blob delete leaves a blob a manifest references', async () => {
    const store = await open();
    const layer = digestOf('layer');
    const loose = digestOf('loose');
    await store.linkBlob('app', layer, 10);
    await store.linkBlob('app', loose, 10);
    await store.putManifest(manifestInput('app', 'img', { blobs: [layer] }));
    await store.markPushed((await store.pendingOutbox(10)).at(-1)!.seq);
    assert.equal(await store.unlinkBlob('app', loose), true);
    const outbox = await store.pendingOutbox(10);
    assert.deepEqual(outbox.map((c) => [c.kind, c.digest]), [['blob-delete', loose]]);
    await store.applyBlobDelete('app', layer, 3);
    assert.deepEqual(await store.getBlobLink('app', layer), { size: 10 }, 'a manifest here references it');
    // A parent manifest that needs the blob a client unlinked here is not linked again while that delete is unsettled.
    await assert.rejects(store.applyManifest({ ...manifestInput('app', 'needs-loose', { blobs: [loose] }), blobLinks: { [loose]: 10 } }, 4),
      /MANIFEST_BLOB_UNKNOWN|unknown to repository/);
    await store.recordPushed(outbox[0]!, true);
    await store.applyBlobDelete('app', loose, 5); // its echo
    await store.applyManifest({ ...manifestInput('app', 'needs-loose', { blobs: [loose] }), blobLinks: { [loose]: 10 } }, 6);
    assert.deepEqual(await store.getBlobLink('app', loose), { size: 10 });
    await store.close();
  });

  it('migration 6 keeps the change log, its sequence numbers and the sequence high-water mark', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-m6-'));
    const path = join(dir, 'metadata.db');
    try {
      const db = new Database(path);
      runMigrations(db, MIGRATIONS.slice(0, 5));
      const insert = db.prepare("INSERT INTO changes (repository, kind, tag, digest, media_type, at, origin) VALUES ('app', 'tag', ?, NULL, NULL, 1, 'sync')");
      for (const tag of ['a', 'b', 'c']) insert.run(tag);
      db.prepare('DELETE FROM changes WHERE seq = 3').run();
      db.close();
      const store = await SqliteMetadataStore.open(path);
      assert.deepEqual((await store.changesSince(0, 10)).map((c) => [c.seq, c.tag]), [[1, 'a'], [2, 'b']]);
      assert.equal(await store.lastChangeSeq(), 3, 'the high-water mark survives: seq 3 is never handed out again');
      await store.linkBlob('app', digestOf('x'), 1);
      await store.unlinkBlob('app', digestOf('x'));
      assert.deepEqual((await store.changesSince(2, 10)).map((c) => [c.seq, c.kind]), [[4, 'blob-delete']]);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
