import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isRegistryError } from '../../src/oci/errors.js';
import type { ChangeKind, MetadataStore, PutManifestInput, WriteContext, WriteOutcome } from '../../src/metadata/types.js';

/** What an implementation hands the suite: a fresh, empty store and how to throw it away. */
export interface OpenedStore {
  store: MetadataStore;
  cleanup(): Promise<void>;
}

/** A client's write (the registry suite's default). */
export const LOCAL: WriteContext = { origin: 'local', actor: 'tester' };
/** The sync agent's plain write (no cursor). */
export const SYNC: WriteContext = { origin: 'sync', actor: null };

/** Did the write change anything (append a change row)? */
export function wrote(outcome: WriteOutcome): boolean {
  return outcome.changes.length > 0;
}

const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';

/** A well-formed sha256 digest made from a short label, so tests read as names, not hex. */
export function digestOf(label: string): string {
  const hex = Buffer.from(label).toString('hex');
  return `sha256:${hex.padStart(64, '0').slice(-64)}`;
}

/** A PutManifestInput with sensible defaults; tests override what they care about. */
export function manifestInput(repository: string, label: string, overrides: Partial<PutManifestInput> = {}): PutManifestInput {
  return {
    repository,
    digest: digestOf(label),
    mediaType: IMAGE,
    size: 100 + label.length,
    artifactType: null,
    subject: null,
    annotations: null,
    blobs: [],
    manifests: [],
    ...overrides,
  };
}

async function kinds(store: MetadataStore): Promise<ChangeKind[]> {
  return (await store.changesSince(0, 1000)).map((c) => c.kind);
}

/** Pushes a small image: two linked blobs, then the manifest referencing them. */
async function pushImage(store: MetadataStore, repository: string, label: string, tag?: string): Promise<string> {
  const config = digestOf(`${label}-config`);
  const layer = digestOf(`${label}-layer`);
  await store.linkBlob(LOCAL, repository, config, 10);
  await store.linkBlob(LOCAL, repository, layer, 20);
  const input = manifestInput(repository, label, { blobs: [config, layer], ...(tag !== undefined ? { tag } : {}) });
  await store.putManifest(LOCAL, input);
  return input.digest;
}

/**
 * The MetadataStore contract as tests. Every implementation (SQLite, PostgreSQL) runs it; `open`
 * must give an empty store each time, recording times on `clock` when given (milliseconds since
 * the epoch; the system clock otherwise).
 */
