import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { EventBus, REPOSITORY_EVENT_TYPES, type RepositoryEvent } from '../../src/core/events.js';
import { SqliteMetadataStore } from '../../src/metadata/index.js';
import { isRegistryError } from '../../src/oci/errors.js';
import { RegistryWriter, SyncWriteConflictError, actorOfCaller, type WriterStore } from '../../src/registry/registry-writer.js';
import { SyncApplier } from '../../src/sync/sync-applier.js';
import { digestOf, manifestInput } from '../metadata/store-suite.js';

/** The write pipeline: explicit contexts down to the store, exact events after each commit. */
describe('RegistryWriter', () => {
  let store: SqliteMetadataStore;
  let events: RepositoryEvent[];
  let writer: RegistryWriter;

  beforeEach(async () => {
    store = await SqliteMetadataStore.open(':memory:');
    events = [];
    const bus = new EventBus((err) => {
      throw err;
    });
    bus.subscribe(REPOSITORY_EVENT_TYPES, (event) => events.push(event));
    writer = new RegistryWriter(store, bus);
  });
  afterEach(async () => {
    await store.close();
  });

  it('publishes one event per change row a local write appended, with its seq and actor, and one per new blob link', async () => {
    const cfg = digestOf('cfg');
    await writer.linkBlob('ci-bot', 'app', cfg, 7);
    await writer.linkBlob('ci-bot', 'app', cfg, 7); // linked already: no event
    const input = manifestInput('app', 'm1', { blobs: [cfg], tag: 'v1' });
    await writer.putManifest('ci-bot', input);
    await writer.putManifest('ci-bot', input); // the same again: no event
    assert.equal(await writer.deleteTag('admin', 'app', 'v1'), true);
    assert.equal(await writer.deleteTag('admin', 'app', 'v1'), false);
    assert.equal(await writer.deleteManifest(null, 'app', input.digest), true);
    assert.equal(await writer.unlinkBlob(null, 'app', cfg), true);
    assert.equal(await writer.unlinkBlob(null, 'app', cfg), false);
    await writer.putManifest(null, manifestInput('app', 'm2'));
    assert.equal(await writer.deleteRepository('admin', 'app'), true);
    assert.equal(await writer.deleteRepository('admin', 'app'), false);

    const seqs = (await store.changesSince(0, 100)).map((c) => c.seq);
    assert.deepEqual(events.map((e) => e.seq), [null, ...seqs], 'every change row once, in order');
    const local = { origin: 'local' };
    assert.deepEqual(events, [
      { ...local, actor: 'ci-bot', type: 'blob-linked', repository: 'app', digest: cfg, size: 7, seq: null },
      { ...local, actor: 'ci-bot', type: 'manifest-pushed', repository: 'app', digest: input.digest, mediaType: input.mediaType, size: input.size, seq: seqs[0] },
      { ...local, actor: 'ci-bot', type: 'tag-set', repository: 'app', tag: 'v1', digest: input.digest, mediaType: input.mediaType, seq: seqs[1] },
      { ...local, actor: 'admin', type: 'tag-deleted', repository: 'app', tag: 'v1', seq: seqs[2] },
      { ...local, actor: null, type: 'manifest-deleted', repository: 'app', digest: input.digest, seq: seqs[3] },
      { ...local, actor: null, type: 'blob-deleted', repository: 'app', digest: cfg, seq: seqs[4] },
      { ...local, actor: null, type: 'manifest-pushed', repository: 'app', digest: digestOf('m2'), mediaType: input.mediaType, size: manifestInput('app', 'm2').size, seq: seqs[5] },
      { ...local, actor: 'admin', type: 'repository-deleted', repository: 'app', seq: seqs[6] },
    ]);
  });

  it('publishes nothing for a write the store refuses', async () => {
    await assert.rejects(writer.putManifest('ci', manifestInput('app', 'm', { blobs: [digestOf('absent')] })),
      (err: unknown) => isRegistryError(err) && err.code === 'MANIFEST_BLOB_UNKNOWN');
    await writer.putManifest('ci', manifestInput('app', 'child', { tag: 'c' }));
    await writer.putManifest('ci', manifestInput('app', 'index', { manifests: [digestOf('child')] }));
    events.length = 0;
    await assert.rejects(writer.deleteManifest('ci', 'app', digestOf('child')), (err: unknown) => isRegistryError(err) && err.code === 'MANIFEST_REFERENCED');
    assert.deepEqual(events, []);
  });

  it('a change from the parent publishes sync events (no actor): the new links, the manifest, the tag', async () => {
    const layer = digestOf('layer');
    const input = { ...manifestInput('app', 'img', { blobs: [layer] }), blobLinks: { [layer]: 9 }, tag: 'v1' };
    await new SyncApplier(writer).applyManifest(input, 12);
    assert.deepEqual(events.map((e) => [e.type, e.origin, e.actor, e.seq]), [
      ['blob-linked', 'sync', null, null], ['manifest-pushed', 'sync', null, 1], ['tag-set', 'sync', null, 2],
    ]);
    assert.equal(events[1]?.type === 'manifest-pushed' ? events[1].size : -1, input.size);
    assert.equal(await store.getCursor(), 12);
    events.length = 0;
    await new SyncApplier(writer).applyManifest(input, 13); // nothing new: the cursor moves, no event
    assert.deepEqual(events, []);
    assert.equal(await store.getCursor(), 13);
  });

  it('gives up with SyncWriteConflictError when local writes never leave the repository quiet', async () => {
    let decisions = 0;
    const busy: WriterStore = {
      putManifest: (ctx, input) => store.putManifest(ctx, input),
      deleteTag: (ctx, repository, tag) => store.deleteTag(ctx, repository, tag),
      deleteManifest: (ctx, repository, digest) => store.deleteManifest(ctx, repository, digest),
      deleteRepository: (ctx, repository) => store.deleteRepository(ctx, repository),
      linkBlob: (ctx, repository, digest, size) => store.linkBlob(ctx, repository, digest, size),
      unlinkBlob: (ctx, repository, digest) => store.unlinkBlob(ctx, repository, digest),
      deleteManifestsIfUnchanged: (ctx, repository, digests, basis) => store.deleteManifestsIfUnchanged(ctx, repository, digests, basis),
      touchBlobLink: (repository, digest) => store.touchBlobLink(repository, digest),
      syncFacts: async (repository, digest) => {
        decisions += 1;
        return store.syncFacts(repository, digest);
      },
      applySync: async () => ({ committed: false }),
    };
    const busyWriter = new RegistryWriter(busy, new EventBus());
    await assert.rejects(new SyncApplier(busyWriter).applyTagDelete('app', 'v1', 3),
      (err: unknown) => err instanceof SyncWriteConflictError && err.code === 'SYNC_WRITE_CONFLICT' && err.repository === 'app');
    assert.equal(decisions, 16);
    assert.equal(await store.getCursor(), null);
  });

  it('the actor of a /v2 caller is its identity\'s name', () => {
    assert.equal(actorOfCaller('token:ci-bot'), 'ci-bot');
    assert.equal(actorOfCaller('admin:admin'), 'admin');
    assert.equal(actorOfCaller('bearer:ci:bot'), 'ci:bot');
    assert.equal(actorOfCaller('anonymous:'), null);
  });
});
