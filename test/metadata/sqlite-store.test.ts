import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS, runMigrations, SqliteMetadataStore } from '../../src/metadata/index.js';
import { isRegistryError } from '../../src/oci/errors.js';
import { LOCAL, digestOf, manifestInput, runMetadataSuite, wrote } from './store-suite.js';

let root: string;
let counter = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'outpost-metadata-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh database file path in the test folder; each test gets its own file. */
function freshPath(): string {
  counter += 1;
  return join(root, `store-${counter}`, 'metadata.db');
}

runMetadataSuite('SQLite file', async (clock) => {
  const path = freshPath();
  const store = await SqliteMetadataStore.open(path, clock ? { clock } : {});
  return {
    store,
    cleanup: async () => {
      await store.close();
    },
  };
});

runMetadataSuite('SQLite :memory:', async (clock) => {
  const store = await SqliteMetadataStore.open(':memory:', clock ? { clock } : {});
  return { store, cleanup: () => store.close() };
});

/** Row counts of every table, read through a second connection as an outsider would see them. */
function tableCounts(path: string): Record<string, number> {
  const db = new Database(path, { readonly: true });
  try {
    const counts: Record<string, number> = {};
    for (const table of ['repositories', 'repository_blobs', 'manifests', 'manifest_blobs', 'manifest_children', 'tags', 'changes']) {
      counts[table] = db.prepare<[], number>(`SELECT count(*) FROM ${table}`).pluck().get() ?? -1;
    }
    return counts;
  } finally {
    db.close();
  }
}

