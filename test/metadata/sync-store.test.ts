import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SqliteMetadataStore } from '../../src/metadata/index.js';
import { manifestInput } from './store-suite.js';

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