export function runMetadataSuite(name: string, open: (clock?: () => number) => Promise<OpenedStore>): void {
  describe(`MetadataStore contract: ${name}`, () => {
    let store: MetadataStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await open());
    });
    afterEach(async () => {
      await cleanup();
    });

    it('starts empty', async () => {
      assert.deepEqual(await store.listRepositories({ limit: 10 }), []);
      assert.equal(await store.repositoryExists('a'), false);
      assert.equal(await store.listTags('a', { limit: 10 }), null);
      assert.equal(await store.resolveTag('a', 'latest'), null);
      assert.equal(await store.getManifest('a', digestOf('m')), null);
      assert.equal(await store.getBlobLink('a', digestOf('b')), null);
      assert.deepEqual(await store.blobLinksOf(digestOf('b'), { limit: 10 }), []);
      assert.deepEqual(await store.listReferrers('a', digestOf('m')), []);
      assert.deepEqual(await store.changesSince(0, 10), []);
      assert.equal(await store.lastChangeSeq(), 0);
      assert.deepEqual(await store.referencedBlobDigests(), new Set());
    });

    describe('blob links', () => {
      it('linkBlob creates the repository and is idempotent', async () => {
        await store.linkBlob(LOCAL, 'team/app', digestOf('b1'), 42);
        await store.linkBlob(LOCAL, 'team/app', digestOf('b1'), 42);
        assert.equal(await store.repositoryExists('team/app'), true);
        assert.deepEqual(await store.getBlobLink('team/app', digestOf('b1')), { size: 42 });
        assert.deepEqual(await store.listRepositories({ limit: 10 }), ['team/app']);
        assert.deepEqual(await store.listTags('team/app', { limit: 10 }), [], 'exists without tags');
        assert.deepEqual(await store.changesSince(0, 10), [], 'blob links are not repository changes');
      });

      it('links are per repository; blobLinksOf lists the repositories holding a digest, by name, in pages', async () => {
        await store.linkBlob(LOCAL, 'c', digestOf('b1'), 7);
        await store.linkBlob(LOCAL, 'a', digestOf('b1'), 7);
        await store.linkBlob(LOCAL, 'b/x', digestOf('b1'), 7);
        await store.linkBlob(LOCAL, 'b', digestOf('other'), 3);
        assert.equal(await store.getBlobLink('b', digestOf('b1')), null);
        assert.deepEqual(await store.blobLinksOf(digestOf('b1'), { limit: 10 }),
          [{ repository: 'a', size: 7 }, { repository: 'b/x', size: 7 }, { repository: 'c', size: 7 }]);
        assert.deepEqual(await store.blobLinksOf(digestOf('b1'), { limit: 1, last: 'a' }), [{ repository: 'b/x', size: 7 }]);
        assert.deepEqual(await store.blobLinksOf(digestOf('b1'), { limit: 0 }), []);
        assert.deepEqual(await store.blobLinksOf(digestOf('b2'), { limit: 10 }), []);
      });

      it('unlinkBlob refuses a blob a manifest of the repository uses (BLOB_REFERENCED), config and layers alike', async () => {
        const m1 = await pushImage(store, 'app', 'm1');
        // A second manifest sharing m1's layer, and a third in another repository.
        await store.linkBlob(LOCAL, 'app', digestOf('m2-config'), 5);
        const m2 = manifestInput('app', 'm2', { blobs: [digestOf('m2-config'), digestOf('m1-layer')] });
        await store.putManifest(LOCAL, m2);
        await pushImage(store, 'other', 'm1');
        const refused = (count: number, manifests: string[]) => (err: unknown): boolean => isRegistryError(err)
          && err.code === 'BLOB_REFERENCED' && JSON.stringify(err.detail) === JSON.stringify({ digest: digestOf('m1-layer'), count, manifests });
        await assert.rejects(store.unlinkBlob(LOCAL, 'app', digestOf('m1-layer')), refused(2, [m1, m2.digest].sort()));
        await assert.rejects(store.unlinkBlob(LOCAL, 'app', digestOf('m1-config')), (err: unknown) => isRegistryError(err) && err.code === 'BLOB_REFERENCED');
        assert.deepEqual(await store.getBlobLink('app', digestOf('m1-layer')), { size: 20 }, 'the refused unlink left the link');
        await store.deleteManifest(LOCAL, 'app', m2.digest);
        await assert.rejects(store.unlinkBlob(LOCAL, 'app', digestOf('m1-layer')), refused(1, [m1]));
        await store.deleteManifest(LOCAL, 'app', m1);
        assert.equal(wrote(await store.unlinkBlob(LOCAL, 'app', digestOf('m1-layer'))), true);
        assert.deepEqual(await store.getBlobLink('other', digestOf('m1-layer')), { size: 20 }, 'other repositories keep theirs');
      });

      it('unlinkBlob removes the link once, and the repository with its last content', async () => {
        await store.linkBlob(LOCAL, 'a', digestOf('b1'), 1);
        await store.linkBlob(LOCAL, 'a', digestOf('b2'), 2);
        assert.equal(wrote(await store.unlinkBlob(LOCAL, 'a', digestOf('b1'))), true);
        assert.equal(wrote(await store.unlinkBlob(LOCAL, 'a', digestOf('b1'))), false);
        assert.equal(wrote(await store.unlinkBlob(LOCAL, 'nope', digestOf('b1'))), false);
        assert.equal(await store.getBlobLink('a', digestOf('b1')), null);
        assert.equal(await store.repositoryExists('a'), true);
        assert.equal(wrote(await store.unlinkBlob(LOCAL, 'a', digestOf('b2'))), true);
        assert.equal(await store.repositoryExists('a'), false);
        assert.equal(await store.listTags('a', { limit: 10 }), null);
        assert.deepEqual(await store.listRepositories({ limit: 10 }), []);
      });
    });

    describe('write contexts and outcomes', () => {
      it('every write returns exactly the change rows it appended (as changesSince has them) and the links it added; a no-op returns none', async () => {
        const cfg = digestOf('cfg');
        assert.deepEqual(await store.linkBlob(LOCAL, 'app', cfg, 10), { changes: [], linked: [{ repository: 'app', digest: cfg, size: 10 }] });
        assert.deepEqual(await store.linkBlob(LOCAL, 'app', cfg, 10), { changes: [], linked: [] }, 'linked already');
        const put = await store.putManifest(LOCAL, manifestInput('app', 'm1', { blobs: [cfg], tag: 'v1' }));
        assert.deepEqual(put.linked, []);
        assert.deepEqual(put.changes, await store.changesSince(0, 10), 'the rows, seq and time included');
        assert.deepEqual(put.changes.map((c) => [c.kind, c.tag, c.digest]), [['manifest', null, digestOf('m1')], ['tag', 'v1', digestOf('m1')]]);
        assert.deepEqual(await store.putManifest(LOCAL, manifestInput('app', 'm1', { blobs: [cfg], tag: 'v1' })), { changes: [], linked: [] });
        const links = await store.putManifest(SYNC, manifestInput('app', 'm2', { blobs: [digestOf('l2')], blobLinks: { [digestOf('l2')]: 5, [cfg]: 10 } }));
        assert.deepEqual(links.linked, [{ repository: 'app', digest: digestOf('l2'), size: 5 }], 'only the new link');
        assert.deepEqual(links.changes.map((c) => c.kind), ['manifest']);

        const seq = await store.lastChangeSeq();
        const untag = await store.deleteTag(LOCAL, 'app', 'v1');
        assert.deepEqual(untag.changes.map((c) => [c.seq, c.kind, c.tag]), [[seq + 1, 'tag-delete', 'v1']]);
        assert.deepEqual((await store.deleteTag(LOCAL, 'app', 'v1')).changes, []);
        assert.deepEqual((await store.deleteManifest(LOCAL, 'app', digestOf('m2'))).changes.map((c) => [c.kind, c.digest]), [['manifest-delete', digestOf('m2')]]);
        assert.deepEqual((await store.unlinkBlob(LOCAL, 'app', digestOf('l2'))).changes.map((c) => [c.kind, c.digest]), [['blob-delete', digestOf('l2')]]);
        assert.deepEqual((await store.unlinkBlob(LOCAL, 'app', digestOf('l2'))).changes, []);
        assert.deepEqual((await store.deleteRepository(LOCAL, 'app')).changes.map((c) => [c.kind, c.repository]), [['repository-delete', 'app']]);
        assert.deepEqual(await store.deleteRepository(LOCAL, 'app'), { changes: [], linked: [] });
        assert.deepEqual((await store.changesSince(0, 100)).map((c) => c.seq), [1, 2, 3, 4, 5, 6, 7]);
      });

      it('the origin changes nothing of what a write does: a sync write stores, logs and is refused like a local one', async () => {
        const child = await pushImage(store, 'app', 'amd64');
        const index = manifestInput('app', 'index', { mediaType: INDEX, manifests: [child], tag: 'multi' });
        assert.deepEqual((await store.putManifest(SYNC, index)).changes.map((c) => c.kind), ['manifest', 'tag']);
        await assert.rejects(store.deleteManifest(SYNC, 'app', child), (err: unknown) => isRegistryError(err) && err.code === 'MANIFEST_REFERENCED');
        await assert.rejects(store.unlinkBlob(SYNC, 'app', digestOf('amd64-layer')), (err: unknown) => isRegistryError(err) && err.code === 'BLOB_REFERENCED');
        await assert.rejects(store.putManifest(SYNC, manifestInput('app', 'm', { blobs: [digestOf('absent')] })),
          (err: unknown) => isRegistryError(err) && err.code === 'MANIFEST_BLOB_UNKNOWN');
        assert.deepEqual((await store.deleteTag(SYNC, 'app', 'multi')).changes.map((c) => c.kind), ['tag-delete']);
      });
    });

    describe('putManifest', () => {
      it('stores the manifest, its tag and one change of each kind', async () => {
        const before = Date.now();
        await store.linkBlob(LOCAL, 'app', digestOf('cfg'), 10);
        const input = manifestInput('app', 'm1', {
          blobs: [digestOf('cfg')],
          artifactType: 'application/vnd.example',
          annotations: { 'org.opencontainers.image.title': 'hello' },
          tag: 'latest',
        });
        await store.putManifest(LOCAL, input);
        const record = await store.getManifest('app', input.digest);
        assert.ok(record);
        assert.equal(record.repository, 'app');
        assert.equal(record.digest, input.digest);
        assert.equal(record.mediaType, IMAGE);
        assert.equal(record.size, input.size);
        assert.equal(record.artifactType, 'application/vnd.example');
        assert.equal(record.subject, null);
        assert.deepEqual(record.annotations, { 'org.opencontainers.image.title': 'hello' });
        assert.ok(record.createdAt instanceof Date);
        assert.ok(record.createdAt.getTime() >= before - 1000 && record.createdAt.getTime() <= Date.now() + 1000);
        assert.equal(await store.resolveTag('app', 'latest'), input.digest);

        const changes = await store.changesSince(0, 10);
        assert.equal(changes.length, 2);
        const [manifest, tag] = changes;
        assert.ok(manifest && tag);
        assert.deepEqual({ ...manifest, at: null }, {
          seq: manifest.seq, repository: 'app', kind: 'manifest', tag: null, digest: input.digest, mediaType: IMAGE, at: null,
        });
        assert.deepEqual({ ...tag, at: null }, {
          seq: tag.seq, repository: 'app', kind: 'tag', tag: 'latest', digest: input.digest, mediaType: IMAGE, at: null,
        });
        assert.ok(tag.seq > manifest.seq);
        assert.ok(manifest.at instanceof Date);
        assert.equal(await store.lastChangeSeq(), tag.seq);
      });

      it('rejects unknown blobs and child manifests with MANIFEST_BLOB_UNKNOWN and writes nothing', async () => {
        await store.linkBlob(LOCAL, 'other', digestOf('elsewhere'), 1);
        const input = manifestInput('app', 'm1', {
          blobs: [digestOf('missing-1'), digestOf('elsewhere')],
          manifests: [digestOf('missing-child')],
          tag: 'latest',
        });
        await assert.rejects(store.putManifest(LOCAL, input), (err: unknown) => {
          assert.ok(isRegistryError(err));
          assert.equal(err.code, 'MANIFEST_BLOB_UNKNOWN');
          assert.deepEqual(err.detail, { missing: [digestOf('missing-1'), digestOf('elsewhere'), digestOf('missing-child')] });
          return true;
        });
        assert.equal(await store.repositoryExists('app'), false);
        assert.equal(await store.getManifest('app', input.digest), null);
        assert.equal(await store.resolveTag('app', 'latest'), null);
        assert.equal(await store.lastChangeSeq(), 0);
      });

      it('rejects a partly linked manifest in an existing repository, listing only what is missing', async () => {
        await store.linkBlob(LOCAL, 'app', digestOf('cfg'), 1);
        const input = manifestInput('app', 'm1', { blobs: [digestOf('cfg'), digestOf('layer')], tag: 'v1' });
        await assert.rejects(store.putManifest(LOCAL, input), (err: unknown) => {
          assert.ok(isRegistryError(err));
          assert.equal(err.code, 'MANIFEST_BLOB_UNKNOWN');
          assert.deepEqual(err.detail, { missing: [digestOf('layer')] });
          return true;
        });
        assert.equal(await store.getManifest('app', input.digest), null);
        assert.deepEqual(await store.listTags('app', { limit: 10 }), []);
        assert.deepEqual(await store.changesSince(0, 10), []);
      });

      it('is idempotent for the same content; tags only log when set or moved', async () => {
        const m1 = await pushImage(store, 'app', 'm1', 'latest');
        assert.deepEqual(await kinds(store), ['manifest', 'tag']);

        await store.putManifest(LOCAL, manifestInput('app', 'm1', { blobs: [digestOf('m1-config'), digestOf('m1-layer')], tag: 'latest' }));
        await store.putManifest(LOCAL, manifestInput('app', 'm1', { blobs: [digestOf('m1-config'), digestOf('m1-layer')] }));
        assert.deepEqual(await kinds(store), ['manifest', 'tag'], 'same manifest, same tag: nothing new');

        await store.putManifest(LOCAL, manifestInput('app', 'm1', { blobs: [digestOf('m1-config'), digestOf('m1-layer')], tag: 'v1' }));
        assert.deepEqual(await kinds(store), ['manifest', 'tag', 'tag'], 'existing manifest under a new tag: a tag change only');

        const m2 = await pushImage(store, 'app', 'm2', 'latest');
        assert.deepEqual(await kinds(store), ['manifest', 'tag', 'tag', 'manifest', 'tag'], 'moving a tag logs it');
        assert.equal(await store.resolveTag('app', 'latest'), m2);
        assert.equal(await store.resolveTag('app', 'v1'), m1);
        const last = (await store.changesSince(0, 10)).at(-1);
        assert.equal(last?.tag, 'latest');
        assert.equal(last?.digest, m2);
      });

      it('stores an index whose children are in the repository', async () => {
        const child1 = await pushImage(store, 'app', 'amd64');
        const child2 = await pushImage(store, 'app', 'arm64');
        const index = manifestInput('app', 'index', { mediaType: INDEX, manifests: [child1, child2], tag: 'multi' });
        await store.putManifest(LOCAL, index);
        assert.equal((await store.getManifest('app', index.digest))?.mediaType, INDEX);
        assert.equal(await store.resolveTag('app', 'multi'), index.digest);

        await assert.rejects(
          store.putManifest(LOCAL, manifestInput('other', 'index', { mediaType: INDEX, manifests: [child1] })),
          (err: unknown) => isRegistryError(err) && err.code === 'MANIFEST_BLOB_UNKNOWN',
          'children in another repository do not count',
        );
      });

      it('refuses a descriptor size that differs from the blob link or child manifest (MANIFEST_INVALID), and writes nothing', async () => {
        await store.linkBlob(LOCAL, 'app', digestOf('cfg'), 10);
        const invalid = (err: unknown): boolean => isRegistryError(err) && err.code === 'MANIFEST_INVALID';
        const seq = await store.lastChangeSeq();
        await assert.rejects(store.putManifest(LOCAL, manifestInput('app', 'm1', {
          blobs: [digestOf('cfg')], declaredSizes: { [digestOf('cfg')]: 11 }, tag: 't',
        })), (err: unknown) => invalid(err)
          && JSON.stringify((err as { detail: unknown }).detail) === JSON.stringify({ mismatched: [{ digest: digestOf('cfg'), declared: 11, stored: 10 }] }));
        // A blob linked by the same commit is compared too (an edge's pulled manifest).
        await assert.rejects(store.putManifest(LOCAL, manifestInput('app', 'm1', {
          blobs: [digestOf('new')], blobLinks: { [digestOf('new')]: 5 }, declaredSizes: { [digestOf('new')]: 6 },
        })), invalid);
        assert.equal(await store.getBlobLink('app', digestOf('new')), null, 'the refused commit linked nothing');
        assert.equal(await store.getManifest('app', digestOf('m1')), null);
        assert.equal(await store.lastChangeSeq(), seq);

        const child = manifestInput('app', 'child', { blobs: [digestOf('cfg')], declaredSizes: { [digestOf('cfg')]: 10 } });
        await store.putManifest(LOCAL, child);
        await assert.rejects(store.putManifest(LOCAL, manifestInput('app', 'index', {
          mediaType: INDEX, manifests: [child.digest], declaredSizes: { [child.digest]: child.size + 1 },
        })), invalid);
        await store.putManifest(LOCAL, manifestInput('app', 'index', { mediaType: INDEX, manifests: [child.digest], declaredSizes: { [child.digest]: child.size } }));
      });

      it('refuses deleting a child manifest that an index still lists (MANIFEST_REFERENCED), until the index goes', async () => {
        const child = await pushImage(store, 'app', 'amd64', 'amd64');
        const index = manifestInput('app', 'index', { mediaType: INDEX, manifests: [child], tag: 'multi' });
        const other = manifestInput('app', 'index2', { mediaType: INDEX, manifests: [child] });
        await store.putManifest(LOCAL, index);
        await store.putManifest(LOCAL, other);
        const seq = await store.lastChangeSeq();
        await assert.rejects(store.deleteManifest(LOCAL, 'app', child), (err: unknown) => isRegistryError(err) && err.code === 'MANIFEST_REFERENCED'
          && JSON.stringify(err.detail) === JSON.stringify({ digest: child, count: 2, manifests: [index.digest, other.digest].sort() }));
        assert.ok(await store.getManifest('app', child), 'the child stays');
        assert.equal(await store.resolveTag('app', 'amd64'), child, 'with its tags');
        assert.equal(await store.lastChangeSeq(), seq, 'and nothing is logged');
        assert.equal(wrote(await store.deleteTag(LOCAL, 'app', 'amd64')), true, 'a tag on it may go');
        assert.equal(wrote(await store.deleteManifest(LOCAL, 'app', index.digest)), true);
        assert.equal(wrote(await store.deleteManifest(LOCAL, 'app', other.digest)), true);
        assert.equal(wrote(await store.deleteManifest(LOCAL, 'app', child)), true);
      });

      it('an index in another repository does not hold a child back', async () => {
        const child = await pushImage(store, 'app', 'amd64');
        await pushImage(store, 'elsewhere', 'amd64');
        await store.putManifest(LOCAL, manifestInput('elsewhere', 'index', { mediaType: INDEX, manifests: [child] }));
        assert.equal(wrote(await store.deleteManifest(LOCAL, 'app', child)), true);
      });
    });

    describe('tags', () => {
      it('lists in byte order with last/limit pagination', async () => {
        const digest = await pushImage(store, 'app', 'm1');
        const names = ['b', 'a', 'B', 'A', '9', '10', 'a-1', 'a.1', 'a_1', 'latest'];
        for (const tag of names) await store.putManifest(LOCAL, manifestInput('app', 'm1', { blobs: [], tag }));
        const sorted = [...names].sort((x, y) => (Buffer.compare(Buffer.from(x), Buffer.from(y))));
        assert.deepEqual(await store.listTags('app', { limit: 100 }), sorted);
        assert.deepEqual(sorted.slice(0, 3), ['10', '9', 'A'], 'byte order, not locale order');

        const paged: string[] = [];
        let last: string | undefined;
        for (;;) {
          const page = await store.listTags('app', { limit: 3, ...(last !== undefined ? { last } : {}) });
          assert.ok(page);
          if (page.length === 0) break;
          assert.ok(page.length <= 3);
          paged.push(...page);
          last = page.at(-1);
        }
        assert.deepEqual(paged, sorted);
        assert.deepEqual(await store.listTags('app', { limit: 2, last: 'a' }), ['a-1', 'a.1']);
        assert.deepEqual(await store.listTags('app', { limit: 5, last: 'zzz' }), []);
        assert.deepEqual(await store.listTags('app', { limit: 0 }), []);
        assert.equal(await store.resolveTag('app', 'A'), digest);
      });

      it('deleteTag removes the tag, keeps the manifest and logs tag-delete', async () => {
        const digest = await pushImage(store, 'app', 'm1', 'latest');
        assert.equal(wrote(await store.deleteTag(LOCAL, 'app', 'latest')), true);
        assert.equal(wrote(await store.deleteTag(LOCAL, 'app', 'latest')), false);
        assert.equal(wrote(await store.deleteTag(LOCAL, 'nope', 'latest')), false);
        assert.equal(await store.resolveTag('app', 'latest'), null);
        assert.ok(await store.getManifest('app', digest));
        assert.deepEqual(await store.listTags('app', { limit: 10 }), []);
        const last = (await store.changesSince(0, 10)).at(-1);
        assert.equal(last?.kind, 'tag-delete');
        assert.equal(last?.tag, 'latest');
        assert.equal(last?.repository, 'app');
        assert.deepEqual(await kinds(store), ['manifest', 'tag', 'tag-delete']);
      });
    });

    describe('repositories', () => {
      it('lists in byte order with last/limit pagination', async () => {
        const names = ['zeta', 'alpha/b', 'alpha', 'alpha-b', 'alpha/a', 'beta', '0x'];
        for (const name of names) await store.linkBlob(LOCAL, name, digestOf('b'), 1);
        const sorted = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        assert.deepEqual(await store.listRepositories({ limit: 100 }), sorted);
        assert.deepEqual(await store.listRepositories({ limit: 2 }), sorted.slice(0, 2));
        assert.deepEqual(await store.listRepositories({ limit: 2, last: 'alpha' }), ['alpha-b', 'alpha/a']);
        assert.deepEqual(await store.listRepositories({ limit: 10, last: 'zeta' }), []);
        assert.deepEqual(await store.listRepositories({ limit: 0 }), []);
      });

      it('deleteRepository removes everything of it and logs one repository-delete', async () => {
        const m1 = await pushImage(store, 'app', 'm1', 'latest');
        await store.putManifest(LOCAL, manifestInput('app', 'sig', { subject: m1, artifactType: 'application/sig', tag: 'sig' }));
        const kept = await pushImage(store, 'keep', 'm1', 'latest');
        const seqBefore = await store.lastChangeSeq();

        assert.equal(wrote(await store.deleteRepository(LOCAL, 'app')), true);
        assert.equal(wrote(await store.deleteRepository(LOCAL, 'app')), false);
        assert.equal(await store.repositoryExists('app'), false);
        assert.equal(await store.listTags('app', { limit: 10 }), null);
        assert.equal(await store.getManifest('app', m1), null);
        assert.equal(await store.getBlobLink('app', digestOf('m1-config')), null);
        assert.deepEqual(await store.listReferrers('app', m1), []);
        assert.deepEqual(await store.listRepositories({ limit: 10 }), ['keep']);
        assert.equal(await store.resolveTag('keep', 'latest'), kept);
        assert.deepEqual(await store.getBlobLink('keep', digestOf('m1-config')), { size: 10 });

        const after = await store.changesSince(seqBefore, 10);
        assert.equal(after.length, 1);
        assert.equal(after[0]?.kind, 'repository-delete');
        assert.equal(after[0]?.repository, 'app');
        assert.equal(after[0]?.digest, null);
        assert.equal(after[0]?.tag, null);
      });

      it('a deleted repository can be pushed again from scratch', async () => {
        await pushImage(store, 'app', 'm1', 'latest');
        await store.deleteRepository(LOCAL, 'app');
        assert.equal(await store.resolveTag('app', 'latest'), null);
        const digest = await pushImage(store, 'app', 'm1', 'latest');
        assert.equal(await store.resolveTag('app', 'latest'), digest);
      });
    });

    describe('deleteManifest', () => {
      it('removes the manifest and its tags with one manifest-delete change', async () => {
        const digest = await pushImage(store, 'app', 'm1', 'latest');
        await store.putManifest(LOCAL, manifestInput('app', 'm1', { tag: 'v1' }));
        const other = await pushImage(store, 'app', 'm2', 'stable');
        const seqBefore = await store.lastChangeSeq();

        assert.equal(wrote(await store.deleteManifest(LOCAL, 'app', digest)), true);
        assert.equal(wrote(await store.deleteManifest(LOCAL, 'app', digest)), false);
        assert.equal(wrote(await store.deleteManifest(LOCAL, 'nope', digest)), false);
        assert.equal(await store.getManifest('app', digest), null);
        assert.equal(await store.resolveTag('app', 'latest'), null);
        assert.equal(await store.resolveTag('app', 'v1'), null);
        assert.deepEqual(await store.listTags('app', { limit: 10 }), ['stable']);
        assert.equal(await store.resolveTag('app', 'stable'), other);
        assert.deepEqual(await store.getBlobLink('app', digestOf('m1-config')), { size: 10 }, 'blob links stay');

        const after = await store.changesSince(seqBefore, 10);
        assert.equal(after.length, 1);
        assert.deepEqual({ ...after[0], at: null, seq: 0 }, {
          seq: 0, repository: 'app', kind: 'manifest-delete', tag: null, digest, mediaType: null, at: null,
        });
      });

      it('a deleted manifest can be put again and logs a new manifest change', async () => {
        const digest = await pushImage(store, 'app', 'm1', 'latest');
        await store.deleteManifest(LOCAL, 'app', digest);
        await store.putManifest(LOCAL, manifestInput('app', 'm1', { blobs: [digestOf('m1-config')], tag: 'latest' }));
        assert.equal(await store.resolveTag('app', 'latest'), digest);
        assert.deepEqual(await kinds(store), ['manifest', 'tag', 'manifest-delete', 'manifest', 'tag']);
      });

      it('removes the repository when it was its last content', async () => {
        const digest = manifestInput('app', 'm1').digest;
        await store.putManifest(LOCAL, manifestInput('app', 'm1', { tag: 'latest' }));
        assert.equal(await store.repositoryExists('app'), true);
        assert.equal(wrote(await store.deleteManifest(LOCAL, 'app', digest)), true);
        assert.equal(await store.repositoryExists('app'), false);
        assert.deepEqual(await store.listRepositories({ limit: 10 }), []);
      });
    });

    describe('referrers', () => {
      it('lists manifests by subject, filtered by artifactType, within one repository', async () => {
        const subject = await pushImage(store, 'app', 'image', 'latest');
        const sig = manifestInput('app', 'sig', { subject, artifactType: 'application/vnd.example.sig', annotations: { k: 'v' } });
        const sbom = manifestInput('app', 'sbom', { subject, artifactType: 'application/spdx+json' });
        const unrelated = manifestInput('app', 'unrelated', { subject: digestOf('other'), artifactType: 'application/vnd.example.sig' });
        for (const m of [sig, sbom, unrelated]) await store.putManifest(LOCAL, m);
        await store.linkBlob(LOCAL, 'elsewhere', digestOf('x'), 1);
        await store.putManifest(LOCAL, manifestInput('elsewhere', 'sig2', { subject, artifactType: 'application/vnd.example.sig' }));

        const all = await store.listReferrers('app', subject);
        assert.deepEqual(all.map((r) => r.digest).sort(), [sig.digest, sbom.digest].sort());
        const sigs = await store.listReferrers('app', subject, 'application/vnd.example.sig');
        assert.equal(sigs.length, 1);
        assert.equal(sigs[0]?.digest, sig.digest);
        assert.equal(sigs[0]?.subject, subject);
        assert.equal(sigs[0]?.artifactType, 'application/vnd.example.sig');
        assert.deepEqual(sigs[0]?.annotations, { k: 'v' });
        assert.equal(sigs[0]?.size, sig.size);
        assert.deepEqual(await store.listReferrers('app', subject, 'application/none'), []);
        assert.deepEqual(await store.listReferrers('nope', subject), []);
      });

      it('accepts a referrer before its subject, and drops it when the referrer is deleted', async () => {
        const subject = digestOf('not-yet');
        const sig = manifestInput('app', 'sig', { subject, artifactType: 'application/sig' });
        await store.putManifest(LOCAL, sig);
        assert.equal((await store.listReferrers('app', subject)).length, 1);
        await store.deleteManifest(LOCAL, 'app', sig.digest);
        assert.deepEqual(await store.listReferrers('app', subject), []);
      });
    });

    describe('change log', () => {
      it('pages with after/limit in sequence order', async () => {
        await pushImage(store, 'a', 'm1', 't1');
        await pushImage(store, 'b', 'm2', 't2');
        await store.deleteTag(LOCAL, 'a', 't1');
        const all = await store.changesSince(0, 100);
        assert.equal(all.length, 5);
        assert.deepEqual(all.map((c) => c.kind), ['manifest', 'tag', 'manifest', 'tag', 'tag-delete']);
        for (let i = 1; i < all.length; i++) assert.ok((all[i]?.seq ?? 0) > (all[i - 1]?.seq ?? 0));

        const paged = [];
        let after = 0;
        for (;;) {
          const page = await store.changesSince(after, 2);
          if (page.length === 0) break;
          assert.ok(page.length <= 2);
          paged.push(...page);
          after = page.at(-1)?.seq ?? after;
        }
        assert.deepEqual(paged, all);
        assert.equal(await store.lastChangeSeq(), all.at(-1)?.seq);
        assert.deepEqual(await store.changesSince(await store.lastChangeSeq(), 10), []);
        assert.deepEqual(await store.changesSince(0, 0), []);
      });
    });

    describe('referencedBlobDigests', () => {
      it('holds manifests, the blobs they reference and linked blobs, and forgets deleted ones', async () => {
        const m1 = await pushImage(store, 'app', 'm1', 'latest');
        await store.linkBlob(LOCAL, 'app', digestOf('loose'), 5);
        // A blob a manifest still uses cannot even be unlinked.
        await assert.rejects(store.unlinkBlob(LOCAL, 'app', digestOf('m1-layer')));
        assert.deepEqual(await store.referencedBlobDigests(), new Set([
          m1, digestOf('m1-config'), digestOf('m1-layer'), digestOf('loose'),
        ]));

        await store.deleteManifest(LOCAL, 'app', m1);
        await store.unlinkBlob(LOCAL, 'app', digestOf('m1-layer'));
        assert.deepEqual(await store.referencedBlobDigests(), new Set([digestOf('m1-config'), digestOf('loose')]));
        await store.deleteRepository(LOCAL, 'app');
        assert.deepEqual(await store.referencedBlobDigests(), new Set());
      });
    });

    describe('garbage collection', () => {
      /** A store whose clock the test moves. */
      async function timed(): Promise<{ store: MetadataStore; clock: { now: number }; close(): Promise<void> }> {
        const clock = { now: Date.UTC(2030, 0, 1) };
        const opened = await open(() => clock.now);
        return { store: opened.store, clock, close: opened.cleanup };
      }
      const HOUR = 60 * 60 * 1000;

      it('lists the links no manifest of their repository uses, old enough, in (repository, digest) order, a page at a time', async () => {
        const t = await timed();
        try {
          const s = t.store;
          await pushImage(s, 'app', 'used');
          await s.linkBlob(LOCAL, 'app', digestOf('z-loose'), 3);
          await s.linkBlob(LOCAL, 'app', digestOf('a-loose'), 2);
          // Used by a manifest of app only: in other, nothing uses it.
          await s.linkBlob(LOCAL, 'other', digestOf('used-layer'), 20);
          const born = t.clock.now;
          t.clock.now += HOUR;
          await s.linkBlob(LOCAL, 'app', digestOf('young'), 1);

          assert.deepEqual(await s.unreferencedBlobLinks(new Date(born - 1), { limit: 10 }), [], 'nothing is that old');
          const all = await s.unreferencedBlobLinks(new Date(born), { limit: 10 });
          assert.deepEqual(all.map((l) => [l.repository, l.digest, l.size, l.refreshedAt.getTime()]), [
            ['app', digestOf('a-loose'), 2, born],
            ['app', digestOf('z-loose'), 3, born],
            ['other', digestOf('used-layer'), 20, born],
          ]);
          const first = await s.unreferencedBlobLinks(new Date(born), { limit: 2 });
          const rest = await s.unreferencedBlobLinks(new Date(born), { limit: 2, after: first.at(-1)! });
          assert.deepEqual([...first, ...rest], all, 'pages continue after the last link seen');
          assert.deepEqual((await s.unreferencedBlobLinks(new Date(t.clock.now), { limit: 10 })).map((l) => l.digest).at(-1), digestOf('used-layer'));
          assert.equal((await s.unreferencedBlobLinks(new Date(t.clock.now), { limit: 10 })).length, 4, 'the young one too at its own time');
        } finally {
          await t.close();
        }
      });

      it('sweepBlobLinks removes what is still unreferenced and old, with no change row, and the repositories left empty', async () => {
        const t = await timed();
        try {
          const s = t.store;
          await s.linkBlob(LOCAL, 'gone', digestOf('only'), 7);
          await s.linkBlob(LOCAL, 'app', digestOf('loose'), 5);
          await s.linkBlob(LOCAL, 'app', digestOf('relinked'), 6);
          await s.linkBlob(LOCAL, 'app', digestOf('soon-used'), 8);
          const cutoff = new Date(t.clock.now);
          const listed = await s.unreferencedBlobLinks(cutoff, { limit: 10 });
          assert.equal(listed.length, 4);
          const seqBefore = await s.lastChangeSeq();
          // Between the listing and the sweep: one link is used again, one gets a manifest.
          t.clock.now += HOUR;
          await s.linkBlob(LOCAL, 'app', digestOf('relinked'), 6);
          await s.putManifest(LOCAL, manifestInput('app', 'uses', { blobs: [digestOf('soon-used')] }));
          const removed = await s.sweepBlobLinks(listed, cutoff);
          assert.deepEqual(removed.map((l) => [l.repository, l.digest, l.size]).sort(), [['app', digestOf('loose'), 5], ['gone', digestOf('only'), 7]]);
          assert.equal(await s.getBlobLink('app', digestOf('loose')), null);
          assert.deepEqual(await s.getBlobLink('app', digestOf('relinked')), { size: 6 });
          assert.deepEqual(await s.getBlobLink('app', digestOf('soon-used')), { size: 8 });
          assert.equal(await s.repositoryExists('gone'), false, 'a repository with nothing left is gone');
          assert.equal(await s.repositoryExists('app'), true);
          const changes = await s.changesSince(seqBefore, 100);
          assert.deepEqual(changes.map((c) => c.kind), ['manifest'], 'the sweep appended nothing (only the test\'s own push)');
          assert.deepEqual(await s.sweepBlobLinks(listed, cutoff), [], 'a second sweep finds nothing');
        } finally {
          await t.close();
        }
      });

      it('touchBlobLink starts a link\'s grace over; a missing link is no error', async () => {
        const t = await timed();
        try {
          const s = t.store;
          await s.linkBlob(LOCAL, 'app', digestOf('b'), 1);
          const born = t.clock.now;
          t.clock.now += HOUR;
          await s.touchBlobLink('app', digestOf('b'));
          await s.touchBlobLink('app', digestOf('nothing'));
          await s.touchBlobLink('nowhere', digestOf('b'));
          assert.deepEqual(await s.unreferencedBlobLinks(new Date(born), { limit: 10 }), [], 'no longer old at the first cutoff');
          assert.deepEqual((await s.unreferencedBlobLinks(new Date(t.clock.now), { limit: 10 })).map((l) => l.refreshedAt.getTime()), [t.clock.now]);
        } finally {
          await t.close();
        }
      });

      it('the mark can leave out old links (a dry run), and the re-check names what anything references now', async () => {
        const t = await timed();
        try {
          const s = t.store;
          const m1 = await pushImage(s, 'app', 'm1');
          await s.linkBlob(LOCAL, 'app', digestOf('old-loose'), 1);
          const cutoff = new Date(t.clock.now);
          t.clock.now += HOUR;
          await s.linkBlob(LOCAL, 'app', digestOf('new-loose'), 1);
          assert.deepEqual(await s.referencedBlobDigests({ linksRefreshedAfter: cutoff }), new Set([
            m1, digestOf('m1-config'), digestOf('m1-layer'), digestOf('new-loose'),
          ]), 'old links count only through the manifests that use them');
          assert.deepEqual(await s.referencedDigestsAmong([m1, digestOf('m1-layer'), digestOf('old-loose'), digestOf('unknown')]),
            new Set([m1, digestOf('m1-layer'), digestOf('old-loose')]));
          assert.deepEqual(await s.referencedDigestsAmong([]), new Set());
        } finally {
          await t.close();
        }
      });
    });
  });
}
