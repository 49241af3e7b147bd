import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS, runMigrations, SqliteMetadataStore } from '../../src/metadata/index.js';
import { runLifecycleStoreSuite } from './lifecycle-store-suite.js';

let root: string;
let counter = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'outpost-lifecycle-store-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

runLifecycleStoreSuite('SQLite file', async (clock) => {
  counter += 1;
  const store = await SqliteMetadataStore.open(join(root, `store-${counter}`, 'metadata.db'), { clock });
  return { store, settings: store.settings, cleanup: () => store.close() };
});

it('migration 7 starts the retention age of manifests already untagged at the upgrade, and leaves tagged ones unknown', () => {
  const db = new Database(':memory:');
  try {
    db.pragma('foreign_keys = ON');
    const before7 = MIGRATIONS.filter((m) => m.version < 7);
    runMigrations(db, before7);
    db.exec(`INSERT INTO repositories (id, name, created_at) VALUES (1, 'app', 0);
      INSERT INTO manifests (repository_id, digest, media_type, size, created_at) VALUES (1, 'sha256:aa', 'x', 1, 0), (1, 'sha256:bb', 'x', 1, 0);
      INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (1, 'v1', 'sha256:bb', 0);`);
    const started = Date.now();
    runMigrations(db, MIGRATIONS.filter((m) => m.version <= 7));
    const rows = db.prepare<[], { digest: string; untagged_at: number | null }>('SELECT digest, untagged_at FROM manifests ORDER BY digest').all();
    assert.equal(rows[1]!.untagged_at, null, 'the tagged manifest');
    assert.ok(rows[0]!.untagged_at !== null && rows[0]!.untagged_at >= started - 1000, 'the untagged one counts from the upgrade');
  } finally {
    db.close();
  }
});