describe('SqliteMetadataStore (SQLite specifics)', () => {
  it('opens in WAL mode with foreign keys, at the newest schema version', async () => {
    const path = freshPath();
    const store = await SqliteMetadataStore.open(path);
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    } finally {
      db.close();
      await store.close();
    }
  });

  it('migrations are idempotent across reopen and data persists', async () => {
    const path = freshPath();
    let store = await SqliteMetadataStore.open(path);
    await store.linkBlob(LOCAL, 'app', digestOf('cfg'), 3);
    await store.putManifest(LOCAL, manifestInput('app', 'm1', { blobs: [digestOf('cfg')], annotations: { a: 'b' }, tag: 'latest' }));
    const seq = await store.lastChangeSeq();
    await store.close();
    await store.close(); // closing twice is harmless

    for (let i = 0; i < 2; i++) {
      store = await SqliteMetadataStore.open(path);
      assert.equal(await store.resolveTag('app', 'latest'), digestOf('m1'));
      assert.deepEqual((await store.getManifest('app', digestOf('m1')))?.annotations, { a: 'b' });
      assert.deepEqual(await store.getBlobLink('app', digestOf('cfg')), { size: 3 });
      assert.equal(await store.lastChangeSeq(), seq);
      await store.close();
    }
    const db = new Database(path);
    try {
      assert.equal(runMigrations(db), MIGRATIONS.length, 'running again applies nothing and keeps the version');
      assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    } finally {
      db.close();
    }
  });

  it('refuses a database from a newer schema version', async () => {
    const path = freshPath();
    const store = await SqliteMetadataStore.open(path);
    await store.close();
    const db = new Database(path);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    await assert.rejects(SqliteMetadataStore.open(path), /newer than this Outpost knows/);
  });

  it('rolls a failed migration back entirely', () => {
    const db = new Database(':memory:');
    try {
      const broken = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'broken', sql: 'CREATE TABLE extra (x); SELECT nonsense FROM nowhere;' }];
      assert.throws(() => runMigrations(db, broken));
      assert.equal(db.pragma('user_version', { simple: true }), 0);
      assert.equal(db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get(), 0, 'not even the first migration stays');
    } finally {
      db.close();
    }
  });

  it('a putManifest that fails halfway leaves no partial rows and no change row', async () => {
    const path = freshPath();
    const store = await SqliteMetadataStore.open(path);
    try {
      await store.linkBlob(LOCAL, 'keep', digestOf('b'), 1);
      const before = tableCounts(path);
      // A fractional size passes the reference check (new repository row written) and then fails
      // the STRICT INTEGER column of the manifest row: the repository row must roll back too.
      await assert.rejects(store.putManifest(LOCAL, manifestInput('fresh', 'm1', { size: 1.5, tag: 'latest' })));
      assert.deepEqual(tableCounts(path), before);
      assert.equal(await store.repositoryExists('fresh'), false);

      // A rejected reference check writes nothing either.
      await assert.rejects(store.putManifest(LOCAL, manifestInput('keep', 'm2', { blobs: [digestOf('b'), digestOf('gone')], tag: 'x' })),
        (err: unknown) => isRegistryError(err) && err.code === 'MANIFEST_BLOB_UNKNOWN');
      assert.deepEqual(tableCounts(path), before);
      assert.equal(await store.lastChangeSeq(), 0);
    } finally {
      await store.close();
    }
  });

  it('the change log has exactly one row per change, in order', async () => {
    const path = freshPath();
    const store = await SqliteMetadataStore.open(path);
    try {
      await store.linkBlob(LOCAL, 'a', digestOf('b'), 1); // not a change
      await store.putManifest(LOCAL, manifestInput('a', 'm1', { blobs: [digestOf('b')], tag: 't' })); // manifest, tag
      await store.putManifest(LOCAL, manifestInput('a', 'm1', { blobs: [digestOf('b')], tag: 't' })); // nothing
      await store.putManifest(LOCAL, manifestInput('a', 'm2', { tag: 't' })); // manifest, tag (moved)
      await store.deleteTag(LOCAL, 'a', 't'); // tag-delete
      await store.deleteManifest(LOCAL, 'a', digestOf('m1')); // manifest-delete
      await store.unlinkBlob(LOCAL, 'a', digestOf('b')); // blob-delete
      await store.deleteRepository(LOCAL, 'a'); // repository-delete
      const expected = ['manifest', 'tag', 'manifest', 'tag', 'tag-delete', 'manifest-delete', 'blob-delete', 'repository-delete'];
      assert.equal(tableCounts(path).changes, expected.length);
      const changes = await store.changesSince(0, 100);
      assert.deepEqual(changes.map((c) => c.kind), expected);
      assert.deepEqual(changes.map((c) => c.seq), expected.map((_, i) => i + 1));
    } finally {
      await store.close();
    }
  });

  it('lastChangeSeq never goes back when old change rows are pruned', async () => {
    const path = freshPath();
    const store = await SqliteMetadataStore.open(path);
    try {
      await store.putManifest(LOCAL, manifestInput('a', 'm1', { tag: 't' }));
      const db = new Database(path);
      db.prepare('DELETE FROM changes').run();
      db.close();
      assert.equal(await store.lastChangeSeq(), 2);
      await store.deleteTag(LOCAL, 'a', 't');
      assert.deepEqual((await store.changesSince(0, 10)).map((c) => c.seq), [3]);
    } finally {
      await store.close();
    }
  });

  it('pruneChanges drops a prefix only: times out of order leave no hole; rows from keepFrom, rows not notified yet and the newest stay', async () => {
    const day = 24 * 60 * 60 * 1000;
    let now = 10 * day;
    const store = await SqliteMetadataStore.open(':memory:', { clock: () => now });
    const seqs = async (): Promise<number[]> => (await store.changesSince(0, 100)).map((c) => c.seq);
    // As a running node does: its notification events are made from every row written so far.
    const notified = async (): Promise<void> => void await store.notifications.recordNotified([], await store.lastChangeSeq());
    try {
      await store.putManifest(LOCAL, manifestInput('a', 'm1', { tag: 't1' })); // rows 1, 2 at day 10
      now = 1 * day; // the clock stepped back
      await store.putManifest(LOCAL, manifestInput('a', 'm2', { tag: 't2' })); // rows 3, 4 at day 1
      now = 10 * day;
      await store.putManifest(LOCAL, manifestInput('a', 'm3', { tag: 't3' })); // rows 5, 6 at day 10
      await notified();
      assert.equal(await store.pruneChanges(new Date(5 * day)), 0, 'rows 3 and 4 are old, but row 1 before them is not');
      assert.deepEqual(await seqs(), [1, 2, 3, 4, 5, 6]);

      now = 20 * day;
      await store.putManifest(LOCAL, manifestInput('a', 'm4', { tag: 't4' })); // rows 7, 8
      await notified();
      assert.equal(await store.pruneChanges(new Date(15 * day)), 6);
      assert.deepEqual(await seqs(), [7, 8]);

      now = 30 * day;
      await store.putManifest(LOCAL, manifestInput('a', 'm5', { tag: 't5' })); // rows 9, 10
      await notified();
      assert.equal(await store.pruneChanges(new Date(40 * day), 8), 1, 'row 8 on stays, however old');
      assert.deepEqual(await seqs(), [8, 9, 10]);
      await notified();
      assert.equal(await store.pruneChanges(new Date(40 * day)), 2, 'all old, the newest stays');
      assert.deepEqual(await seqs(), [10]);
      assert.equal(await store.lastChangeSeq(), 10);

      // Rows whose notification events are not made yet stay, however old.
      await store.putManifest(LOCAL, manifestInput('a', 'm6', { tag: 't6' })); // rows 11, 12
      now = 400 * day;
      assert.equal(await store.pruneChanges(new Date(399 * day)), 1, 'row 10 was notified; 11 and 12 not yet');
      assert.deepEqual(await seqs(), [11, 12]);
      await notified();
      assert.equal(await store.pruneChanges(new Date(399 * day)), 1);
      assert.deepEqual(await seqs(), [12]);
    } finally {
      await store.close();
    }
  });

  it('deleteManifest and deleteRepository cascade to every dependent row', async () => {
    const path = freshPath();
    const store = await SqliteMetadataStore.open(path);
    try {
      await store.linkBlob(LOCAL, 'app', digestOf('cfg'), 1);
      await store.linkBlob(LOCAL, 'app', digestOf('layer'), 2);
      await store.putManifest(LOCAL, manifestInput('app', 'amd64', { blobs: [digestOf('cfg'), digestOf('layer')], tag: 'a' }));
      await store.putManifest(LOCAL, manifestInput('app', 'arm64', { blobs: [digestOf('cfg')], tag: 'b' }));
      await store.putManifest(LOCAL, manifestInput('app', 'index', { manifests: [digestOf('amd64'), digestOf('arm64')], tag: 'multi' }));
      await store.putManifest(LOCAL, manifestInput('app', 'sig', { subject: digestOf('index'), artifactType: 'application/sig' }));
      assert.deepEqual(
        { ...tableCounts(path), changes: 0 },
        { repositories: 1, repository_blobs: 2, manifests: 4, manifest_blobs: 3, manifest_children: 2, tags: 3, changes: 0 },
      );

      await store.deleteManifest(LOCAL, 'app', digestOf('index'));
      let counts = tableCounts(path);
      assert.equal(counts.manifests, 3);
      assert.equal(counts.manifest_children, 0, "the index's child references go with it");
      assert.equal(counts.tags, 2);

      await store.deleteManifest(LOCAL, 'app', digestOf('amd64'));
      counts = tableCounts(path);
      assert.equal(counts.manifest_blobs, 1, "amd64's blob references go with it");
      assert.equal(counts.tags, 1);

      await store.deleteRepository(LOCAL, 'app');
      assert.deepEqual(
        { ...tableCounts(path), changes: 0 },
        { repositories: 0, repository_blobs: 0, manifests: 0, manifest_blobs: 0, manifest_children: 0, tags: 0, changes: 0 },
      );
    } finally {
      await store.close();
    }
  });

  it('a second connection on the same file sees committed writes', async () => {
    const path = freshPath();
    const writer = await SqliteMetadataStore.open(path);
    const reader = await SqliteMetadataStore.open(path);
    try {
      await writer.putManifest(LOCAL, manifestInput('app', 'm1', { tag: 'latest' }));
      assert.equal(await reader.resolveTag('app', 'latest'), digestOf('m1'));
      assert.equal(await reader.lastChangeSeq(), 2);
      await reader.deleteTag(LOCAL, 'app', 'latest');
      assert.equal(await writer.resolveTag('app', 'latest'), null);
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  it('stores and pages through 10,000 tags', async () => {
    // One transaction per tag with an fsync each would only measure the disk; the memory
    // database exercises the same statements and indexes.
    const store = await SqliteMetadataStore.open(':memory:');
    try {
      const tags = Array.from({ length: 10_000 }, (_, i) => `v${i}`);
      for (const tag of tags) await store.putManifest(LOCAL, manifestInput('big', 'm1', { tag }));
      const expected = [...tags].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      const all = await store.listTags('big', { limit: 20_000 });
      assert.deepEqual(all, expected);

      const paged: string[] = [];
      let last: string | undefined;
      for (;;) {
        const page = await store.listTags('big', { limit: 1000, ...(last !== undefined ? { last } : {}) });
        assert.ok(page);
        if (page.length === 0) break;
        paged.push(...page);
        last = page.at(-1);
      }
      assert.deepEqual(paged, expected);
      assert.equal(await store.lastChangeSeq(), 10_001, 'one manifest change and one tag change per tag');
      assert.equal(await store.resolveTag('big', 'v9999'), digestOf('m1'));

      assert.equal(wrote(await store.deleteManifest(LOCAL, 'big', digestOf('m1'))), true);
      assert.equal(await store.listTags('big', { limit: 10 }), null);
      assert.equal(await store.lastChangeSeq(), 10_002);
    } finally {
      await store.close();
    }
  });
});
