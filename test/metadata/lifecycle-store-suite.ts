import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isRegistryError } from '../../src/oci/errors.js';
import type { ManifestNode, MetadataStore, SettingsStore } from '../../src/metadata/index.js';
import { LOCAL, digestOf, manifestInput } from './store-suite.js';

const INDEX = 'application/vnd.oci.image.index.v1+json';

/** What an implementation hands the suite: fresh stores on one database, whose recorded times are `clock()`. */
export interface OpenedLifecycleStores {
  store: MetadataStore;
  settings: SettingsStore;
  cleanup(): Promise<void>;
}

/**
 * The stores' part of retention and usage as a contract (docs/operations.md): when a manifest
 * lost its last tag, the manifest graph retention decides from, the delete that is refused when
 * the repository changed since, the stored figures and a repository's size, and the retention
 * policy setting. Every implementation runs it; `open` gives empty stores recording times from
 * the clock it is given.
 */
export function runLifecycleStoreSuite(name: string, open: (clock: () => number) => Promise<OpenedLifecycleStores>): void {
  describe(`lifecycle stores contract: ${name}`, () => {
    let now = Date.UTC(2026, 0, 1);
    let stores: OpenedLifecycleStores;
    let store: MetadataStore;

    beforeEach(async () => {
      now = Date.UTC(2026, 0, 1);
      stores = await open(() => now);
      store = stores.store;
    });
    afterEach(async () => {
      await stores.cleanup();
    });

    /** Links the blobs `label` needs (sizes 10 and 20) and puts its manifest. */
    async function image(repository: string, label: string, tag?: string): Promise<string> {
      const blobs = [digestOf(`${label}-config`), digestOf(`${label}-layer`)];
      await store.linkBlob(LOCAL, repository, blobs[0]!, 10);
      await store.linkBlob(LOCAL, repository, blobs[1]!, 20);
      const input = manifestInput(repository, label, { blobs, ...(tag !== undefined ? { tag } : {}) });
      await store.putManifest(LOCAL, input);
      return input.digest;
    }

    async function nodeOf(repository: string, digest: string): Promise<ManifestNode | undefined> {
      return (await store.manifestGraph(repository))?.manifests.find((m) => m.digest === digest);
    }

    describe('when a manifest lost its last tag', () => {
      it('is unknown until a tag leaves it; a delete and a move both record the time', async () => {
        const first = await image('app', 'first', 'v1');
        const second = await image('app', 'second', 'v2');
        assert.equal((await nodeOf('app', first))!.untaggedAt, null);
        assert.equal((await nodeOf('app', first))!.createdAt.getTime(), now);

        now += 1000;
        await store.deleteTag(LOCAL, 'app', 'v1');
        assert.equal((await nodeOf('app', first))!.untaggedAt?.getTime(), now);

        now += 1000;
        // v2 moves from `second` onto `first`: `second` loses it, `first` is tagged again.
        await store.putManifest(LOCAL, { ...manifestInput('app', 'first', { blobs: [digestOf('first-config'), digestOf('first-layer')] }), tag: 'v2' });
        const moved = (await nodeOf('app', second))!;
        assert.equal(moved.untaggedAt?.getTime(), now);
        assert.equal(moved.tagged, false);
        assert.equal((await nodeOf('app', first))!.tagged, true);
      });

      it('a tag set again on the manifest it already names takes nothing from it', async () => {
        const digest = await image('app', 'same', 'v1');
        now += 1000;
        await store.putManifest(LOCAL, { ...manifestInput('app', 'same', { blobs: [digestOf('same-config'), digestOf('same-layer')] }), tag: 'v1' });
        assert.equal((await nodeOf('app', digest))!.untaggedAt, null);
      });
    });

    describe('the manifest graph', () => {
      it('lists every manifest with its tag state, subject and children, and the basis of the read', async () => {
        const a = await image('app', 'a');
        const b = await image('app', 'b');
        const index = manifestInput('app', 'index', { mediaType: INDEX, manifests: [a, b], tag: 'multi' });
        await store.putManifest(LOCAL, index);
        await store.linkBlob(LOCAL, 'app', digestOf('sig-config'), 2);
        const signature = manifestInput('app', 'sig', { blobs: [digestOf('sig-config')], subject: a });
        await store.putManifest(LOCAL, signature);
        await image('other', 'elsewhere', 'x');

        const graph = (await store.manifestGraph('app'))!;
        assert.equal(graph.basis, await store.lastChangeSeq());
        const byDigest = new Map(graph.manifests.map((m) => [m.digest, m]));
        assert.equal(graph.manifests.length, 4, 'only the repository\'s own manifests');
        assert.deepEqual(byDigest.get(index.digest)!.children.sort(), [a, b].sort());
        assert.equal(byDigest.get(index.digest)!.tagged, true);
        assert.equal(byDigest.get(a)!.tagged, false);
        assert.deepEqual(byDigest.get(a)!.children, []);
        assert.equal(byDigest.get(signature.digest)!.subject, a);
        assert.equal(await store.manifestGraph('nothere'), null);
      });
    });

    describe('deleting what was decided, unless the repository changed', () => {
      it('deletes the manifests in order, one manifest-delete each with the write\'s origin', async () => {
        const a = await image('app', 'a');
        const index = manifestInput('app', 'index', { mediaType: INDEX, manifests: [a] });
        await store.putManifest(LOCAL, index);
        const keep = await image('app', 'keep', 'v1');
        const basis = (await store.manifestGraph('app'))!.basis;
        const result = await store.deleteManifestsIfUnchanged({ origin: 'local', actor: 'retention' }, 'app', [index.digest, a], basis);
        assert.equal(result.committed, true);
        assert.deepEqual(result.committed && result.outcome.changes.map((c) => [c.kind, c.digest]),
          [['manifest-delete', index.digest], ['manifest-delete', a]]);
        assert.equal(await store.getManifest('app', a), null);
        assert.equal(await store.getManifest('app', index.digest), null);
        assert.notEqual(await store.getManifest('app', keep), null);
        const changes = await store.changesSince(basis, 10);
        assert.deepEqual(changes.map((c) => c.kind), ['manifest-delete', 'manifest-delete']);
      });

      it('does nothing when a change to the repository committed after the basis (a tag set meanwhile protects its manifest)', async () => {
        const old = await image('app', 'old');
        const basis = (await store.manifestGraph('app'))!.basis;
        await store.putManifest(LOCAL, { ...manifestInput('app', 'old', { blobs: [digestOf('old-config'), digestOf('old-layer')] }), tag: 'rescued' });
        const result = await store.deleteManifestsIfUnchanged(LOCAL, 'app', [old], basis);
        assert.deepEqual(result, { committed: false });
        assert.equal(await store.resolveTag('app', 'rescued'), old);
        // A change to another repository does not matter.
        const again = (await store.manifestGraph('app'))!.basis;
        await image('other', 'noise', 'x');
        await store.deleteTag(LOCAL, 'app', 'rescued');
        const fresh = (await store.manifestGraph('app'))!.basis;
        assert.ok(fresh > again);
        await image('other', 'more-noise', 'y');
        assert.equal((await store.deleteManifestsIfUnchanged(LOCAL, 'app', [old], fresh)).committed, true);
      });

      it('refuses, writing nothing, a manifest an index still lists (MANIFEST_REFERENCED)', async () => {
        const a = await image('app', 'a');
        const lone = await image('app', 'lone');
        await store.putManifest(LOCAL, manifestInput('app', 'index', { mediaType: INDEX, manifests: [a] }));
        const basis = (await store.manifestGraph('app'))!.basis;
        await assert.rejects(store.deleteManifestsIfUnchanged(LOCAL, 'app', [lone, a], basis),
          (err: unknown) => isRegistryError(err) && err.code === 'MANIFEST_REFERENCED');
        assert.notEqual(await store.getManifest('app', lone), null, 'the whole write was rolled back');
        assert.equal(await store.lastChangeSeq(), basis);
      });
    });

    describe('stored figures and repository size', () => {
      it('count each digest once across the registry, manifests per repository', async () => {
        assert.deepEqual(await store.storedUsage(), { repositories: 0, manifests: 0, blobs: 0, sizeBytes: 0 });
        const a = manifestInput('app', 'a', { blobs: [digestOf('shared'), digestOf('a-only')] });
        await store.linkBlob(LOCAL, 'app', digestOf('shared'), 1000);
        await store.linkBlob(LOCAL, 'app', digestOf('a-only'), 7);
        await store.putManifest(LOCAL, a);
        // The same layer and the same manifest in a second repository: stored once.
        await store.linkBlob(LOCAL, 'copy', digestOf('shared'), 1000);
        await store.linkBlob(LOCAL, 'copy', digestOf('a-only'), 7);
        await store.putManifest(LOCAL, { ...a, repository: 'copy' });
        // A blob pushed without a manifest yet is stored too.
        await store.linkBlob(LOCAL, 'loose', digestOf('loose'), 5);

        assert.deepEqual(await store.storedUsage(), { repositories: 3, manifests: 2, blobs: 3, sizeBytes: 1000 + 7 + a.size + 5 });
        assert.equal((await store.repositoryInfo('app'))!.sizeBytes, 1000 + 7 + a.size);
        assert.equal((await store.repositoryInfo('copy'))!.sizeBytes, 1000 + 7 + a.size);
        assert.equal((await store.repositoryInfo('loose'))!.sizeBytes, 5);

        await store.deleteRepository(LOCAL, 'copy');
        assert.deepEqual(await store.storedUsage(), { repositories: 2, manifests: 1, blobs: 3, sizeBytes: 1000 + 7 + a.size + 5 });
      });
    });

    describe('the retention policy setting', () => {
      it('is disabled with 7 days until set; an update changes only what it names and stamps the time', async () => {
        assert.deepEqual(await stores.settings.retentionPolicy(), { status: 'disabled', days: 7, lastUpdatedTime: null });
        now += 5000;
        assert.deepEqual(await stores.settings.updateRetentionPolicy({ status: 'enabled' }), { status: 'enabled', days: 7, lastUpdatedTime: new Date(now) });
        now += 5000;
        assert.deepEqual(await stores.settings.updateRetentionPolicy({ days: 30 }), { status: 'enabled', days: 30, lastUpdatedTime: new Date(now) });
        assert.deepEqual(await stores.settings.updateRetentionPolicy({ status: 'disabled', days: 0 }), { status: 'disabled', days: 0, lastUpdatedTime: new Date(now) });
        assert.deepEqual(await stores.settings.retentionPolicy(), { status: 'disabled', days: 0, lastUpdatedTime: new Date(now) });
      });
    });
  });
}
