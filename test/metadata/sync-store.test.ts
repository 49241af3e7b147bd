import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, runMigrations, SqliteMetadataStore } from '../../src/metadata/index.js';
import { LOCAL, digestOf } from './store-suite.js';
import { runSyncStoreSuite } from './sync-store-suite.js';

let root: string;
let counter = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'outpost-sync-store-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

runSyncStoreSuite('SQLite file', async () => {
  counter += 1;
  const store = await SqliteMetadataStore.open(join(root, `store-${counter}`, 'metadata.db'));
  return { store, cleanup: () => store.close() };
});

runSyncStoreSuite('SQLite :memory:', async () => {
  const store = await SqliteMetadataStore.open(':memory:');
  return { store, cleanup: () => store.close() };
});

describe('SyncStore on SQLite (specifics)', () => {
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
      await store.linkBlob(LOCAL, 'app', digestOf('x'), 1);
      await store.unlinkBlob(LOCAL, 'app', digestOf('x'));
      assert.deepEqual((await store.changesSince(2, 10)).map((c) => [c.seq, c.kind]), [[4, 'blob-delete']]);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
