import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { SqliteMetadataStore } from '../../src/metadata/index.js';
import { runConnectedRegistryStoreSuite } from './connected-registry-store-suite.js';

let root: string;
let counter = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'outpost-connected-registries-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh database file in the test folder: the stores as a node opens them. */
function freshPath(): string {
  counter += 1;
  return join(root, `store-${counter}`, 'metadata.db');
}

runConnectedRegistryStoreSuite('SQLite', async (limit) => {
  const metadata = await SqliteMetadataStore.open(freshPath(), limit !== undefined ? { connectedRegistryLimit: limit } : {});
  return { store: metadata.connectedRegistries, identities: metadata.identity, cleanup: () => metadata.close() };
});
