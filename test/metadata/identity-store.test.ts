import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { SqliteMetadataStore } from '../../src/metadata/index.js';
import { runIdentityStoreSuite } from './identity-store-suite.js';

let root: string;
let counter = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'outpost-identity-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh database file in the test folder: the stores as a node opens them. */
function freshPath(): string {
  counter += 1;
  return join(root, `store-${counter}`, 'metadata.db');
}

runIdentityStoreSuite('SQLite', async (limits) => {
  const metadata = await SqliteMetadataStore.open(freshPath(), limits ? { identityLimits: limits } : {});
  return { store: metadata.identity, cleanup: () => metadata.close() };
});
