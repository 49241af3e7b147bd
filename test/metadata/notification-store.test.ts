import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { SqliteMetadataStore } from '../../src/metadata/index.js';
import { runNotificationStoreSuite } from './notification-store-suite.js';

let root: string;
let counter = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'outpost-notifications-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

runNotificationStoreSuite('SQLite', async ({ clock, webhookLimit }) => {
  counter += 1;
  const metadata = await SqliteMetadataStore.open(join(root, `store-${counter}`, 'metadata.db'), { clock, ...(webhookLimit !== undefined ? { webhookLimit } : {}) });
  return { store: metadata.notifications, cleanup: () => metadata.close() };
});
